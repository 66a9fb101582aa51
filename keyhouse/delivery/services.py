"""Email and SMS delivery with recorded state: queue after commit, render, send, record.

Every message has a Delivery row from the moment it is asked for, so nothing is lost
silently: a row is queued, sent or failed, with its attempts and the provider's last
answer. What a message says (it may hold a one-time code) is never stored; it travels
only in the task's arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from celery import Task
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import EmailMultiAlternatives, make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from kombu import serialization

from keyhouse.core.exceptions import ServiceUnavailable
from keyhouse.delivery.models import LAST_ERROR_MAX_LENGTH, Delivery
from keyhouse.delivery.sms.base import SmsError, sms_backend

logger = logging.getLogger(__name__)


def email_enqueue(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    user: AbstractBaseUser | None = None,
) -> Delivery:
    """Record an email to ``to`` and queue it once the surrounding transaction commits.

    A rolled-back transaction therefore sends nothing. ``template`` names the files
    ``delivery/<template>.subject.txt``, ``.txt`` and ``.html``; ``context`` must be
    JSON-serialisable, as it goes to the broker. A broker that is down is logged, not
    raised after the commit: the row stays queued.
    """
    from keyhouse.delivery.tasks import deliver_email  # the task module imports this one

    return _delivery_queue(
        channel=Delivery.Channel.EMAIL,
        to=to,
        template=template,
        user=user,
        task=deliver_email,
        context=context,
    )


def sms_enqueue(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    user: AbstractBaseUser | None = None,
) -> Delivery:
    """Record a text message to ``to`` (E.164) and queue it once the transaction commits.

    ``template`` names the file ``delivery/<template>.sms.txt``. As with email, a
    rolled-back transaction sends nothing, and neither a broker nor a provider that is
    down is raised to the caller: the task retries, and the row says what became of it.
    """
    from keyhouse.delivery.tasks import deliver_sms

    return _delivery_queue(
        channel=Delivery.Channel.SMS,
        to=to,
        template=template,
        user=user,
        task=deliver_sms,
        context=context,
    )


def sms_verification_enqueue(
    *, to: str, template: str, user: AbstractBaseUser | None = None
) -> Delivery:
    """Record and queue a Twilio Verify verification of ``to``, queued like a message.

    Twilio makes the code and writes the message; ``template`` only names in the record
    what was sent (the code's purpose). Once Twilio has taken it, the row's
    ``provider_message_id`` holds the verification's SID.
    """
    from keyhouse.delivery.tasks import deliver_sms_verification

    return _delivery_queue(
        channel=Delivery.Channel.SMS,
        to=to,
        template=template,
        user=user,
        task=deliver_sms_verification,
    )


def _delivery_queue(
    *,
    channel: Delivery.Channel,
    to: str,
    template: str,
    user: AbstractBaseUser | None,
    task: Task,
    context: dict[str, Any] | None = None,
) -> Delivery:
    """Record a delivery and have ``task`` send it once the surrounding transaction commits.

    ``task`` takes the delivery's id, and the ``context`` when there is one.
    """
    with transaction.atomic():
        delivery = Delivery.objects.create(
            channel=channel, recipient=to, template=template, user=user
        )
        delivery_id = str(delivery.id)

        # A named function, not a partial: a failure is logged with the callback's
        # name, and a partial's name would show the context.
        def queue() -> None:
            if context is None:
                _task_start(task, args=(delivery_id,))
                return
            _task_start(
                task,
                args=(delivery_id, context),
                # What workers log and monitoring shows, without the code in the context.
                argsrepr=repr((delivery_id, "<context>")),
            )

        transaction.on_commit(queue, robust=True)
    return delivery


def _task_start(task: Task, *, args: tuple[Any, ...], **options: Any) -> None:
    """Send ``task`` to the broker, or with none (the embedded mode) run it here.

    Celery's own eager ``apply_async`` takes a producer from the broker connection pool
    even though it sends nothing, which builds a connection to a default broker and
    logs "No hostname was supplied". The arguments still go through the task
    serializer, as they would to a broker, so a value a worker could not receive fails
    here too.
    """
    if not task.app.conf.task_always_eager:
        task.apply_async(args=args, **options)
        return
    content_type, encoding, data = serialization.dumps(args, task.serializer)
    task.apply(args=serialization.loads(data, content_type, encoding, accept=[content_type]))


def _email_render(*, to: str, template: str, context: dict[str, Any]) -> EmailMultiAlternatives:
    """Render ``template`` for ``to`` as a text message with an HTML alternative."""
    context = {
        "product_name": settings.KEYHOUSE_PRODUCT_NAME,
        "support_email": settings.KEYHOUSE_SUPPORT_EMAIL,
        **context,
    }
    subject = render_to_string(f"delivery/{template}.subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string(f"delivery/{template}.txt", context),
        to=[to],
        # Set here rather than at sending, so that the id can be recorded.
        headers={"Message-ID": make_msgid(domain=DNS_NAME.get_fqdn())},
    )
    message.attach_alternative(render_to_string(f"delivery/{template}.html", context), "text/html")
    return message


def email_send(*, delivery: Delivery, context: dict[str, Any]) -> Delivery:
    """Render and send a queued email, recording the attempt and its Message-ID."""

    def send() -> str:
        message = _email_render(to=delivery.recipient, template=delivery.template, context=context)
        message.send()
        return message.extra_headers["Message-ID"]

    return _delivery_attempt(delivery=delivery, send=send)


def _sms_render(*, template: str, context: dict[str, Any]) -> str:
    """Render ``delivery/<template>.sms.txt``, with the WebOTP line when a domain is set."""
    context = {
        "product_name": settings.KEYHOUSE_PRODUCT_NAME,
        "webotp_domain": settings.KEYHOUSE_SMS_WEBOTP_DOMAIN,
        **context,
    }
    return render_to_string(f"delivery/{template}.sms.txt", context).strip()


def sms_send(*, delivery: Delivery, context: dict[str, Any]) -> Delivery:
    """Render and send a queued text message through KEYHOUSE_SMS_BACKEND, recording it."""

    def send() -> str:
        body = _sms_render(template=delivery.template, context=context)
        return sms_backend().send(to=delivery.recipient, body=body).message_id

    return _delivery_attempt(delivery=delivery, send=send)


# The Twilio Verify functions below import the SDK on first use: it takes most of a
# second to import, which processes that never use Verify need not pay.


def sms_verification_send(*, delivery: Delivery) -> Delivery:
    """Start the queued Twilio Verify verification, recording the attempt and its SID."""
    from keyhouse.delivery.sms.twilio_verify import verification_start

    return _delivery_attempt(
        delivery=delivery, send=lambda: verification_start(to=delivery.recipient)
    )


def sms_verification_check(*, to: str, code: str) -> bool:
    """Ask Twilio Verify whether ``code`` is the one it sent to ``to``.

    Raises ServiceUnavailable (503) when Twilio cannot answer, so that an outage is
    not taken for a wrong code.
    """
    from keyhouse.delivery.sms.twilio_verify import verification_check

    try:
        return verification_check(to=to, code=code)
    except SmsError as exc:
        logger.warning("Twilio Verify could not check a code: %s", exc)
        raise ServiceUnavailable from exc


def _delivery_attempt(*, delivery: Delivery, send: Callable[[], str]) -> Delivery:
    """Run ``send`` for a queued delivery, recording the attempt and the provider's id.

    ``send`` returns the provider's id of what it sent. A failure is recorded in
    ``last_error`` and raised again for the caller (the task) to decide whether to
    retry. A delivery no longer queued is left alone, so a task that the broker hands
    out twice sends once.
    """
    if delivery.status != Delivery.Status.QUEUED:
        return delivery
    delivery.attempts += 1
    try:
        message_id = send()
    except Exception as exc:
        delivery.last_error = _error_summary(exc)
        delivery.save(update_fields=["attempts", "last_error", "updated_at"])
        raise
    delivery.status = Delivery.Status.SENT
    delivery.sent_at = timezone.now()
    delivery.provider_message_id = message_id
    delivery.save(
        update_fields=["attempts", "status", "sent_at", "provider_message_id", "updated_at"]
    )
    return delivery


def _error_summary(exc: BaseException) -> str:
    """Say what failed: a provider's code and message, or the exception's type and text."""
    summary = str(exc) if isinstance(exc, SmsError) else f"{type(exc).__name__}: {exc}"
    return summary[:LAST_ERROR_MAX_LENGTH]


def delivery_fail(*, delivery: Delivery) -> Delivery:
    """Mark a delivery failed for good; its ``last_error`` says why."""
    delivery.status = Delivery.Status.FAILED
    delivery.save(update_fields=["status", "updated_at"])
    return delivery


def delivery_purge_old(*, now: datetime | None = None) -> int:
    """Delete deliveries older than KEYHOUSE_DELIVERY_RETENTION_DAYS; return how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.KEYHOUSE_DELIVERY_RETENTION_DAYS)
    with transaction.atomic():
        deleted, _by_model = Delivery.objects.filter(created_at__lt=cutoff).delete()
    return deleted

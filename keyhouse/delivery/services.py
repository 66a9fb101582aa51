"""Email delivery with recorded state: queue after commit, render, send, record.

Every message has a Delivery row from the moment it is asked for, so nothing is lost
silently: a row is queued, sent or failed, with its attempts and the provider's last
answer. What a message says (it may hold a one-time code) is never stored; it travels
only in the task's arguments.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import EmailMultiAlternatives, make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from keyhouse.delivery.models import LAST_ERROR_MAX_LENGTH, Delivery


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

    with transaction.atomic():
        delivery = Delivery.objects.create(
            channel=Delivery.Channel.EMAIL, recipient=to, template=template, user=user
        )
        delivery_id = str(delivery.id)

        # A named function, not a partial: a failure is logged with the callback's
        # name, and a partial's name would show the context.
        def queue() -> None:
            deliver_email.apply_async(
                args=(delivery_id, context),
                # What workers log and monitoring shows, without the code in the context.
                argsrepr=repr((delivery_id, "<context>")),
            )

        transaction.on_commit(queue, robust=True)
    return delivery


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
    """Render and send a queued email, recording the attempt and its outcome.

    A failure is recorded in ``last_error`` and raised again for the caller (the task)
    to decide whether to retry. A delivery no longer queued is left alone, so a task
    that the broker hands out twice sends once.
    """
    if delivery.status != Delivery.Status.QUEUED:
        return delivery
    delivery.attempts += 1
    try:
        message = _email_render(to=delivery.recipient, template=delivery.template, context=context)
        message.send()
    except Exception as exc:
        delivery.last_error = _error_summary(exc)
        delivery.save(update_fields=["attempts", "last_error", "updated_at"])
        raise
    delivery.status = Delivery.Status.SENT
    delivery.sent_at = timezone.now()
    delivery.provider_message_id = message.extra_headers["Message-ID"]
    delivery.save(
        update_fields=["attempts", "status", "sent_at", "provider_message_id", "updated_at"]
    )
    return delivery


def _error_summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:LAST_ERROR_MAX_LENGTH]


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

"""Celery tasks: load the row, call the service, retry what may pass, record what will not."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from keyhouse.delivery.models import Delivery
from keyhouse.delivery.services import (
    delivery_fail,
    email_send,
    sms_send,
    sms_verification_send,
)
from keyhouse.delivery.sms.base import SmsError, SmsTransientError

logger = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """Say whether sending again later may succeed.

    SMS backends sort their provider's errors themselves (SmsTransientError). SMTP
    replies 4xx are temporary and 5xx permanent (RFC 5321 section 4.2.1); a refused
    recipient list is temporary only if every refusal is. A dropped or refused
    connection and a timeout are transient. Anything else, such as a missing template
    or an invalid address, will fail the same way again.
    """
    if isinstance(exc, SmsError):
        return isinstance(exc, SmsTransientError)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _reply in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    # Other SMTPExceptions are OSErrors too, but mean the server lacks what is needed.
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _deliver(task: Task, delivery_id: str, send: Callable[[Delivery], Delivery]) -> None:
    """Load the delivery and ``send`` it, retrying transient failures with exponential backoff.

    After KEYHOUSE_DELIVERY_MAX_RETRIES retries, or at once on a permanent failure,
    the delivery is recorded as failed. Nothing is raised then: the row holds the
    outcome, and an eager run (no broker) must not fail the request that queued it.
    """
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        logger.warning("Delivery %s no longer exists; nothing to send.", delivery_id)
        return
    try:
        send(delivery)
    except Exception as exc:
        max_retries = settings.KEYHOUSE_DELIVERY_MAX_RETRIES
        if is_transient(exc) and task.request.retries < max_retries:
            countdown = get_exponential_backoff_interval(
                factor=settings.KEYHOUSE_DELIVERY_RETRY_BACKOFF,
                retries=task.request.retries,
                maximum=settings.KEYHOUSE_DELIVERY_RETRY_BACKOFF_MAX,
            )
            raise task.retry(
                exc=exc,
                countdown=countdown,
                max_retries=max_retries,
                # Keep the code out of what workers log about the retry, as when queued.
                argsrepr=getattr(task.request, "argsrepr", None),
            ) from exc
        delivery_fail(delivery=delivery)
        logger.warning(
            "Delivery %s failed after %d attempts: %s",
            delivery.id,
            delivery.attempts,
            delivery.last_error,
        )


@shared_task(bind=True, ignore_result=True)
def deliver_email(self: Task, delivery_id: str, context: dict[str, Any]) -> None:
    """Send one queued email; see ``_deliver`` for retries."""
    _deliver(self, delivery_id, lambda delivery: email_send(delivery=delivery, context=context))


@shared_task(bind=True, ignore_result=True)
def deliver_sms(self: Task, delivery_id: str, context: dict[str, Any]) -> None:
    """Send one queued text message through KEYHOUSE_SMS_BACKEND; see ``_deliver``."""
    _deliver(self, delivery_id, lambda delivery: sms_send(delivery=delivery, context=context))


@shared_task(bind=True, ignore_result=True)
def deliver_sms_verification(self: Task, delivery_id: str) -> None:
    """Start one queued Twilio Verify verification; see ``_deliver``."""
    _deliver(self, delivery_id, lambda delivery: sms_verification_send(delivery=delivery))

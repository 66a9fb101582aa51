"""Celery tasks: load the row, call the service, retry what may pass, record what will not."""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from keyhouse.delivery.models import Delivery
from keyhouse.delivery.services import delivery_fail, email_send

logger = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """Say whether sending again later may succeed.

    SMTP replies 4xx are temporary and 5xx permanent (RFC 5321 section 4.2.1); a
    refused recipient list is temporary only if every refusal is. A dropped or
    refused connection and a timeout are transient. Anything else, such as a missing
    template or an invalid address, will fail the same way again.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _reply in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    # Other SMTPExceptions are OSErrors too, but mean the server lacks what is needed.
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


@shared_task(bind=True, ignore_result=True)
def deliver_email(self: Task, delivery_id: str, context: dict[str, Any]) -> None:
    """Send one queued email, retrying transient failures with exponential backoff.

    After KEYHOUSE_DELIVERY_MAX_RETRIES retries, or at once on a permanent failure,
    the delivery is recorded as failed. Nothing is raised then: the row holds the
    outcome, and an eager run (no broker) must not fail the request that queued it.
    """
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        logger.warning("Delivery %s no longer exists; nothing to send.", delivery_id)
        return
    try:
        email_send(delivery=delivery, context=context)
    except Exception as exc:
        max_retries = settings.KEYHOUSE_DELIVERY_MAX_RETRIES
        if is_transient(exc) and self.request.retries < max_retries:
            countdown = get_exponential_backoff_interval(
                factor=settings.KEYHOUSE_DELIVERY_RETRY_BACKOFF,
                retries=self.request.retries,
                maximum=settings.KEYHOUSE_DELIVERY_RETRY_BACKOFF_MAX,
            )
            raise self.retry(exc=exc, countdown=countdown, max_retries=max_retries) from exc
        delivery_fail(delivery=delivery)
        logger.warning(
            "Delivery %s failed after %d attempts: %s",
            delivery.id,
            delivery.attempts,
            delivery.last_error,
        )

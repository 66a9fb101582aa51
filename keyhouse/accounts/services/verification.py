"""Send codes by email or SMS and check them, the steps every code-based journey shares."""

from __future__ import annotations

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import OneTimeCode, Purpose
from keyhouse.codes.services import CODE_CHECK_ERRORS, CodeInvalid, code_issue, code_verify
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import CODE_CHECKS, CODES_SENT
from keyhouse.delivery.services import email_enqueue, sms_enqueue
from keyhouse.users.models import User


def code_send(
    *,
    purpose: Purpose,
    to: str,
    channel: str,
    client: ClientInfo,
    user: User | None = None,
    template: str | None = None,
) -> None:
    """Issue a code for ``purpose`` and send it to ``to`` by "email" or "sms".

    ``template`` defaults to the purpose's name. With Twilio Verify making the SMS
    codes, ``code_issue`` has already asked Twilio to send one, and nothing is queued.
    """
    issued = code_issue(purpose=purpose, target=to, user=user, ip=client.ip)
    if issued.code is not None:
        enqueue = email_enqueue if channel == "email" else sms_enqueue
        enqueue(
            to=to,
            template=template or purpose,
            context={"code": issued.code, "expires_minutes": issued.expires_minutes},
            user=user,
        )
    CODES_SENT.labels(purpose=purpose, channel=channel).inc()
    audit_record(
        type=AuditEvent.Type.CODE_SENT,
        user_id=user.pk if user else None,
        client=client,
        detail={"purpose": purpose, "channel": channel},
    )


def code_check(
    *,
    purpose: Purpose,
    target: str,
    code: str,
    client: ClientInfo,
    user_id: object = None,
    anonymous: bool,
) -> OneTimeCode:
    """Check a code, recording a failure in the audit trail.

    For an ``anonymous`` caller every failure becomes the same ``code_invalid``, with
    no count of tries: a different answer for an expired code, or a count, would tell
    anyone that a code is pending for the target, and so that an account exists. A
    signed-in user checking a code for their own change gets the precise error.
    """
    try:
        record = code_verify(purpose=purpose, target=target, code=code)
    except CODE_CHECK_ERRORS as exc:
        CODE_CHECKS.labels(purpose=purpose, outcome=exc.code).inc()
        audit_record(
            type=AuditEvent.Type.CODE_CHECK_FAILED,
            user_id=user_id,
            client=client,
            detail={"purpose": purpose, "reason": exc.code},
        )
        if anonymous:
            raise CodeInvalid from exc
        raise
    CODE_CHECKS.labels(purpose=purpose, outcome="valid").inc()
    audit_record(
        type=AuditEvent.Type.CODE_CHECKED,
        user_id=record.user_id,
        client=client,
        detail={"purpose": purpose},
    )
    return record

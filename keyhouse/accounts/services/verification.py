"""Send codes by email and check them, the steps every code-based journey shares."""

from __future__ import annotations

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import OneTimeCode, Purpose
from keyhouse.codes.services import CodeExhausted, CodeExpired, CodeInvalid, code_issue, code_verify
from keyhouse.core.http import ClientInfo
from keyhouse.core.metrics import CODE_CHECKS, CODES_SENT
from keyhouse.delivery.services import email_enqueue
from keyhouse.users.models import User


def code_send_by_email(
    *, user: User, purpose: Purpose, template: str, client: ClientInfo, to: str | None = None
) -> None:
    """Issue a code for ``purpose`` and mail it to ``to`` (the user's address by default)."""
    to = to or user.email
    issued = code_issue(purpose=purpose, target=to, user=user, ip=client.ip)
    email_enqueue(
        to=to,
        template=template,
        context={"code": issued.code, "expires_minutes": issued.expires_minutes},
        user=user,
    )
    CODES_SENT.labels(purpose=purpose, channel="email").inc()
    audit_record(
        type=AuditEvent.Type.CODE_SENT,
        user_id=user.pk,
        client=client,
        detail={"purpose": purpose, "channel": "email"},
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
    except (CodeInvalid, CodeExpired, CodeExhausted) as exc:
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

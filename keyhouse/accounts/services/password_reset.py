"""Forgotten passwords: a code by email, then a new password that ends every session."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from keyhouse.accounts.services.signin import password_failures_clear
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.services import CodeInvalid, code_check, code_limits_hit, code_send
from keyhouse.core.http import ClientInfo
from keyhouse.delivery.services import email_enqueue
from keyhouse.tokens.services import session_revoke_all
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_by_email
from keyhouse.users.services import user_password_validate


@transaction.atomic
def password_forgot(*, email: str, client: ClientInfo) -> None:
    """Mail a reset code to an active account; count the request for any address.

    The caller answers the same either way, so whether the address is registered
    stays unknown to whoever asks.
    """
    user = user_get_by_email(email=email)
    if user is not None and user.is_active:
        code_send(purpose=Purpose.PASSWORD_RESET, target=user.email, client=client, user=user)
    else:
        code_limits_hit(purpose=Purpose.PASSWORD_RESET, target=email, ip=client.ip)


def password_reset(*, email: str, code: str, new_password: str, client: ClientInfo) -> User:
    """Set a new password with a reset code, sign out every session and notify the user.

    The failed sign-ins counted against the account are forgotten, so the owner can
    sign in with the new password at once even while the account was throttled.

    The password is checked against the policy before the code, so a refused password
    leaves the code usable for a second try. Receiving the code proves the address,
    so an unverified address (one an admin gave the account) becomes verified.
    """
    # Judged against the address only, registered or not: checking it against the
    # account's own details would answer differently for a registered address.
    user_password_validate(user=User(email=email), password=new_password, field="new_password")
    record = code_check(
        purpose=Purpose.PASSWORD_RESET, target=email, code=code, client=client, anonymous=True
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=record.user_id)
        if not user.is_active:
            raise CodeInvalid
        user.set_password(new_password)
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
        user.save(update_fields=["password", "email_verified_at"])
        session_revoke_all(user_id=user.pk, reason="password_reset", client=client)
        email_enqueue(to=user.email, template="password_changed", context={}, user=user)
        audit_record(type=AuditEvent.Type.PASSWORD_RESET, user_id=user.pk, client=client)
    # The mailbox is proved: whatever failed sign-ins came before, from any address,
    # no longer stand between the owner and the new password.
    password_failures_clear(account=user.email)
    return user

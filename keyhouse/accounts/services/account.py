"""Managing one's own account: password, email, profile, deletion; and admin deactivation."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keyhouse.accounts.services.reauthentication import password_confirm
from keyhouse.accounts.services.signin import password_failures_clear
from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.codes.models import Purpose
from keyhouse.codes.selectors import code_live_target
from keyhouse.codes.services import CodeInvalid, code_check, code_invalidate_for_target, code_send
from keyhouse.core.exceptions import VALIDATION_ERROR, KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.delivery.models import Delivery
from keyhouse.delivery.services import email_enqueue
from keyhouse.mfa.services.assurance import reauthentication_require
from keyhouse.tokens.services import session_authenticated, session_revoke_all
from keyhouse.users.emails import email_canonical
from keyhouse.users.models import User
from keyhouse.users.services import EmailTaken, user_password_validate, user_profile_update


class EmailUnchanged(KeyhouseError):
    code = "email_unchanged"
    message = _("This is already the account's email address.")


class CurrentPasswordRequired(KeyhouseError):
    code = VALIDATION_ERROR
    message = _("The request has invalid fields.")


def password_change(
    *,
    user: User,
    session_id: uuid.UUID,
    new_password: str,
    client: ClientInfo,
    current_password: str | None = None,
    recent_authentication_suffices: bool = False,
) -> None:
    """Change the password; every other session ends, this one stays.

    The current password is the proof of identity; an account without one (made by
    phone) needs a recent re-authentication instead. An account with a second factor
    needs an aal2 session either way.

    ``recent_authentication_suffices`` lets a recent authentication in the session stand
    for the current password of an account that has one, when ``current_password`` is
    not given. Only the GoTrue API sets it: auth-js changes the password after a
    recovery sign-in with ``updateUser({password})`` alone (docs/supabase.md).
    """
    if user.has_usable_password() and current_password is not None:
        reauthentication_require(session_id=session_id, proven_now=True)
        password_confirm(
            user=user, password=current_password, client=client, field="current_password"
        )
    elif user.has_usable_password() and not recent_authentication_suffices:
        raise CurrentPasswordRequired(fields={"current_password": [_("This field is required.")]})
    else:
        reauthentication_require(session_id=session_id)
    user_password_validate(user=user, password=new_password, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        session_revoke_all(
            user_id=user.pk, reason="password_changed", client=client, keep_session_id=session_id
        )
        session_authenticated(session_id=session_id)
        if user.email:
            email_enqueue(to=user.email, template="password_changed", context={}, user=user)
        audit_record(type=AuditEvent.Type.PASSWORD_CHANGED, user_id=user.pk, client=client)


@transaction.atomic
def password_set_by_admin(*, user: User, client: ClientInfo, by: uuid.UUID) -> None:
    """Follow a password that an admin has just set (or disabled) as a reset is followed.

    Django's admin password form saves the password itself; this runs in the same
    transaction: every session started with the old password ends, the user is told,
    the change is recorded with the admin as actor, and failed sign-ins are forgotten
    so that the new password works at once.
    """
    session_revoke_all(user_id=user.pk, reason="password_set_by_admin", client=client, by=by)
    if user.email:
        email_enqueue(to=user.email, template="password_changed", context={}, user=user)
        password_failures_clear(account=user.email)
    audit_record(
        type=AuditEvent.Type.PASSWORD_CHANGED,
        user_id=user.pk,
        client=client,
        by=by,
    )


@transaction.atomic
def email_change_request(
    *, user: User, session_id: uuid.UUID, new_email: str, client: ClientInfo
) -> None:
    """Send a code to the new address; the change happens when the code comes back.

    Whether the new address belongs to another account is not told here (the code is
    sent all the same); the confirmation, which only the address's owner can make,
    answers 409 if it does.
    """
    reauthentication_require(session_id=session_id)
    if new_email == email_canonical(user.email):
        raise EmailUnchanged(fields={"email": [EmailUnchanged.message]})
    code_send(purpose=Purpose.CHANGE_EMAIL, target=new_email, client=client, user=user)


def email_change_confirm(*, user: User, code: str, client: ClientInfo) -> User:
    """Switch the account to the address the code was sent to, verified; notify the old one.

    The database's case-insensitive unique constraint decides a race with a sign-up's
    verification or another change to the same address: the loser gets 409
    ``email_taken``.
    """
    target = code_live_target(purpose=Purpose.CHANGE_EMAIL, user_id=user.pk)
    if target is None:
        raise CodeInvalid
    code_check(
        purpose=Purpose.CHANGE_EMAIL,
        target=target,
        code=code,
        client=client,
        user_id=user.pk,
        anonymous=False,
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        old_email = user.email
        user.email = target
        user.email_verified_at = timezone.now()
        try:
            with transaction.atomic():
                user.save(update_fields=["email", "email_verified_at"])
        except IntegrityError as exc:
            raise EmailTaken from exc
        if old_email:
            # Codes already sent to the old address must not act on the account any more.
            code_invalidate_for_target(user_id=user.pk, target=old_email)
            email_enqueue(
                to=old_email, template="email_changed", context={"new_email": target}, user=user
            )
        audit_record(type=AuditEvent.Type.EMAIL_CHANGED, user_id=user.pk, client=client)
    return user


def profile_update(*, user: User, client: ClientInfo, display_name: str | None = None) -> User:
    """Change the profile fields given (a partial update); none given changes nothing."""
    if display_name is None:
        return user
    user = user_profile_update(user=user, display_name=display_name)
    audit_record(type=AuditEvent.Type.PROFILE_UPDATED, user_id=user.pk, client=client)
    return user


@transaction.atomic
def account_delete(*, user: User, session_id: uuid.UUID, client: ClientInfo) -> None:
    """Delete the account with its sessions, codes and delivery records.

    The audit trail keeps its events, but no longer tied to the person: their user
    link is cleared by the deletion and their addresses and user agents are erased.
    Access tokens of the account are refused at once through the revocation list.
    """
    reauthentication_require(session_id=session_id)
    user_id = user.pk
    session_revoke_all(user_id=user_id, reason="account_deleted", client=client)
    Delivery.objects.filter(user_id=user_id).delete()
    events = AuditEvent.objects.filter(user_id=user_id)
    if user.email:
        # Sign-ins refused before the account was known (throttled) name it by address only.
        named = AuditEvent.objects.filter(user_id=None, detail__email=email_canonical(user.email))
        events = events | named
    events.update(ip=None, user_agent="", detail={})
    User.objects.filter(pk=user_id).delete()
    audit_record(type=AuditEvent.Type.ACCOUNT_DELETED, detail={"user": str(user_id)})


@transaction.atomic
def user_set_active(
    *, user: User, active: bool, client: ClientInfo | None = None, by: uuid.UUID | None = None
) -> User:
    """Deactivate (signed out everywhere at once) or reactivate a user, from the admin.

    ``by`` is the acting admin, recorded in the audit events.
    """
    if user.is_active == active:
        return user
    User.objects.filter(pk=user.pk).update(is_active=active)
    user.is_active = active
    if not active:
        session_revoke_all(user_id=user.pk, reason="deactivated", client=client, by=by)
    audit_record(
        type=AuditEvent.Type.USER_REACTIVATED if active else AuditEvent.Type.USER_DEACTIVATED,
        user_id=user.pk,
        client=client,
        by=by,
    )
    return user

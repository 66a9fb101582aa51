"""KEYHOUSE_MFA_POLICY on the API: an account it covers enrols a factor before anything else."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from keyhouse.core.exceptions import KeyhouseError
from keyhouse.mfa.services.assurance import mfa_policy_covers
from keyhouse.tokens.models import LoginSession


class MfaEnrollmentRequired(KeyhouseError):
    code = "mfa_enrollment_required"
    status = HTTPStatus.FORBIDDEN
    message = _(
        "This account must have a second factor: enrol an authenticator app first "
        "(POST /api/v1/me/mfa/totp)."
    )


class MfaPolicySatisfied(BasePermission):
    """Refuse an aal1 session of an account the policy covers, but on the views that let it
    enrol (those with ``mfa_enrolment_allowed``): its tokens are good for enrolling only.

    Costs nothing under the default "optional" policy or with an aal2 token; otherwise
    the user and the session are read, since a session rises to aal2 before its
    access token says so.
    """

    def problems_for(self, view: Any) -> tuple[type[KeyhouseError], ...]:
        """What this permission may refuse ``view`` with, for its OpenAPI description."""
        return () if getattr(view, "mfa_enrolment_allowed", False) else (MfaEnrollmentRequired,)

    def has_permission(self, request: Request, view: Any) -> bool:
        if not getattr(view, "mfa_enrolment_allowed", False):
            mfa_policy_require(request)
        return True


def mfa_policy_require(request: Request) -> None:
    """Refuse an aal1 session of an account KEYHOUSE_MFA_POLICY covers (MfaEnrollmentRequired).

    ``MfaPolicySatisfied`` applies it to whole views; a view open to enrolment calls it
    for the requests that change what enrolment does not need (GoTrue's ``PUT /user``).
    """
    if settings.KEYHOUSE_MFA_POLICY == "optional":
        return
    user = request.user
    if user is None or not user.is_authenticated:
        return
    claims = request.auth or {}
    if claims.get("aal") == LoginSession.Level.AAL2 or not mfa_policy_covers(user=user.user):
        return
    if LoginSession.objects.filter(pk=user.session_id, aal=LoginSession.Level.AAL2).exists():
        return
    raise MfaEnrollmentRequired

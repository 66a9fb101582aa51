"""What a GoTrue user object reads beside the user row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, Subquery

from keyhouse.gotrue.models import UserMetadata
from keyhouse.identities.models import Identity
from keyhouse.identities.services import identity_list
from keyhouse.mfa.models import TotpFactor
from keyhouse.mfa.selectors import factor_list
from keyhouse.users.models import User


@dataclass(frozen=True)
class UserExtras:
    metadata: dict
    identities: list[Identity]
    factors: list[TotpFactor]


def user_extras_get(*, user_id: uuid.UUID, now: datetime) -> UserExtras:
    """The user's metadata, provider identities and factors (see ``factor_list``).

    One query answers the metadata and whether there are identities and factors; a list
    costs a query only when there is something in it, so most accounts cost one.
    """
    identities, factors = identity_list(user_id=user_id), factor_list(user_id=user_id, now=now)
    found = (
        User.objects.filter(pk=user_id)
        .values_list(
            Subquery(UserMetadata.objects.filter(user_id=user_id).values("data")),
            Exists(identities),
            Exists(factors),
        )
        .first()
    )
    metadata, has_identities, has_factors = found or (None, False, False)
    return UserExtras(
        metadata=metadata or {},
        identities=list(identities) if has_identities else [],
        factors=list(factors) if has_factors else [],
    )

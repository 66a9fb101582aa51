"""What a GoTrue user object reads beside the user row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Model

from keyhouse.gotrue.models import UserMetadata
from keyhouse.identities.models import Identity
from keyhouse.identities.selectors import identity_list
from keyhouse.mfa.models import TotpFactor
from keyhouse.mfa.selectors import factor_list


@dataclass(frozen=True)
class UserExtras:
    metadata: dict
    identities: list[Identity]
    factors: list[TotpFactor]


def _rows_of_user(model: type[Model]) -> str:
    """SQL for the rows of ``model`` whose user is the query's parameter."""
    quote = connection.ops.quote_name
    column = model._meta.get_field("user").column
    return f"FROM {quote(model._meta.db_table)} WHERE {quote(column)} = %s"


def user_extras_get(*, user_id: uuid.UUID, now: datetime) -> UserExtras:
    """The user's metadata, provider identities and factors (see ``factor_list``).

    Every session and user answer of the GoTrue API reads them, and most accounts have
    no identity and no factor: one query reads the metadata and whether the account has
    any identity or factor row, and a list is read only then. The query is SQL written
    out, as the ORM would spend more building it than the whole rest of a refresh does.
    """
    data = UserMetadata._meta.get_field("data")
    user = UserMetadata._meta.get_field("user").get_db_prep_value(user_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT {connection.ops.quote_name(data.column)} "
            f"{_rows_of_user(UserMetadata)}), "
            f"EXISTS (SELECT 1 {_rows_of_user(Identity)}), "
            f"EXISTS (SELECT 1 {_rows_of_user(TotpFactor)})",
            [user, user, user],
        )
        metadata, any_identity, any_factor = cursor.fetchone()
    return UserExtras(
        metadata=data.from_db_value(metadata, None, connection) or {},
        identities=list(identity_list(user_id=user_id)) if any_identity else [],
        factors=list(factor_list(user_id=user_id, now=now)) if any_factor else [],
    )

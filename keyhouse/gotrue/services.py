"""The one thing the GoTrue-shaped API stores of its own: the user's metadata."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.core.exceptions import VALIDATION_ERROR, KeyhouseError
from keyhouse.core.http import ClientInfo
from keyhouse.gotrue.models import UserMetadata
from keyhouse.users.models import User

METADATA_MAX_BYTES = 16 * 1024


class MetadataTooLarge(KeyhouseError):
    code = VALIDATION_ERROR
    message = _("user_metadata may hold at most 16 KiB of JSON.")


@transaction.atomic
def user_metadata_update(*, user: User, data: dict[str, Any], client: ClientInfo) -> dict:
    """Merge ``data`` into the user's metadata, as GoTrue does: a key set to null goes.

    The row is locked, so two concurrent updates both land.
    """
    record, _created = UserMetadata.objects.select_for_update().get_or_create(user=user)
    merged = {**record.data, **data}
    merged = {key: value for key, value in merged.items() if value is not None}
    if len(json.dumps(merged).encode()) > METADATA_MAX_BYTES:
        raise MetadataTooLarge(fields={"data": [MetadataTooLarge.message]})
    record.data = merged
    record.save(update_fields=["data", "updated_at"])
    audit_record(
        type=AuditEvent.Type.PROFILE_UPDATED,
        user_id=user.pk,
        client=client,
        detail={"user_metadata": sorted(data)},
    )
    return merged

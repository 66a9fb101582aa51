from __future__ import annotations

import uuid

from django.db.models import QuerySet

from keyhouse.identities.models import Identity


def identity_list(*, user_id: uuid.UUID) -> QuerySet[Identity]:
    """The provider identities linked to the user's account."""
    return Identity.objects.filter(user_id=user_id)

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keyhouse.testing import at_once
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_active
from keyhouse.users.services import user_create

pytestmark = pytest.mark.django_db

FIELDS = [field.attname for field in User._meta.concrete_fields]


@pytest.fixture
def stored(user) -> User:
    """A user with every kind of column set: a phone number and timestamps."""
    User.objects.filter(pk=user.pk).update(
        phone="+447700900123", phone_verified_at=timezone.now(), last_login=timezone.now()
    )
    return User.objects.get(pk=user.pk)


def test_the_active_user_is_read_as_the_orm_reads_it_in_one_query(stored):
    with CaptureQueriesContext(connection) as queries:
        found = user_get_active(user_id=stored.pk)
    assert len(queries) == 1
    assert [getattr(found, name) for name in FIELDS] == [getattr(stored, name) for name in FIELDS]
    assert found.phone.as_e164 == "+447700900123"
    assert found.date_joined.tzinfo is not None


def test_the_user_read_saves_as_an_update(stored):
    found = user_get_active(user_id=stored.pk)
    found.display_name = "Countess"
    found.save(update_fields=["display_name"])
    assert User.objects.get().display_name == "Countess"


def test_a_deactivated_or_unknown_user_is_not_found(user):
    inactive = user_create(email="gone@example.com", is_active=False)
    assert user_get_active(user_id=inactive.pk) is None
    assert user_get_active(user_id=uuid.uuid4()) is None


@pytest.mark.django_db(transaction=True)
def test_each_thread_reads_the_user_on_its_own_connection(user):
    assert at_once(4, lambda: user_get_active(user_id=user.pk)) == [user] * 4
    assert user_get_active(user_id=user.pk) == user

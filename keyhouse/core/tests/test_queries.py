"""A lookup compiled once reads what the ORM reads, related rows and lock included."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from keyhouse.conftest import CLIENT
from keyhouse.core.queries import CompiledLookup
from keyhouse.tokens.models import RefreshToken
from keyhouse.tokens.services import session_start

pytestmark = pytest.mark.django_db

by_hash = CompiledLookup(RefreshToken, field="token_hash", sample="", related="session__user")
locked = CompiledLookup(RefreshToken, field="token_hash", sample="", lock=True)


def fields(instance) -> list:
    return [getattr(instance, field.attname) for field in instance._meta.concrete_fields]


@pytest.fixture
def token(verified_user) -> RefreshToken:
    session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    return RefreshToken.objects.select_related("session__user").get()


def test_a_chain_of_related_rows_is_read_in_one_query_as_the_orm_reads_it(token):
    with CaptureQueriesContext(connection) as queries:
        found = by_hash.get(token.token_hash)
        session, user = found.session, found.session.user
    assert len(queries) == 1
    assert fields(found) == fields(token)
    assert fields(session) == fields(token.session)
    assert fields(user) == fields(token.session.user)


def test_an_unknown_value_finds_nothing(token):
    assert by_hash.get("no such hash") is None


@pytest.mark.django_db(transaction=True)
def test_a_locking_lookup_runs_only_in_a_transaction(token):
    with transaction.atomic():
        assert locked.get(token.token_hash) == token
    with pytest.raises(TransactionManagementError):
        locked.get(token.token_hash)

"""The sign-in service under concurrency, and what a known identity's sign-in costs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keyhouse.conftest import CLIENT
from keyhouse.identities.clients import Profile
from keyhouse.identities.models import Identity
from keyhouse.identities.services import identity_sign_in
from keyhouse.testing import at_once, data_queries
from keyhouse.tokens.services import TokenPair
from keyhouse.users.models import User

PROFILE = Profile(
    provider="local", subject="s-42", email="race@example.com", email_verified=True, name="R"
)


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_sign_ins_of_one_identity_make_one_account():
    results = at_once(4, lambda: identity_sign_in(profile=PROFILE, client=CLIENT))

    assert all(isinstance(result, TokenPair) for result in results), results
    assert User.objects.count() == 1
    assert Identity.objects.count() == 1
    assert {result.user.pk for result in results} == {User.objects.get().pk}


@pytest.mark.django_db
def test_a_known_identity_signs_in_with_a_fixed_number_of_queries():
    identity_sign_in(profile=PROFILE, client=CLIENT)
    with CaptureQueriesContext(connection) as captured:
        identity_sign_in(profile=PROFILE, client=CLIENT)
    # The identity with its user (locked), its update, the factor check, the session,
    # its refresh token, last_login, the audit event.
    assert len(data_queries(captured)) == 7, data_queries(captured)

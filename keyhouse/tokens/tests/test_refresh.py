from __future__ import annotations

import time
from http import HTTPStatus

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from keyhouse.audit.models import AuditEvent
from keyhouse.conftest import CLIENT
from keyhouse.core.crypto import keyed_hash
from keyhouse.testing import at_once
from keyhouse.tokens import keys
from keyhouse.tokens.models import LoginSession, RefreshToken, SigningKey
from keyhouse.tokens.services import (
    REFRESH_HASH_SALT,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SessionExpired,
    SessionRevoked,
    session_refresh_token_renew,
    session_revoke,
    session_start,
    token_refresh,
)

REFRESH = "/api/v1/auth/token/refresh"

pytestmark = pytest.mark.django_db


def refresh(api_client, refresh_token):
    return api_client.post(REFRESH, {"refresh_token": refresh_token}, format="json")


def test_refresh_returns_a_new_pair_and_rotates(api_client, tokens):
    response = refresh(api_client, tokens.refresh_token)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"] != tokens.refresh_token
    assert body["user"]["email"] == "ada@example.com"
    assert response["Cache-Control"] == "no-store"
    second = refresh(api_client, body["refresh_token"])
    assert second.status_code == HTTPStatus.OK


def test_refresh_tokens_are_stored_only_as_hashes(tokens):
    stored = RefreshToken.objects.get(session=tokens.session)
    assert stored.token_hash == keyed_hash(tokens.refresh_token, salt=REFRESH_HASH_SALT)
    assert tokens.refresh_token not in stored.token_hash
    assert len(tokens.refresh_token) >= 43  # 256 bits in base64url


def test_rotated_token_within_the_grace_window_returns_the_same_successor(tokens):
    first = token_refresh(refresh_token=tokens.refresh_token, client=CLIENT)
    with time_machine.travel(time.time() + 9, tick=False):
        again = token_refresh(refresh_token=tokens.refresh_token, client=CLIENT)
    assert again.refresh_token == first.refresh_token
    assert again.session.pk == first.session.pk
    assert RefreshToken.objects.filter(session=tokens.session).count() == 2


def test_token_retired_by_a_renewal_is_refused_within_the_grace_window(tokens):
    renewed = session_refresh_token_renew(session_id=tokens.session.pk)
    with time_machine.travel(time.time() + 9, tick=False):
        with pytest.raises(RefreshTokenInvalid):
            token_refresh(refresh_token=tokens.refresh_token, client=CLIENT)
        assert LoginSession.objects.get(pk=tokens.session.pk).revoked_at is None
        assert not AuditEvent.objects.filter(type=AuditEvent.Type.REFRESH_REUSED).exists()
        # The renewed token still rotates as any other.
        again = token_refresh(refresh_token=renewed.refresh_token, client=CLIENT)
    assert again.session.pk == tokens.session.pk
    assert RefreshToken.objects.filter(session=tokens.session).count() == 3


def test_token_retired_by_a_renewal_after_the_grace_window_revokes_the_session(tokens):
    session_refresh_token_renew(session_id=tokens.session.pk)
    with time_machine.travel(time.time() + 11, tick=False), pytest.raises(RefreshTokenReused):
        token_refresh(refresh_token=tokens.refresh_token, client=CLIENT)
    assert LoginSession.objects.get(pk=tokens.session.pk).revoke_reason == "refresh_reused"


def test_rotated_token_after_the_grace_window_revokes_the_session(api_client, tokens):
    successor = token_refresh(refresh_token=tokens.refresh_token, client=CLIENT)
    with time_machine.travel(time.time() + 11, tick=False):
        with pytest.raises(RefreshTokenReused):
            token_refresh(refresh_token=tokens.refresh_token, client=CLIENT)
        session = LoginSession.objects.get(pk=tokens.session.pk)
        assert session.revoke_reason == "refresh_reused"
        assert AuditEvent.objects.filter(type=AuditEvent.Type.REFRESH_REUSED).count() == 1
        # Neither the thief's nor the owner's tokens work any more.
        with pytest.raises(SessionRevoked):
            token_refresh(refresh_token=successor.refresh_token, client=CLIENT)
        me = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {successor.access_token}")
        assert me.status_code == HTTPStatus.UNAUTHORIZED
        assert me.json()["code"] == "session_revoked"


def test_reuse_through_the_api_is_a_401_with_its_code(api_client, tokens):
    refresh(api_client, tokens.refresh_token)
    with time_machine.travel(time.time() + 11, tick=False):
        response = refresh(api_client, tokens.refresh_token)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "refresh_token_reused"


def test_idle_session_expires(tokens, settings):
    idle = settings.KEYHOUSE_SESSION_IDLE_TIMEOUT + 1
    with time_machine.travel(time.time() + idle, tick=False), pytest.raises(SessionExpired):
        token_refresh(refresh_token=tokens.refresh_token, client=CLIENT)


def test_refreshing_keeps_the_session_alive_until_its_absolute_lifetime(tokens, settings):
    token = tokens.refresh_token
    day = 86400
    for elapsed in range(20 * day, settings.KEYHOUSE_SESSION_ABSOLUTE_LIFETIME, 20 * day):
        with time_machine.travel(time.time() + elapsed, tick=False):
            token = token_refresh(refresh_token=token, client=CLIENT).refresh_token
    end = settings.KEYHOUSE_SESSION_ABSOLUTE_LIFETIME + 1
    with time_machine.travel(time.time() + end, tick=False), pytest.raises(SessionExpired):
        token_refresh(refresh_token=token, client=CLIENT)


def test_revoked_session_cannot_refresh(api_client, tokens):
    session_revoke(session=tokens.session, reason="test")
    response = refresh(api_client, tokens.refresh_token)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "session_revoked"


def test_deactivated_user_cannot_refresh(tokens):
    tokens.user.is_active = False
    tokens.user.save()
    with pytest.raises(SessionRevoked):
        token_refresh(refresh_token=tokens.refresh_token, client=CLIENT)


@pytest.mark.parametrize("token", ["unknown-token", "", "x" * 5000])
def test_unknown_or_malformed_refresh_token_is_a_401(api_client, tokens, token):
    response = refresh(api_client, token)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "refresh_token_invalid"


def test_missing_refresh_token_is_a_401(api_client, tokens):
    response = api_client.post(REFRESH, {}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "refresh_token_invalid"


def test_non_string_refresh_token_is_a_validation_error(api_client, tokens):
    response = api_client.post(REFRESH, {"refresh_token": {"a": 1}}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "refresh_token" in response.json()["errors"]


def test_access_token_used_as_refresh_token_is_refused(api_client, tokens):
    response = refresh(api_client, tokens.access_token)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "refresh_token_invalid"


def test_refresh_records_the_latest_client(tokens):
    client = CLIENT.__class__(ip="198.51.100.9", user_agent="phone")
    token_refresh(refresh_token=tokens.refresh_token, client=client)
    session = LoginSession.objects.get(pk=tokens.session.pk)
    assert (session.ip, session.user_agent) == ("198.51.100.9", "phone")


@pytest.mark.django_db(transaction=True)
def test_refresh_costs_four_statements_in_one_transaction(verified_user):
    """Lock and read the token with its session and user, retire it, add its successor,
    record the client: nothing else, and no savepoint (on SQLite and PostgreSQL alike)."""
    pair = session_start(user=verified_user, amr=["pwd"], client=CLIENT)
    with CaptureQueriesContext(connection) as queries:
        response = refresh(APIClient(), pair.refresh_token)
    assert response.status_code == HTTPStatus.OK
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert statements == ["BEGIN", "SELECT", "UPDATE", "INSERT", "UPDATE", "COMMIT"], statements
    if connection.features.has_select_for_update:
        assert "FOR UPDATE OF" in queries.captured_queries[1]["sql"]


@pytest.mark.django_db(transaction=True)
def test_parallel_refreshes_of_one_token_never_fork_the_session(verified_user):
    pair = session_start(user=verified_user, amr=["pwd"], client=CLIENT)

    results = at_once(8, lambda: token_refresh(refresh_token=pair.refresh_token, client=CLIENT))

    assert not [result for result in results if isinstance(result, Exception)], results
    assert len({result.refresh_token for result in results}) == 1
    assert RefreshToken.objects.filter(session=pair.session).count() == 2
    assert RefreshToken.objects.filter(session=pair.session, rotated_at__isnull=True).count() == 1
    assert token_refresh(refresh_token=results[0].refresh_token, client=CLIENT).refresh_token


@pytest.mark.django_db(transaction=True)
def test_two_tabs_refreshing_one_token_at_once_both_get_the_same_successor(verified_user):
    pair = session_start(user=verified_user, amr=["pwd"], client=CLIENT)

    responses = at_once(2, lambda: refresh(APIClient(), pair.refresh_token))

    assert [response.status_code for response in responses] == [HTTPStatus.OK] * 2
    first, second = (response.json() for response in responses)
    assert first["refresh_token"] == second["refresh_token"]
    assert LoginSession.objects.filter(user=verified_user).count() == 1
    assert RefreshToken.objects.filter(session=pair.session, rotated_at__isnull=True).count() == 1
    assert refresh(APIClient(), first["refresh_token"]).status_code == HTTPStatus.OK


def test_unknown_token_raises_the_domain_error(tokens):
    with pytest.raises(RefreshTokenInvalid):
        token_refresh(refresh_token="nope", client=CLIENT)


def test_a_refresh_without_a_signing_key_is_a_503_and_rotates_nothing(api_client, tokens):
    SigningKey.objects.all().delete()
    keys.keyring_clear()

    response = refresh(api_client, tokens.refresh_token)

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == "signing_key_missing"
    assert RefreshToken.objects.get(session=tokens.session).rotated_at is None

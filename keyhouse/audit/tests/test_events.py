from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from keyhouse.audit.models import AuditEvent
from keyhouse.audit.services import audit_record
from keyhouse.conftest import CLIENT, PASSWORD
from keyhouse.core.http import ClientInfo
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import session_revoke, session_start
from keyhouse.users.models import User

pytestmark = pytest.mark.django_db


def test_my_events_lists_my_recent_events_newest_first(api_client, auth_client, verified_user):
    api_client.post(
        "/api/v1/auth/login", {"email": verified_user.email, "password": "wrong"}, format="json"
    )
    stranger = User.objects.create_user("eve@example.com", PASSWORD)
    audit_record(type=AuditEvent.Type.LOGIN_SUCCEEDED, user_id=stranger.pk, client=CLIENT)
    response = auth_client.get("/api/v1/me/events")
    assert response.status_code == HTTPStatus.OK
    events = response.json()
    assert [event["type"] for event in events] == ["login_failed"]
    assert events[0]["ip"] == "127.0.0.1"
    assert set(events[0]) == {"id", "type", "created_at", "ip", "user_agent", "detail"}


def test_my_events_hide_who_the_acting_operator_was(auth_client, verified_user):
    operator = ClientInfo(ip="203.0.113.9", user_agent="operator's browser")
    audit_record(
        type=AuditEvent.Type.SESSION_REVOKED,
        user_id=verified_user.pk,
        client=operator,
        detail={"reason": "admin"},
        by="4f1c2b0e-0000-4000-8000-000000000000",
    )
    (event,) = auth_client.get("/api/v1/me/events").json()
    assert event["type"] == "session_revoked"
    assert (event["ip"], event["user_agent"], event["detail"]) == (None, "", {"reason": "admin"})


def test_my_events_show_where_i_acted_from(auth_client, verified_user):
    audit_record(
        type=AuditEvent.Type.SIGNED_UP,
        user_id=verified_user.pk,
        client=CLIENT,
        detail={"by": "phone"},
    )
    (event,) = auth_client.get("/api/v1/me/events").json()
    assert (event["ip"], event["detail"]) == (CLIENT.ip, {"by": "phone"})


def test_my_events_takes_a_limit(auth_client, verified_user):
    for _ in range(5):
        audit_record(type=AuditEvent.Type.LOGOUT, user_id=verified_user.pk, client=CLIENT)
    assert len(auth_client.get("/api/v1/me/events", {"limit": 3}).json()) == 3
    bad = auth_client.get("/api/v1/me/events", {"limit": 0})
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert "limit" in bad.json()["errors"]


def test_my_events_needs_a_token(api_client):
    assert api_client.get("/api/v1/me/events").status_code == HTTPStatus.UNAUTHORIZED


def test_purge_expired_drops_old_events_and_long_ended_sessions(verified_user, settings):
    old_event = audit_record(type=AuditEvent.Type.LOGOUT, user_id=verified_user.pk)
    AuditEvent.objects.filter(pk=old_event.pk).update(
        created_at=timezone.now() - timedelta(days=settings.KEYHOUSE_AUDIT_RETENTION_DAYS + 1)
    )
    live = session_start(user=verified_user, amr=["pwd"], client=CLIENT).session
    ended = session_start(user=verified_user, amr=["pwd"], client=CLIENT).session
    session_revoke(session=ended, reason="test")
    LoginSession.objects.filter(pk=ended.pk).update(revoked_at=timezone.now() - timedelta(days=31))
    recently_ended = session_start(user=verified_user, amr=["pwd"], client=CLIENT).session
    session_revoke(session=recently_ended, reason="test")

    out = StringIO()
    call_command("purge_expired", stdout=out)
    assert not AuditEvent.objects.filter(pk=old_event.pk).exists()
    assert AuditEvent.objects.exists()
    assert set(LoginSession.objects.values_list("pk", flat=True)) == {live.pk, recently_ended.pk}
    assert "Audit trail: 1 removed" in out.getvalue()
    assert "Tokens and sessions: 1 removed" in out.getvalue()

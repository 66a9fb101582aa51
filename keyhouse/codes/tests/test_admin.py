from __future__ import annotations

from http import HTTPStatus

import pytest

from keyhouse.codes.models import Purpose
from keyhouse.codes.services import code_issue

pytestmark = pytest.mark.django_db


def test_codes_are_listed_read_only_without_their_hmac(admin_client):
    issued = code_issue(purpose=Purpose.PASSWORD_RESET, target="ada@example.com")
    code_issue(purpose=Purpose.VERIFY_EMAIL, target="grace@example.com")

    response = admin_client.get("/admin/codes/onetimecode/", {"purpose": "password_reset"})
    assert response.status_code == HTTPStatus.OK
    assert b"ada@example.com" in response.content
    assert b"grace@example.com" not in response.content

    response = admin_client.get(f"/admin/codes/onetimecode/{issued.record.pk}/change/")
    assert response.status_code == HTTPStatus.OK
    assert issued.record.code_hash.encode() not in response.content
    assert admin_client.get("/admin/codes/onetimecode/add/").status_code == HTTPStatus.FORBIDDEN

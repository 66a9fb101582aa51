from __future__ import annotations

from http import HTTPStatus

import pytest

from keyhouse.identities.models import Identity

pytestmark = pytest.mark.django_db


def test_admins_find_identities_by_email_and_cannot_change_them(client, admin_user, user):
    identity = Identity.objects.create(
        user=user, provider="google", subject="10769150350006150715113082367", email="ada@gmail.com"
    )
    Identity.objects.create(user=admin_user, provider="github", subject="583231")
    client.force_login(admin_user)

    listed = client.get("/admin/identities/identity/", {"q": "gmail"})

    assert listed.status_code == HTTPStatus.OK
    assert list(listed.context["cl"].result_list) == [identity]
    page = client.get(f"/admin/identities/identity/{identity.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert not page.context["has_change_permission"]
    assert client.get("/admin/identities/identity/add/").status_code == HTTPStatus.FORBIDDEN

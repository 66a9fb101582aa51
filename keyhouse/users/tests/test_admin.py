from __future__ import annotations

from http import HTTPStatus

import pytest
from django.utils import timezone

from keyhouse.conftest import PASSWORD
from keyhouse.users.models import User
from keyhouse.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admin_login_accepts_the_email_in_any_case(client, admin_user, password):
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "ADMIN@example.com", "password": password},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/admin/"


def test_changelist_searches_email_phone_and_name(admin_client):
    UserFactory(email="grace@example.com", display_name="Grace Hopper", phone="+14155550100")
    UserFactory(email="alan@example.com", display_name="Alan Turing")
    for query in ("grace@", "Hopper", "4155550100"):
        response = admin_client.get("/admin/users/user/", {"q": query})
        assert response.status_code == HTTPStatus.OK
        assert b"grace@example.com" in response.content
        assert b"alan@example.com" not in response.content


def test_changelist_filters_on_verified_email(admin_client):
    UserFactory(email="verified@example.com", email_verified_at=timezone.now())
    UserFactory(email="pending@example.com")
    response = admin_client.get("/admin/users/user/", {"email_verified": "yes"})
    assert b"verified@example.com" in response.content
    assert b"pending@example.com" not in response.content
    response = admin_client.get("/admin/users/user/", {"email_verified": "no"})
    assert b"verified@example.com" not in response.content
    assert b"pending@example.com" in response.content


def test_admin_adds_a_user_with_a_password(admin_client):
    response = admin_client.post(
        "/admin/users/user/add/",
        {
            "email": "New@Example.com",
            "usable_password": "true",
            "password1": "a fine long passphrase",
            "password2": "a fine long passphrase",
        },
    )
    assert response.status_code == HTTPStatus.FOUND, response.content
    user = User.objects.get(email="new@example.com")
    assert user.check_password("a fine long passphrase")


def test_admin_refuses_an_address_whose_domain_idna_cannot_encode(admin_client):
    response = admin_client.post(
        "/admin/users/user/add/",
        {
            "email": "new@" + "ß" * 63 + ".de",
            "usable_password": "true",
            "password1": "a fine long passphrase",
            "password2": "a fine long passphrase",
        },
    )
    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["email"]
    assert not User.objects.exclude(is_superuser=True).exists()


@pytest.mark.parametrize(
    ("new", "kept"),
    [("another fine passphrase", "another fine passphrase"), ("password", PASSWORD)],
    ids=["strong", "too-common"],
)
def test_admin_sets_a_password_through_the_password_form_within_the_policy(admin_client, new, kept):
    user = UserFactory()
    response = admin_client.post(
        f"/admin/users/user/{user.pk}/password/", {"password1": new, "password2": new}
    )
    assert response.status_code == (HTTPStatus.FOUND if new == kept else HTTPStatus.OK)
    user.refresh_from_db()
    assert user.check_password(kept)


def test_change_page_shows_timestamps_read_only(admin_client):
    user = UserFactory(email_verified_at=timezone.now())
    response = admin_client.get(f"/admin/users/user/{user.pk}/change/")
    assert response.status_code == HTTPStatus.OK
    assert b'name="email_verified_at"' not in response.content
    assert b'name="date_joined"' not in response.content
    assert b'name="display_name"' in response.content


def test_admin_add_form_holds_the_password_policy(admin_client):
    response = admin_client.post(
        "/admin/users/user/add/",
        {
            "email": "new@example.com",
            "usable_password": "true",
            "password1": "password",
            "password2": "password",
        },
    )
    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["password2"]
    assert not User.objects.filter(email="new@example.com").exists()

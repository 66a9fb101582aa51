from __future__ import annotations

import io
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from keyhouse.conftest import PASSWORD
from keyhouse.users.emails import email_canonical
from keyhouse.users.models import User
from keyhouse.users.selectors import user_get_by_email
from keyhouse.users.services import EmailTaken, user_create
from keyhouse.users.tests.factories import UserFactory


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("  Ada@Example.COM \n", "ada@example.com"),
        ("ada@bücher.example", "ada@xn--bcher-kva.example"),
        ("Ada@BÜCHER.example", "ada@xn--bcher-kva.example"),
        ("Ada@XN--BCHER-KVA.example", "ada@xn--bcher-kva.example"),
        ("a@" + "SS" * 40 + "ß" * 63 + ".DE", "a@" + "ss" * 40 + "ß" * 63 + ".de"),
        ("Not-An-Email", "not-an-email"),
    ],
)
def test_the_canonical_form_trims_lower_cases_and_encodes_the_domain(raw, canonical):
    assert email_canonical(raw) == canonical
    assert email_canonical(canonical) == canonical


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["a@" + "ß" * 63 + ".de", "a@xn--zz.example"])
def test_an_address_whose_domain_idna_cannot_encode_fails_validation(email):
    with pytest.raises(ValidationError) as info:
        UserFactory.build(email=email).full_clean()
    assert info.value.error_dict["email"][0].code == "invalid"


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["ada@bücher.example", "ada@[192.0.2.1]", "ada@localhost"])
def test_an_encodable_domain_or_an_address_literal_passes_validation(email):
    UserFactory.build(email=email).full_clean()


@pytest.mark.django_db
def test_create_user_stores_a_normalised_email_and_hashed_password(password):
    user = User.objects.create_user(" Ada@Example.COM ", password)
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    assert user.password.startswith("argon2$argon2id$")
    assert user.check_password(password)
    assert not user.is_staff
    assert not user.email_verified


@pytest.mark.django_db
def test_emails_differing_only_by_case_cannot_both_exist():
    User.objects.create_user("foo@example.com", PASSWORD)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("Foo@Example.com", PASSWORD)
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_user_create_turns_a_duplicate_into_email_taken():
    user_create(email="foo@example.com", password=PASSWORD)
    with pytest.raises(EmailTaken) as info:
        user_create(email="FOO@example.com", password=PASSWORD)
    assert info.value.code == "email_taken"


@pytest.mark.django_db
def test_user_get_by_email_ignores_case_and_whitespace():
    user = UserFactory(email="Ada@example.com")
    assert user_get_by_email(email=" ADA@EXAMPLE.com ") == user
    assert user_get_by_email(email="bob@example.com") is None


@pytest.mark.django_db
def test_phone_is_stored_in_e164_and_unique():
    first = UserFactory(phone="+44 20 7946 0958")
    first.refresh_from_db()
    assert str(first.phone) == "+442079460958"
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(phone="+442079460958")
    UserFactory(phone=None)
    UserFactory(phone=None)
    assert User.objects.filter(phone__isnull=True).count() == 2


@pytest.mark.django_db
def test_invalid_phone_fails_model_validation():
    user = UserFactory.build(phone="12345")
    with pytest.raises(ValidationError) as info:
        user.full_clean()
    assert "phone" in info.value.message_dict


@pytest.mark.django_db
def test_create_superuser_is_staff_and_superuser(password):
    admin = User.objects.create_superuser("root@example.com", password)
    assert admin.is_staff
    assert admin.is_superuser


@pytest.mark.django_db
def test_createsuperuser_runs_without_input_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Ops@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long operator passphrase")
    call_command("createsuperuser", "--noinput", verbosity=0)
    admin = User.objects.get()
    assert admin.email == "ops@example.com"
    assert admin.is_superuser
    assert admin.check_password("a long operator passphrase")


@pytest.mark.django_db
def test_createsuperuser_refuses_an_address_taken_in_another_case(monkeypatch, password):
    User.objects.create_user("ops@example.com", password)
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "OPS@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long operator passphrase")
    with pytest.raises(CommandError, match="already taken"):
        call_command("createsuperuser", "--noinput", verbosity=0)
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_createsuperuser_refuses_an_address_whose_domain_idna_cannot_encode(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@" + "ß" * 63 + ".de")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long operator passphrase")
    with pytest.raises(CommandError, match="its domain cannot be encoded"):
        call_command("createsuperuser", "--noinput", verbosity=0)
    assert not User.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_inserts_differing_by_case_create_one_user():
    emails = [f"{'Race' if i % 2 else 'race'}@EXAMPLE.com" for i in range(8)]
    barrier = threading.Barrier(len(emails))
    outcomes: list[str] = []

    def sign_up(email: str) -> None:
        barrier.wait()
        try:
            user_create(email=email, password=PASSWORD)
            outcomes.append("created")
        except EmailTaken:
            outcomes.append("taken")
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created"] + ["taken"] * 7
    assert User.objects.filter(email__iexact="race@example.com").count() == 1


@pytest.mark.django_db
def test_accounts_made_by_phone_need_no_email():
    first = User.objects.create_user(None, phone="+14155550101")
    second = User.objects.create_user("", phone="+14155550102")
    assert first.email == second.email == ""
    assert str(first) == "+14155550101"
    assert not first.has_usable_password()
    assert user_get_by_email(email="") is None
    with pytest.raises(ValueError, match="email address or a phone"):
        User.objects.create_user("")


@pytest.mark.postgres
@pytest.mark.django_db
def test_looking_a_user_up_by_email_uses_the_unique_index(user):
    with CaptureQueriesContext(connection) as queries:
        assert User.objects.get_by_natural_key("ADA@example.com").pk == user.pk
    (lookup,) = queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {lookup['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "users_user_email_ci_unique" in plan, plan


class Terminal(io.StringIO):
    """Standard input as a terminal, which createsuperuser asks for when it prompts."""

    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["password", "short", "ops@example.com"])
def test_createsuperuser_without_input_holds_the_password_policy(monkeypatch, password):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    with pytest.raises(CommandError, match="password"):
        call_command("createsuperuser", "--noinput", verbosity=0)
    assert not User.objects.exists()


@pytest.mark.django_db
def test_createsuperuser_offers_no_way_around_the_password_policy(monkeypatch):
    answers = iter(["ops@example.com", "y"])  # the address, then "bypass validation?"
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "password")
    with pytest.raises(CommandError, match="This password is too common"):
        call_command(
            "createsuperuser", stdin=Terminal(), stdout=io.StringIO(), stderr=io.StringIO()
        )
    assert not User.objects.exists()


@pytest.mark.django_db
def test_creating_a_user_in_code_holds_the_password_policy():
    with pytest.raises(ValidationError) as info:
        User.objects.create_user("ada@example.com", "ada@example.com")
    assert {error.code for error in info.value.error_list} >= {"password_too_similar"}
    with pytest.raises(ValidationError):
        user_create(email="ada@example.com", password="password")
    assert not User.objects.exists()
    assert User.objects.create_user("", phone="+14155550103").has_usable_password() is False

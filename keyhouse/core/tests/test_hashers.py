from __future__ import annotations

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password

from keyhouse.users.models import User

PASSPHRASE = "a long passphrase"


def test_passwords_are_hashed_with_argon2id_at_owasp_parameters():
    assert make_password(PASSPHRASE).startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.django_db
def test_hashes_with_other_argon2_parameters_are_upgraded_at_login():
    django_default = Argon2PasswordHasher()
    heavy = django_default.encode(PASSPHRASE, django_default.salt())
    assert "m=102400,t=2,p=8" in heavy
    user = User.objects.create_user("ada@example.com")
    User.objects.filter(pk=user.pk).update(password=heavy)
    user.refresh_from_db()
    assert user.check_password(PASSPHRASE)
    user.refresh_from_db()
    assert "m=19456,t=2,p=1" in user.password

"""TOTP checks at time-step boundaries, replay, and two submissions of one code at once."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pyotp
import pytest

from keyhouse.conftest import CLIENT
from keyhouse.mfa.models import TotpFactor
from keyhouse.mfa.services.factors import totp_code_accept, totp_factor_enrol
from keyhouse.mfa.tests.conftest import STEP, STEP_START, login, verify
from keyhouse.testing import at_once

pytestmark = pytest.mark.django_db(transaction=True)

NOW = STEP_START.timestamp()


@pytest.fixture
def factor(clock, verified_user, tokens) -> tuple[TotpFactor, pyotp.TOTP]:
    enrolment = totp_factor_enrol(
        user=verified_user, session_id=tokens.session.pk, name="Phone", client=CLIENT
    )
    return enrolment.factor, pyotp.TOTP(enrolment.secret)


def accept(factor: TotpFactor, code: str) -> bool:
    return totp_code_accept(factor=TotpFactor.objects.get(pk=factor.pk), code=code)


@pytest.mark.parametrize(
    ("code_at", "accepted"),
    [
        (NOW - STEP - 1, False),  # two steps back
        (NOW - 1, True),  # the step before
        (NOW, True),
        (NOW + STEP - 1, True),  # the end of the current step
        (NOW + STEP, True),  # the step after
        (NOW + 2 * STEP, False),  # two steps ahead
    ],
)
def test_a_code_is_accepted_from_one_step_before_to_one_after(factor, code_at, accepted):
    row, app = factor
    assert accept(row, app.at(code_at)) is accepted


def test_the_tolerance_moves_with_the_step_boundary(factor, clock):
    row, app = factor
    ahead = app.at(NOW + 2 * STEP)  # two steps ahead of the step that starts at NOW
    clock.move_to(STEP_START + timedelta(seconds=STEP - 0.001))  # last instant of that step
    assert accept(row, ahead) is False
    clock.move_to(STEP_START + timedelta(seconds=STEP))  # the next step: now one ahead
    assert accept(row, ahead) is True


def test_a_code_works_once_and_no_older_code_works_after_it(factor, clock):
    row, app = factor
    assert accept(row, app.at(NOW)) is True
    assert accept(row, app.at(NOW)) is False
    assert accept(row, app.at(NOW - STEP)) is False  # older, though within tolerance
    assert TotpFactor.objects.get(pk=row.pk).last_step == NOW // STEP
    assert accept(row, app.at(NOW + STEP)) is True  # the next one works
    clock.shift(STEP)
    assert accept(row, app.at(NOW + STEP)) is False  # and still only once


def test_a_later_code_spends_the_earlier_steps(factor):
    row, app = factor
    assert accept(row, app.at(NOW + STEP)) is True
    assert accept(row, app.at(NOW)) is False


def test_the_seed_survives_a_secret_key_rotation(factor, settings):
    row, app = factor
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 50
    assert accept(row, app.at(NOW)) is True


def test_two_checks_of_one_code_at_once_accept_it_once(factor):
    row, app = factor
    code = app.at(NOW)
    results = at_once(2, lambda: accept(row, code))
    assert sorted(results) == [False, True]


def test_two_sign_ins_answering_with_one_code_at_once_let_exactly_one_in(enrolled, clock):
    """Two challenges (two sign-ins with the stolen password, say) and one code."""
    challenges = iter([login()["mfa_token"], login()["mfa_token"]])
    clock.shift(STEP)
    code = enrolled.code(NOW + STEP)
    results = at_once(
        2,
        lambda: verify(
            {"mfa_token": next(challenges), "factor_id": enrolled.factor_id, "code": code}
        ),
    )
    statuses = sorted(status for status, _body in results)
    assert statuses == [HTTPStatus.OK, HTTPStatus.BAD_REQUEST], results
    assert [body["code"] for status, body in results if status != HTTPStatus.OK] == [
        "mfa_code_invalid"
    ]

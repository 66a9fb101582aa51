from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest

from keyhouse.audit.models import AuditEvent
from keyhouse.codes.checks import check_code_settings
from keyhouse.codes.models import OneTimeCode, Purpose
from keyhouse.codes.services import (
    CodeCooldown,
    CodeExhausted,
    CodeExpired,
    CodeInvalid,
    code_check,
    code_issue,
    code_limits_hit,
    code_purge_expired,
    code_send,
    code_verify,
)
from keyhouse.conftest import CLIENT, PASSWORD
from keyhouse.core.ratelimit import RateLimited
from keyhouse.delivery.models import Delivery
from keyhouse.testing import at_once, holds_in_clear
from keyhouse.users.services import user_create

pytestmark = pytest.mark.django_db

START = datetime(2030, 1, 7, 9, 20, tzinfo=UTC)
EMAIL = "ada@example.com"


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def test_issued_code_verifies_once(clock, user):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, user=user)
    assert len(issued.code) == 6
    assert issued.code.isdigit()
    assert issued.expires_minutes == 10

    record = code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=issued.code)

    assert record == issued.record
    assert record.user == user
    assert record.consumed_at == START
    with pytest.raises(CodeInvalid) as info:
        code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=issued.code)
    assert info.value.extra == {}


def test_code_verify_ignores_whitespace_and_target_case(clock):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=" Ada@Example.com ")
    spaced = f"{issued.code[:3]} {issued.code[3:]}"
    assert code_verify(purpose="verify_email", target="ada@EXAMPLE.com", code=spaced)


def test_wrong_code_counts_down_the_tries_and_the_count_persists(clock):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
    for tries_left in (4, 3):
        with pytest.raises(CodeInvalid) as info:
            code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=wrong(issued.code))
        assert info.value.code == "code_invalid"
        assert info.value.status == HTTPStatus.BAD_REQUEST
        assert info.value.extra == {"tries_left": tries_left}
    issued.record.refresh_from_db()
    assert issued.record.attempts == 2
    assert code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=issued.code)


def test_five_wrong_tries_kill_the_code_even_for_the_right_one(clock):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
    for _ in range(4):
        with pytest.raises(CodeInvalid):
            code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=wrong(issued.code))
    with pytest.raises(CodeExhausted):
        code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=wrong(issued.code))
    with pytest.raises(CodeExhausted) as info:
        code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=issued.code)
    assert info.value.code == "code_attempts_exceeded"
    issued.record.refresh_from_db()
    assert issued.record.attempts == 5
    assert issued.record.consumed_at is None


def test_max_attempts_is_a_setting(clock, settings):
    settings.KEYHOUSE_CODE_MAX_ATTEMPTS = 2
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
    with pytest.raises(CodeInvalid) as info:
        code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=wrong(issued.code))
    assert info.value.extra == {"tries_left": 1}
    with pytest.raises(CodeExhausted):
        code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=wrong(issued.code))


def test_code_expires_after_its_lifetime(clock):
    issued = code_issue(purpose=Purpose.PASSWORD_RESET, target=EMAIL)
    clock.shift(timedelta(minutes=10))
    with pytest.raises(CodeExpired) as info:
        code_verify(purpose=Purpose.PASSWORD_RESET, target=EMAIL, code=issued.code)
    assert info.value.code == "code_expired"


def test_code_is_valid_until_just_before_expiry(clock):
    issued = code_issue(purpose=Purpose.PASSWORD_RESET, target=EMAIL)
    clock.shift(timedelta(minutes=10) - timedelta(seconds=1))
    assert code_verify(purpose=Purpose.PASSWORD_RESET, target=EMAIL, code=issued.code)


def test_code_length_and_lifetime_are_settings(clock, settings):
    settings.KEYHOUSE_CODE_LENGTH = 8
    settings.KEYHOUSE_CODE_TTL = 120
    issued = code_issue(purpose=Purpose.VERIFY_PHONE, target="+442079460958")
    assert len(issued.code) == 8
    assert issued.record.expires_at == START + timedelta(minutes=2)
    assert issued.expires_minutes == 2


def test_a_new_code_replaces_the_older_one(clock):
    first = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
    clock.shift(61)
    second = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)

    first.record.refresh_from_db()
    assert first.record.invalidated_at == START + timedelta(seconds=61)
    if first.code != second.code:  # one time in a million they are the same digits
        with pytest.raises(CodeInvalid):
            code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=first.code)
    assert code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=second.code)


def test_a_resend_within_the_cooldown_is_refused_and_keeps_the_sent_code(clock):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
    clock.shift(20)
    with pytest.raises(CodeCooldown) as info:
        code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)

    assert info.value.code == "code_cooldown"
    assert info.value.status == HTTPStatus.TOO_MANY_REQUESTS
    assert info.value.headers == {"Retry-After": "40"}
    assert info.value.extra == {"retry_after": 40}
    assert OneTimeCode.objects.count() == 1
    assert code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=issued.code)


def test_the_cooldown_is_per_purpose(clock):
    code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
    assert code_issue(purpose=Purpose.PASSWORD_RESET, target=EMAIL)


def test_a_target_gets_at_most_five_codes_an_hour(clock):
    clock.move_to(datetime(2030, 1, 7, 9, 0, tzinfo=UTC), tick=False)
    for _ in range(5):
        last = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
        clock.shift(61)
    with pytest.raises(RateLimited) as info:
        code_issue(purpose=Purpose.PASSWORD_RESET, target=EMAIL.upper())

    assert info.value.code == "rate_limited"
    assert info.value.retry_after == 3600 - 5 * 61
    assert info.value.headers["Retry-After"] == str(3600 - 5 * 61)
    assert code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=last.code)
    assert code_issue(purpose=Purpose.VERIFY_EMAIL, target="grace@example.com")
    clock.shift(info.value.retry_after)
    assert code_issue(purpose=Purpose.PASSWORD_RESET, target=EMAIL)


def test_a_client_ip_is_capped_across_targets(clock, settings):
    settings.KEYHOUSE_CODE_RATE_PER_IP = "3/h"
    for n in range(3):
        code_issue(purpose=Purpose.VERIFY_EMAIL, target=f"user{n}@example.com", ip="203.0.113.9")
    with pytest.raises(RateLimited) as info:
        code_issue(purpose=Purpose.VERIFY_EMAIL, target="user3@example.com", ip="203.0.113.9")

    assert info.value.retry_after == 40 * 60
    assert code_issue(purpose=Purpose.VERIFY_EMAIL, target="user3@example.com", ip="192.0.2.1")
    assert code_issue(purpose=Purpose.VERIFY_EMAIL, target="user4@example.com")


def test_a_refused_ip_does_not_use_up_the_target(clock, settings):
    settings.KEYHOUSE_CODE_RATE_PER_IP = "1/h"
    settings.KEYHOUSE_CODE_RATE_PER_TARGET = "1/h"
    code_issue(purpose=Purpose.VERIFY_EMAIL, target="mallory@example.com", ip="203.0.113.9")
    with pytest.raises(RateLimited):
        code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, ip="203.0.113.9")
    assert code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, ip="192.0.2.1")


def test_the_database_holds_only_the_hmac_of_the_code(clock):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
    [row] = OneTimeCode.objects.values()

    assert not holds_in_clear(row, issued.code)
    assert len(issued.record.code_hash) == 64
    assert not holds_in_clear(repr(issued), issued.code)


def test_a_code_is_bound_to_its_purpose(clock):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
    with pytest.raises(CodeInvalid) as info:
        code_verify(purpose=Purpose.PASSWORD_RESET, target=EMAIL, code=issued.code)
    assert info.value.extra == {}
    assert code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=issued.code)


def test_a_code_is_bound_to_its_target(clock):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target="a@example.com")
    code_issue(purpose=Purpose.VERIFY_EMAIL, target="b@example.com")
    with pytest.raises(CodeInvalid):
        code_verify(purpose=Purpose.VERIFY_EMAIL, target="b@example.com", code=issued.code)
    assert code_verify(purpose=Purpose.VERIFY_EMAIL, target="a@example.com", code=issued.code)


def test_a_code_checked_for_a_user_is_one_issued_for_them(clock, user):
    other = user_create(email="eve@example.com", password=PASSWORD, display_name="Eve")
    theirs = code_issue(purpose=Purpose.CHANGE_EMAIL, target="new@example.org", user=other)
    with pytest.raises(CodeInvalid):
        code_verify(
            purpose=Purpose.CHANGE_EMAIL,
            target="new@example.org",
            code=theirs.code,
            user_id=user.pk,
        )
    record = code_verify(
        purpose=Purpose.CHANGE_EMAIL, target="new@example.org", code=theirs.code, user_id=other.pk
    )
    assert record.user_id == other.pk


def test_the_hmac_binds_purpose_and_target(clock):
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target="a@example.com")
    OneTimeCode.objects.filter(pk=issued.record.pk).update(target="b@example.com")
    with pytest.raises(CodeInvalid):
        code_verify(purpose=Purpose.VERIFY_EMAIL, target="b@example.com", code=issued.code)


def test_a_code_never_issued_is_invalid_without_tries_left():
    with pytest.raises(CodeInvalid) as info:
        code_verify(purpose=Purpose.PHONE_SIGN_IN, target="+442079460958", code="123456")
    assert info.value.extra == {}


def test_purge_removes_codes_a_day_past_their_expiry(clock):
    old = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)
    clock.shift(timedelta(days=1, minutes=10))
    recent = code_issue(purpose=Purpose.VERIFY_EMAIL, target="grace@example.com")

    assert code_purge_expired() == 0
    clock.shift(1)
    assert code_purge_expired() == 1
    assert list(OneTimeCode.objects.all()) == [recent.record]
    assert not OneTimeCode.objects.filter(pk=old.record.pk).exists()
    assert code_purge_expired() == 0


def test_system_check_refuses_a_malformed_rate_or_code_length(settings):
    assert check_code_settings() == []
    settings.KEYHOUSE_CODE_RATE_PER_IP = "20 an hour"
    settings.KEYHOUSE_CODE_LENGTH = 3
    assert [error.id for error in check_code_settings()] == ["codes.E001", "codes.E002"]


def run_in_threads(count: int, action) -> list[str]:
    """Run ``action`` in ``count`` threads at once; return each one's outcome.

    An outcome is "ok", the code of a refusal, or the repr of any other error.
    """

    def outcome(result: object) -> str:
        if isinstance(result, (CodeInvalid, CodeExhausted)):
            return result.code
        return repr(result) if isinstance(result, Exception) else "ok"

    return [outcome(result) for result in at_once(count, action)]


@pytest.mark.django_db(transaction=True)
def test_parallel_verifications_of_one_code_consume_it_once():
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)

    outcomes = run_in_threads(
        8, lambda: code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=issued.code)
    )

    assert sorted(outcomes) == ["code_invalid"] * 7 + ["ok"]
    issued.record.refresh_from_db()
    assert issued.record.consumed_at is not None


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_guesses_are_all_counted():
    issued = code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)

    outcomes = run_in_threads(
        8, lambda: code_verify(purpose=Purpose.VERIFY_EMAIL, target=EMAIL, code=wrong(issued.code))
    )

    assert sorted(outcomes) == ["code_attempts_exceeded"] * 4 + ["code_invalid"] * 4
    issued.record.refresh_from_db()
    assert issued.record.attempts == 5


def test_counting_a_request_alone_costs_what_issuing_costs(clock):
    code_limits_hit(purpose=Purpose.VERIFY_EMAIL, target="Ada@Example.com", ip="203.0.113.9")

    assert not OneTimeCode.objects.exists()
    with pytest.raises(CodeCooldown):
        code_issue(purpose=Purpose.VERIFY_EMAIL, target=EMAIL)


@pytest.mark.parametrize(
    ("purpose", "target", "channel"),
    [
        (Purpose.VERIFY_EMAIL, " Ada@Example.com", Delivery.Channel.EMAIL),
        (Purpose.PHONE_SIGN_IN, "+442079460958", Delivery.Channel.SMS),
    ],
)
def test_a_sent_code_is_queued_by_its_channel_and_recorded(
    clock, purpose, target, channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        record = code_send(purpose=purpose, target=target, client=CLIENT)

    assert record.target == target.strip().lower()
    delivery = Delivery.objects.get()
    assert (delivery.channel, delivery.recipient, delivery.template) == (
        channel,
        record.target,
        purpose,
    )
    assert len(queued) == 1
    event = AuditEvent.objects.exclude(type=AuditEvent.Type.SIGNING_KEY_ROTATED).get()
    assert (event.type, event.detail) == (
        AuditEvent.Type.CODE_SENT,
        {"purpose": purpose, "channel": channel},
    )


def test_a_code_issued_alone_is_sent_to_no_one(clock, settings):
    settings.KEYHOUSE_SMS_CODES = "twilio_verify"
    issued = code_issue(purpose=Purpose.VERIFY_PHONE, target="+442079460958")

    assert issued.code is None
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("anonymous", [True, False])
def test_a_failed_check_is_recorded_and_anonymous_callers_learn_nothing_more(clock, anonymous):
    issued = code_issue(purpose=Purpose.PASSWORD_RESET, target=EMAIL)
    clock.shift(timedelta(minutes=10))
    expected = CodeInvalid if anonymous else CodeExpired

    with pytest.raises(expected) as info:
        code_check(
            purpose=Purpose.PASSWORD_RESET,
            target=EMAIL,
            code=issued.code,
            client=CLIENT,
            anonymous=anonymous,
        )

    assert info.value.extra == {}
    event = AuditEvent.objects.exclude(type=AuditEvent.Type.SIGNING_KEY_ROTATED).get()
    assert (event.type, event.detail) == (
        AuditEvent.Type.CODE_CHECK_FAILED,
        {"purpose": Purpose.PASSWORD_RESET, "reason": "code_expired"},
    )

from __future__ import annotations

from http import HTTPStatus

import pytest

from keyhouse.core.problems import exception_handler
from keyhouse.users.checks import check_phone_settings
from keyhouse.users.phones import InvalidPhone, PhoneNotAllowed, phone_normalize

LONDON = "+442079460958"
SAN_FRANCISCO = "+14155552671"
KINGSTON = "+18765550123"  # Jamaica shares the calling code 1 with the United States
PARIS = "+33123456789"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+442079460958", LONDON),
        ("+44 20 7946 0958", LONDON),
        ("  +44 (0)20 7946 0958 ", LONDON),
        ("+44-20-7946-0958", LONDON),
        ("+44.20.7946.0958", LONDON),
        ("+1 (415) 555-2671", SAN_FRANCISCO),
        ("+33 1 23 45 67 89", PARIS),
    ],
)
def test_international_numbers_become_e164(raw, e164):
    assert phone_normalize(raw) == e164


@pytest.mark.parametrize(
    ("region", "raw", "e164"),
    [
        ("GB", "020 7946 0958", LONDON),
        ("GB", "+1 415 555 2671", SAN_FRANCISCO),
        ("US", "(415) 555-2671", SAN_FRANCISCO),
        ("US", "415.555.2671", SAN_FRANCISCO),
        ("FR", "01 23 45 67 89", PARIS),
    ],
)
def test_national_numbers_are_read_in_the_default_region(region, raw, e164, settings):
    settings.PHONENUMBER_DEFAULT_REGION = region
    assert phone_normalize(raw) == e164


def test_a_national_number_without_a_default_region_asks_for_the_country_code(settings):
    settings.PHONENUMBER_DEFAULT_REGION = None
    with pytest.raises(InvalidPhone) as info:
        phone_normalize("020 7946 0958")
    assert "international format" in str(info.value.message)
    assert info.value.fields == {"phone": [info.value.message]}


@pytest.mark.parametrize(
    "raw",
    [
        "+1 800 FLOWERS",  # a vanity number: refused rather than guessed
        "+44 20 7946 0958 ext 12",
        "+44 20 7946 0958;ext=12",
        "+44 20 7946 0958 x12",
        "phone",
        "+44 2O 7946 0958",  # a letter O for a zero
    ],
)
def test_letters_and_extensions_are_refused(raw):
    with pytest.raises(InvalidPhone):
        phone_normalize(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "+",
        "+44",
        "+44 20",
        "+4420794609",  # one digit short
        "+44 20 7946 09581234",  # too long
        "+999 123 4567",  # no such country
        "+882 1234 5678",  # no such number in the range
        "0044 20 7946 0958",  # read as a US national number
        "+44 20 7946 0958" + " 0" * 200,
    ],
)
def test_incomplete_and_impossible_numbers_are_invalid(raw, settings):
    settings.PHONENUMBER_DEFAULT_REGION = "US"
    with pytest.raises(InvalidPhone) as info:
        phone_normalize(raw)
    assert info.value.code == "invalid_phone"
    assert info.value.status == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize("raw", [442079460958, None, ["+442079460958"], {"phone": LONDON}])
def test_anything_but_a_string_is_invalid(raw):
    with pytest.raises(InvalidPhone):
        phone_normalize(raw)


@pytest.mark.parametrize("allowed", [["44", "33"], ["+44", " 33 "], ["GB", "fr"]])
def test_the_allow_list_takes_calling_codes_or_regions(allowed, settings):
    settings.KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES = allowed
    assert phone_normalize("+44 20 7946 0958") == LONDON
    assert phone_normalize("+33 1 23 45 67 89") == PARIS
    with pytest.raises(PhoneNotAllowed) as info:
        phone_normalize(SAN_FRANCISCO)
    assert info.value.code == "phone_country_not_allowed"
    assert info.value.status == HTTPStatus.BAD_REQUEST
    assert info.value.fields == {"phone": [info.value.message]}


def test_regions_tell_apart_countries_sharing_a_calling_code(settings):
    settings.KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES = ["US", "CA"]
    assert phone_normalize(SAN_FRANCISCO) == SAN_FRANCISCO
    with pytest.raises(PhoneNotAllowed):
        phone_normalize(KINGSTON)


def test_the_deny_list_refuses_a_country_and_wins_over_the_allow_list(settings):
    settings.KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES = ["1"]
    settings.KEYHOUSE_PHONE_DENIED_COUNTRY_CODES = ["JM"]
    assert phone_normalize(SAN_FRANCISCO) == SAN_FRANCISCO
    with pytest.raises(PhoneNotAllowed):
        phone_normalize(KINGSTON)

    settings.KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES = []
    settings.KEYHOUSE_PHONE_DENIED_COUNTRY_CODES = ["1"]
    assert phone_normalize(LONDON) == LONDON
    for number in (SAN_FRANCISCO, KINGSTON):
        with pytest.raises(PhoneNotAllowed):
            phone_normalize(number)


def test_every_country_is_allowed_by_default():
    for number in (LONDON, SAN_FRANCISCO, KINGSTON, PARIS):
        assert phone_normalize(number) == number


def test_an_invalid_number_is_reported_under_the_phone_field():
    response = exception_handler(InvalidPhone(), {})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.data["code"] == "invalid_phone"
    assert response.data["errors"] == {
        "phone": [{"code": "invalid_phone", "message": "Enter a valid phone number."}]
    }


def test_system_check_refuses_unknown_countries(settings):
    assert check_phone_settings() == []
    settings.KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES = ["44", "GB", "+1", "UK", "999"]
    settings.KEYHOUSE_PHONE_DENIED_COUNTRY_CODES = ["JM", "Jamaica"]

    errors = check_phone_settings()

    assert [error.id for error in errors] == ["users.E001", "users.E001"]
    assert "'UK', '999'" in errors[0].msg
    assert "'Jamaica'" in errors[1].msg

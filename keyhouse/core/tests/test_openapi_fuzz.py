"""Fuzz a live server from its own OpenAPI document: it answers as the document says.

Schemathesis generates requests for every operation, valid and invalid, and checks
each answer: never a server error, only declared statuses, content types and
headers, bodies that match their schemas, invalid input refused, authentication not
ignored. The run is bounded and derandomized, so it sends the same requests every
time; rate limits are off on the server, so that the fuzz reaches past a 429.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import max_response_time, positive_data_acceptance

from keyhouse.conftest import CLIENT, PASSWORD
from keyhouse.tokens.services import session_start
from keyhouse.users.models import User
from keyhouse.users.services import user_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.end_to_end]

EXAMPLES_PER_OPERATION = 10
# Limits that a bounded run cannot reach. The actions' own limits have an off switch
# (an empty rule); the code caps and the failed-password thresholds are counted rates.
UNREACHABLE_RATE = "1000000/s"


def openapi_document() -> dict:
    """The document /api/schema/ serves, made as it makes it, so that collecting the
    tests (one per operation) needs no server."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


api = schemathesis.openapi.from_dict(openapi_document())
# Undeclared query parameters are ignored, as HTTP APIs do; the document does not say
# they are refused, so a request with one is not invalid input. Text fields refuse NUL
# characters, a rule of every string that the document states once, in its description.
api.config.generation.update(allow_extra_parameters=False, allow_x00=False)

# Refusals no JSON Schema can state: rules of the password policy, and a current
# password, required when the account has one.
POLICY_CODES = {"password_too_common", "password_too_similar"}
ACCOUNT_RULE_FIELDS = {"current_password"}
# The OAuth errors of a malformed form (RFC 6749 section 5.2); the others refuse what
# a well-formed one means: an unknown client, a dead refresh token, a scope not granted.
MALFORMED_OAUTH_ERRORS = {"invalid_request", "unsupported_grant_type"}


@pytest.fixture
def server(live_server, settings) -> str:
    """The live server's URL, with its rate limits off."""
    settings.KEYHOUSE_RATE_LIMITS = dict.fromkeys(settings.KEYHOUSE_RATE_LIMITS, "")
    settings.KEYHOUSE_CODE_RESEND_COOLDOWN = 0
    settings.KEYHOUSE_CODE_RATE_PER_IP = UNREACHABLE_RATE
    settings.KEYHOUSE_CODE_RATE_PER_TARGET = UNREACHABLE_RATE
    settings.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP = UNREACHABLE_RATE
    settings.KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT = UNREACHABLE_RATE
    return live_server.url.replace("localhost", "127.0.0.1")


def bearer_token() -> str:
    """An access token for a fresh session of the fuzzing user, who may have been deleted
    (DELETE /api/v1/me) or signed out (POST /api/v1/auth/logout) by an earlier request."""
    user = User.objects.filter(email="fuzz@example.com").first() or user_create(
        email="fuzz@example.com", password=PASSWORD
    )
    return session_start(user=user, amr=["pwd"], client=CLIENT).access_token


def valid_requests_pass_validation(ctx, response, case) -> None:
    """A request the document calls valid may be refused for what it means (a wrong code,
    a number no phone has), but never as malformed, unless for a policy rule."""
    if not case.meta.generation.mode.is_positive or response.status_code != 400:
        return
    problem = response.json()
    if "error" in problem:  # not a problem but an OAuth error, the answer to a form
        if problem["error"] in MALFORMED_OAUTH_ERRORS:
            raise AssertionError(f"A form valid by the document was refused: {problem}")
        return
    refused = {
        error["code"]
        for field, errors in problem.get("errors", {}).items()
        if field not in ACCOUNT_RULE_FIELDS
        for error in errors
    }
    if problem["code"] == "parse_error" or (
        problem["code"] == "validation_error" and not refused <= POLICY_CODES
    ):
        raise AssertionError(f"A request valid by the document was refused: {problem}")


@api.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_openapi_document_says(case, server):
    # Every check but two: max_response_time, a timing assertion that a busy machine
    # could fail by chance, and positive_data_acceptance, which wants a 2xx for any
    # request the document calls valid, where a well-formed code can be wrong (400
    # code_invalid); valid_requests_pass_validation checks what it can instead.
    case.call_and_validate(
        base_url=server,
        headers={"Authorization": f"Bearer {bearer_token()}"},
        excluded_checks=[max_response_time, positive_data_acceptance],
        additional_checks=[valid_requests_pass_validation],
    )

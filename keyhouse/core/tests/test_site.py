from __future__ import annotations

import json
from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db


def test_unknown_path_outside_api_is_a_404_problem(client):
    response = client.get("/nowhere")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["code"] == "not_found"


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_refuse_other_methods_with_a_problem(client, path):
    response = client.post(path)
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Content-Type"] == "application/problem+json"
    assert response["Allow"] == "GET, HEAD"
    assert json.loads(response.content)["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/api/v1/me", "/healthz", "/admin/"])
def test_a_host_not_allowed_is_a_400_problem(client, path):
    response = client.get(path, HTTP_HOST="attacker.example")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["code"] == "bad_request"


def test_readyz_reports_each_check(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


def test_readyz_names_an_unreachable_cache(client, unreachable_cache):
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["cache"] == "failing"
    assert body["checks"]["database"] == "ok"
    assert "cache" in body["detail"]


def test_readyz_checks_a_configured_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["checks"]["broker"] == "failing"


def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["info"]["title"] == "Keyhouse API"


def test_docs_page_loads_its_assets_from_this_server(client):
    response = client.get("/api/docs/")
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == HTTPStatus.OK


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_schema_and_docs_are_public_even_to_a_stale_bearer_token(client, path):
    response = client.get(path, HTTP_AUTHORIZATION="Bearer expired-or-forged")
    assert response.status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("post", "/api/schema/", {}, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed"),
        ("post", "/api/docs/", {}, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed"),
        (
            "get",
            "/api/schema/",
            {"HTTP_ACCEPT": "text/html"},
            HTTPStatus.NOT_ACCEPTABLE,
            "not_acceptable",
        ),
        ("get", "/api/schema/?format=xml", {}, HTTPStatus.NOT_FOUND, "not_found"),
        ("get", "/api/docs/?format=xml", {}, HTTPStatus.NOT_FOUND, "not_found"),
    ],
)
def test_schema_and_docs_errors_are_json_problems(client, method, path, headers, status, code):
    response = getattr(client, method)(path, **headers)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["code"] == code


def test_docs_page_refuses_options_with_a_problem(client):
    response = client.options("/api/docs/")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Content-Type"] == "application/problem+json"
    assert response["Allow"] == "GET, HEAD"
    assert json.loads(response.content)["code"] == "method_not_allowed"


def test_admin_requires_a_staff_login(client):
    response = client.get("/admin/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/admin/login/")


def test_openapi_schema_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    schema = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(schema))
    text = schema.read_text()
    for path in ("/api/v1/auth/login", "/api/v1/auth/phone/verify", "/api/v1/me/events"):
        assert f"{path}:" in text
    assert "bearerAuth" in text

"""Start-up safety, checked in fresh processes with production-like environments."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from keyhouse.delivery.testing import free_port
from keyhouse.testing import call_api

# The same in both test passes: each process gets its own SQLite and settings.
pytestmark = pytest.mark.own_services

PRODUCTION_ENV = {
    "SECRET_KEY": "x7#kP2-production-like-secret-key-for-the-deploy-check-9fQ!zR4vW8mN",
    "ALLOWED_HOSTS": "auth.example.com",
    "KEYHOUSE_JWT_ISSUER": "https://auth.example.com",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    "EMAIL_URL": "smtp+tls://keyhouse%40example.com:app-password@smtp.example.com:587",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14",
}
CLEARED = {
    "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "SECURE_SSL_REDIRECT", "EMAIL_URL",
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "WEB_CONCURRENCY", "KEYHOUSE_JWT_ISSUER",
}  # fmt: skip


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run our Python in a fresh process, in the project, with only ``env`` configured."""
    clean = {key: value for key, value in os.environ.items() if key not in CLEARED}
    return subprocess.run(  # noqa: S603
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_python(str(Path(settings.BASE_DIR) / "manage.py"), *args, env=env)


@pytest.fixture(scope="module")
def migrated_databases(tmp_path_factory) -> tuple[Path, Path]:
    """Two migrated databases: the first with a signing key, the second without."""
    folder = tmp_path_factory.mktemp("deploy")
    with_key, without_key = folder / "keyhouse.sqlite3", folder / "nokey.sqlite3"
    env = {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{with_key}"}
    assert run_manage("migrate", "--no-input", env=env).returncode == 0
    shutil.copyfile(with_key, without_key)
    assert run_manage("rotate_signing_key", env=env).returncode == 0
    return with_key, without_key


@pytest.fixture
def ready_env(migrated_databases) -> dict[str, str]:
    """A production-like environment on a migrated database with a signing key."""
    return {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{migrated_databases[0]}"}


def test_check_deploy_is_clean_in_production_settings(ready_env):
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=ready_env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("name", ["SECRET_KEY", "ALLOWED_HOSTS", "KEYHOUSE_JWT_ISSUER"])
def test_refuses_to_start_without_a_required_setting_in_one_line(name):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != name}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert result.stderr.startswith(f"Keyhouse cannot start: {name} is not set")
    assert len(result.stderr.splitlines()) == 1


def test_gunicorn_refuses_to_start_without_a_secret_key_in_one_line():
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != "SECRET_KEY"}
    gunicorn = ("-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi")
    result = run_python(*gunicorn, env={**env, "GUNICORN_BIND": "127.0.0.1:0"})
    assert result.returncode != 0
    assert "Keyhouse cannot start: SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_gunicorn_forks_its_workers_without_a_database_connection(ready_env, tmp_path):
    # Workers forked with the checks' open connection would share its socket: under
    # load their queries interleave and PostgreSQL answers them out of turn.
    program = (
        "import runpy\n"
        "from django.db import connections\n"
        "runpy.run_path('config/gunicorn.py')['on_starting'](None)\n"
        "print([alias for alias in connections if connections[alias].connection is not None])"
    )
    env = {**ready_env, "WEB_CONCURRENCY": "1", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m")}
    result = run_python("-c", program, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"SECRET_KEY": "short"}, "core.E010"),
        ({"SECRET_KEY": "django-insecure-" + "a1b2c3d4e5" * 5}, "core.E010"),
        ({"WEB_CONCURRENCY": "4"}, "core.E011"),
    ],
    ids=["short-secret", "default-secret", "in-process-cache-with-workers"],
)
def test_deploy_check_refuses_unsafe_settings(ready_env, change, error):
    result = run_manage("check", "--deploy", env={**ready_env, **change})
    assert result.returncode != 0
    assert error in result.stderr


def test_deploy_check_warns_of_mail_sent_inline_without_a_broker(ready_env):
    env = {key: value for key, value in ready_env.items() if key != "CELERY_BROKER_URL"}
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode == 0
    assert "core.W014" in result.stderr


def test_deploy_check_refuses_unapplied_migrations(tmp_path):
    env = {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "core.E013" in result.stderr
    assert "migrate" in result.stderr


def test_deploy_check_refuses_a_missing_signing_key(migrated_databases):
    env = {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{migrated_databases[1]}"}
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "tokens.E001" in result.stderr


def test_deploy_check_warns_of_a_cookie_transport_no_origin_can_use(ready_env):
    env = {**ready_env, "KEYHOUSE_REFRESH_TOKEN_TRANSPORT": "cookie"}
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode == 0
    assert "core.W020" in result.stderr
    configured = {**env, "CORS_ALLOWED_ORIGINS": "https://app.example.com"}
    assert "core.W020" not in run_manage("check", "--deploy", env=configured).stderr


PRINT_ORIGINS = "from django.conf import settings; print(' '.join(settings.CORS_ALLOWED_ORIGINS))"


@pytest.mark.parametrize(
    ("env", "origins"),
    [
        ({}, ""),
        ({"CORS_ALLOWED_ORIGINS": "https://app.example.com"}, "https://app.example.com"),
        ({"DEBUG": "1"}, "http://localhost:3000 http://127.0.0.1:3000"),
        (
            {"DEBUG": "1", "KEYHOUSE_DEV_ORIGINS": "http://localhost:5173"},
            "http://localhost:3000 http://127.0.0.1:3000 http://localhost:5173",
        ),
    ],
    ids=["production-allows-none", "configured", "make-run", "make-run-with-dev-origins"],
)
def test_allowed_origins_by_mode(env, origins):
    result = run_manage("shell", "-v", "0", "-c", PRINT_ORIGINS, env={**PRODUCTION_ENV, **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == origins


def test_make_run_issues_tokens_for_the_port_it_serves(tmp_path):
    port = free_port()
    env = {
        "SECRET_KEY": PRODUCTION_ENV["SECRET_KEY"],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'keyhouse.sqlite3'}",
    }
    clean = {key: value for key, value in os.environ.items() if key not in CLEARED}
    log = tmp_path / "run.log"
    # Installing and the development key are make run's other steps, not under test.
    command = ["make", "-o", "deps", "-o", "var/secret_key", "run", f"PORT={port}"]
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: S603
            command,
            cwd=settings.BASE_DIR,
            env={**clean, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # runserver's reloader starts a child: stop both
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _status, discovery = call_api(base, "GET", "/.well-known/openid-configuration")
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    assert discovery["issuer"] == base
    assert discovery["jwks_uri"] == f"{base}/.well-known/jwks.json"

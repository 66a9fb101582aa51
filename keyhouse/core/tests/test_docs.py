"""The README and docs/ against the code: every page found, every variable listed, every
phone number in an example one that Keyhouse accepts."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import phonenumbers
from django.conf import settings

BASE = settings.BASE_DIR
README = BASE / "README.md"
DOCS = BASE / "docs"
CONFIGURATION = DOCS / "configuration.md"
RATE_LIMIT_PREFIX = "KEYHOUSE_RATE_LIMIT_"
ENV_READERS = {"str", "int", "bool", "list", "float", "path", "db_url", "url", "json", "dict"}
PHONE_IN_EXAMPLE = re.compile(r'"phone": "(\+[0-9 ]+)"')


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _source_files() -> list[Path]:
    files = [BASE / "manage.py", *sorted((BASE / "config").glob("*.py"))]
    modules = sorted((BASE / "keyhouse").rglob("*.py"))
    return files + [path for path in modules if "tests" not in path.parts]


def _variable_name(node: ast.expr | None, where: Path) -> str | None:
    """The variable a call reads, or a f-string's prefix followed by ``*``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        head = node.values[0]
        prefix = head.value if isinstance(head, ast.Constant) else None
        assert prefix == RATE_LIMIT_PREFIX, (
            f"{where.relative_to(BASE)}:{node.lineno} reads a variable whose name is computed; "
            "name it literally so that docs/configuration.md can be checked"
        )
        return f"{RATE_LIMIT_PREFIX}*"
    return None


def _variables_read(path: Path) -> set[str]:
    """Names of the environment variables a module reads (django-environ or os.environ)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            target, method = node.func.value, node.func.attr
            reads_env = isinstance(target, ast.Name) and target.id == "env"
            reads_env = reads_env and method in ENV_READERS
            reads_os = ast.unparse(target) == "os.environ" and method in ("get", "setdefault")
            reads_os = reads_os or ast.unparse(node.func) == "os.getenv"
            if reads_env or reads_os:
                names.add(_variable_name(node.args[0], path))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and ast.unparse(node.value) == "os.environ"
        ):
            names.add(_variable_name(node.slice, path))
    names.discard(None)
    return names


def test_every_docs_page_is_linked_from_the_readme():
    readme = README.read_text()
    for page in DOCS.glob("*.md"):
        assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


def test_the_readme_stays_a_front_door():
    assert len(README.read_text().splitlines()) <= 200


def test_every_environment_variable_read_is_in_the_configuration_reference():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", CONFIGURATION.read_text()))
    read = set().union(*(_variables_read(path) for path in _source_files()))
    assert {"SECRET_KEY", "GUNICORN_BIND", "KEYHOUSE_WORKER_METRICS_PORT"} <= read
    read.discard(f"{RATE_LIMIT_PREFIX}*")
    read |= {f"{RATE_LIMIT_PREFIX}{action.upper()}" for action in settings.KEYHOUSE_RATE_LIMITS}

    assert read - documented == set()


def test_every_phone_number_in_an_example_is_one_keyhouse_accepts():
    numbers = [number for page in _pages() for number in PHONE_IN_EXAMPLE.findall(page.read_text())]
    assert numbers
    for number in numbers:
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number

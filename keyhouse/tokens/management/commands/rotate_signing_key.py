from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from keyhouse.tokens.keys import ALGORITHMS, SigningKeyError
from keyhouse.tokens.models import SigningKey
from keyhouse.tokens.services import signing_key_rotate


class Command(BaseCommand):
    help = (
        "Make a new signing key the signer of access tokens. Older keys stay published "
        "in the JWKS until every token they signed has expired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--algorithm",
            choices=ALGORITHMS,
            help="Algorithm of a generated key (default: KEYHOUSE_JWT_ALGORITHM).",
        )
        parser.add_argument(
            "--pem",
            help="Import this unencrypted PEM private key instead of generating one "
            "('-' reads it from standard input, e.g. from an environment variable).",
        )
        parser.add_argument(
            "--now",
            action="store_true",
            help="Sign with the new key at once instead of after the activation delay "
            "(when the current key may have leaked; verifiers that cached the JWKS "
            "refuse new tokens until they refetch it).",
        )
        parser.add_argument(
            "--withdraw-old",
            action="store_true",
            help="Also unpublish the older keys, so that every token they signed is refused "
            "(by every running process from its next request); for a key known to have "
            "leaked. Implies --now. Clients refresh to get new tokens.",
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing when a signing key exists already (for first runs).",
        )

    def handle(self, *args: Any, algorithm: str | None, pem: str | None, **options: Any) -> None:
        if options["if_missing"] and SigningKey.objects.filter(retired_at__isnull=True).exists():
            self.stdout.write("A signing key exists; nothing to do.")
            return
        pem_bytes = None
        if pem == "-":
            pem_bytes = sys.stdin.buffer.read()
        elif pem:
            try:
                pem_bytes = Path(pem).read_bytes()
            except OSError as exc:
                raise CommandError(f"Cannot read {pem}: {exc.strerror}") from exc
        try:
            key = signing_key_rotate(
                algorithm=algorithm,
                pem=pem_bytes,
                immediately=options["now"],
                withdraw=options["withdraw_old"],
            )
        except SigningKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"New signing key {key.kid} ({key.algorithm}), published now, "
                f"signing from {key.activates_at:%Y-%m-%d %H:%M:%S %Z}."
            )
        )

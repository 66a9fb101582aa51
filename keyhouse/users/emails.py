"""Email addresses: the one canonical form, and the check that mail can reach a domain.

Every address that Keyhouse stores, mails, counts against a limit, throttles or shows
in the admin goes through ``email_canonical`` first, so that two spellings of one
address are one account, one pending sign-up, one code target and one counter.
"""

from __future__ import annotations

import contextlib

import idna
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext_lazy as _


def _encode_domain(domain: str) -> str:
    return idna.encode(domain, uts46=True).decode("ascii")


def email_canonical(email: str) -> str:
    """Return the canonical form of an address: trimmed, lower-cased, domain IDNA-encoded.

    RFC 5321 section 2.4 lets a server tell local parts apart by case, but the mail
    providers people use do not, and "Ada@" and "ada@" must not be two accounts. A
    domain IDNA cannot encode is only lower-cased, so that any input has a form (a
    lookup of it finds no one): ``validate_email_domain`` keeps it out of storage.
    The function is idempotent, so a form it returned may be passed through it again.
    """
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at:
        return email.lower()
    with contextlib.suppress(idna.IDNAError):
        domain = _encode_domain(domain)
    return f"{local}@{domain}".lower()


def validate_email_domain(email: str) -> None:
    """Refuse an address whose domain IDNA cannot encode, as no mail could reach it.

    EmailValidator accepts a label of 63 characters, which can pass DNS's limit of 63
    bytes once in Punycode ("ß" * 63). Only names it accepts are checked here: address
    literals and malformed names are its to judge, so an address gets one error.
    """
    domain = email.rpartition("@")[2]
    if not EmailValidator.domain_regex.match(domain):
        return
    try:
        _encode_domain(domain)
    except idna.IDNAError:
        raise ValidationError(
            _("Enter a valid email address: its domain cannot be encoded for DNS."),
            code="invalid",
        ) from None

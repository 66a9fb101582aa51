"""Django's createsuperuser, refusing an address that is taken in any letter case.

Django looks for an existing user only when the username field is unique by itself;
User.email is unique through a constraint on LOWER(email) instead, which it does not
see, so a taken address would reach the database and fail there with a traceback.
"""

from __future__ import annotations

from django.contrib.auth.management.commands import createsuperuser


class Command(createsuperuser.Command):
    username_is_unique = True  # get_by_natural_key compares addresses case-insensitively

"""Password hashing at OWASP's Argon2id parameters.

Django's Argon2 hasher uses 100 MiB and 8 lanes a hash, so a burst of concurrent
logins can exhaust a worker's memory. OWASP's Password Storage Cheat Sheet sets
m=19 MiB, t=2, p=1 as the baseline. Hashes made with other parameters still verify
and are re-hashed with these at the next successful login.
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1

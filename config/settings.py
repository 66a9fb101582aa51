"""Keyhouse settings, all read from environment variables.

The embedded defaults run with nothing else installed: SQLite under var/, an
in-process cache, mail and SMS printed to the console and background work run
inline. Production sets DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, EMAIL_URL and
friends; with DEBUG off the service refuses to start without a secret key and
allowed hosts. docs/configuration.md lists every variable.
"""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    dev_key = VAR_DIR / "secret_key"
    if DEBUG and dev_key.exists():
        return dev_key.read_text().strip()
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it in the environment (at least 50 random characters); "
        "only DEBUG=1 with var/secret_key (made by 'make run') may run without it."
    )


def _jwt_issuer() -> str:
    issuer = env.str("KEYHOUSE_JWT_ISSUER", default="")
    if issuer:
        return issuer
    if DEBUG:
        # 'make run' sets it from HOST and PORT; this is runserver's own default address.
        return "http://127.0.0.1:8000"
    raise ImproperlyConfigured(
        "KEYHOUSE_JWT_ISSUER is not set. Set it to the URL clients reach Keyhouse at "
        "(e.g. https://auth.example.com): access tokens name it as their issuer."
    )


def _allowed_hosts() -> list[str]:
    hosts = env.list("ALLOWED_HOSTS", default=[])
    if hosts:
        return hosts
    if DEBUG:
        return ["localhost", "127.0.0.1", "[::1]"]
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. Set it to the comma-separated host names Keyhouse serves."
    )


SECRET_KEY = _secret_key()
# Earlier secret keys, still accepted while what they signed or encrypted is in use.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = _allowed_hosts()

INSTALLED_APPS = [
    # Before django.contrib.auth, so that its createsuperuser command takes precedence.
    "keyhouse.users",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "phonenumber_field",
    "keyhouse.core",
    "keyhouse.codes",
    "keyhouse.delivery",
    "keyhouse.audit",
    "keyhouse.tokens",
    "keyhouse.mfa",
    "keyhouse.accounts",
    "keyhouse.gotrue",
    "keyhouse.identities",
]

MIDDLEWARE = [
    "keyhouse.core.middleware.RequestObservabilityMiddleware",
    # Before anything that could refuse a request: preflights are answered here.
    "keyhouse.core.cors.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "keyhouse.core.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "keyhouse.core.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names another (postgres://...).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'keyhouse.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite ignores SELECT ... FOR UPDATE, and a transaction that reads and then
    # writes fails at once with "database is locked" when another one wrote in
    # between. Taking the write lock at BEGIN (IMMEDIATE) makes concurrent writers
    # queue for up to "timeout" seconds instead, which serialises them as the row
    # locks do on PostgreSQL. WAL lets reads go on while one transaction writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache (rate limits, revocation list): in-process memory unless REDIS_URL is set.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="keyhouse"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    # Past MAX_ENTRIES the in-process cache drops its least recently used entries, and
    # a dropped revocation would let a signed-out session's access tokens back in. The
    # default of 300 is soon reached by rate-limit counters; entries are small (about
    # 330 bytes) and expire, so a flood must be far larger before anything is dropped.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    }

AUTH_USER_MODEL = "users.User"
# User.email is unique through a constraint on LOWER(email), which is stricter than the
# plain unique index this check asks for (it would let Foo@x.com and foo@x.com coexist).
SILENCED_SYSTEM_CHECKS = ["auth.E003"]
PASSWORD_HASHERS = [
    "keyhouse.core.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# NIST SP 800-63B: at least 8 characters, no composition rules, long passphrases
# accepted, common and user-similar passwords refused.
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "display_name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the app directories until collectstatic has run
# (the embedded mode and the test suite); production runs collectstatic.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
WHITENOISE_AUTOREFRESH = DEBUG

# Request bodies above 1 MiB are refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# HTTPS: on by default without DEBUG. Behind a TLS-terminating proxy, set
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO so Django trusts its scheme header.
_proxy_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
SECURE_PROXY_SSL_HEADER = (_proxy_header, "https") if _proxy_header else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"

# Browser apps on other origins (CORS), on the API and /.well-known/ alone. Production
# allows no origin until CORS_ALLOWED_ORIGINS (comma-separated, e.g.
# https://app.example.com) or CORS_ALLOWED_ORIGIN_REGEXES (space-separated, each matching
# a whole origin) names some; with DEBUG (make run) the usual frontend dev servers and
# KEYHOUSE_DEV_ORIGINS are allowed too. Allowed origins may send credentials (the
# refresh cookie); no wildcard is ever granted.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
if DEBUG:
    CORS_ALLOWED_ORIGINS += [
        "http://localhost:3000",
        "http://127.0.0.1:3000",
        *env.list("KEYHOUSE_DEV_ORIGINS", default=[]),
    ]
CORS_ALLOWED_ORIGIN_REGEXES = env.str("CORS_ALLOWED_ORIGIN_REGEXES", default="").split()
CORS_URLS_REGEX = r"^/(?:api/v1/|auth/v1/|\.well-known/)"
CORS_ALLOW_CREDENTIALS = True
# apikey, x-client-info and x-supabase-api-version: what supabase-js sends to /auth/v1/.
CORS_ALLOW_HEADERS = (
    "authorization",
    "content-type",
    "x-keyhouse-client",
    "x-request-id",
    "apikey",
    "x-client-info",
    "x-supabase-api-version",
)
CORS_EXPOSE_HEADERS = ("Retry-After", "X-Request-ID", "WWW-Authenticate", "X-Supabase-Api-Version")
# How long browsers may reuse a preflight's answer (Chromium keeps it 2 hours at most).
CORS_PREFLIGHT_MAX_AGE = env.int("CORS_PREFLIGHT_MAX_AGE", default=7200)


# Email: printed to the console unless EMAIL_URL is set, for example
# smtp+tls://you%40gmail.com:app-password@smtp.gmail.com:587
def _mailers() -> dict:
    url = env.str("EMAIL_URL", default="")
    if not url:
        return {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
    config = env.email_url_config(url)
    return {
        "default": {
            "BACKEND": config["EMAIL_BACKEND"],
            "OPTIONS": {
                "host": config["EMAIL_HOST"],
                "port": config["EMAIL_PORT"],
                "username": config["EMAIL_HOST_USER"] or None,
                "password": config["EMAIL_HOST_PASSWORD"] or None,
                "use_tls": config.get("EMAIL_USE_TLS", False),
                "use_ssl": config.get("EMAIL_USE_SSL", False),
                "timeout": env.int("EMAIL_TIMEOUT", default=10),
            },
        }
    }


MAILERS = _mailers()
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Keyhouse <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: tasks run inline unless a broker is configured.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING, as JSON in production

PHONENUMBER_DEFAULT_REGION = env.str("PHONENUMBER_DEFAULT_REGION", default="") or None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["keyhouse.tokens.authentication.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "keyhouse.mfa.permissions.MfaPolicySatisfied",
    ],
    "DEFAULT_PARSER_CLASSES": ["keyhouse.core.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "keyhouse.core.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "keyhouse.core.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Keyhouse API",
    "DESCRIPTION": (
        "Sign users up, verify them with one-time codes, sign them in and issue JWT access "
        "tokens. Every error is a Problem Details object (RFC 9457) with a stable `code`; "
        "each operation lists the codes of each status. OAuth form requests get OAuth errors "
        "(RFC 6749 section 5.2) instead. Text fields refuse NUL characters."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are public documentation: no credentials are read, so a
    # stale bearer token left in a browser or client does not break them.
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # WebAuthn's credential "type", beside the other enums of fields named "type".
    "ENUM_NAME_OVERRIDES": {"PublicKeyCredentialTypeEnum": ["public-key"]},
}

# Logs: one JSON object a line in production (LOG_FORMAT=json, the default with DEBUG
# off), readable text under make run. Every record carries request_id and user_id.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "keyhouse.core.context.RequestContextFilter"}},
    "formatters": {
        "json": {
            "()": "keyhouse.core.logformat.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Keyhouse's access log replaces Django's per-error request warnings.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR" if LOG_FORMAT == "json" else "INFO"},
        # Celery logs a task's arguments (which may hold a one-time code) when it runs
        # one inline or retries it; Twilio's SDK logs every request. Keep both quiet.
        "celery.app.trace": {"level": "WARNING"},
        "twilio.http_client": {"level": "WARNING"},
    },
}

# Prometheus metrics at /metrics: for a scraper with KEYHOUSE_METRICS_TOKEN as bearer
# token, or without a token from the networks listed (loopback by default).
KEYHOUSE_METRICS_TOKEN = env.str("KEYHOUSE_METRICS_TOKEN", default="")
KEYHOUSE_METRICS_ALLOWED_NETWORKS = env.list(
    "KEYHOUSE_METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"]
)

# Client addresses: believe a proxy's header only when named, e.g. HTTP_X_FORWARDED_FOR,
# and take the entry added by the outermost of KEYHOUSE_TRUSTED_PROXY_COUNT proxies.
KEYHOUSE_TRUSTED_PROXY_HEADER = env.str("KEYHOUSE_TRUSTED_PROXY_HEADER", default="")
KEYHOUSE_TRUSTED_PROXY_COUNT = env.int("KEYHOUSE_TRUSTED_PROXY_COUNT", default=1)

# Tokens and sessions.
KEYHOUSE_JWT_ALGORITHM = env.str("KEYHOUSE_JWT_ALGORITHM", default="RS256")
KEYHOUSE_JWT_ISSUER = _jwt_issuer()
KEYHOUSE_JWT_AUDIENCE = env.str("KEYHOUSE_JWT_AUDIENCE", default="keyhouse")
# The client_id (RFC 9068) of Keyhouse's own apps, public clients without a secret.
KEYHOUSE_DEFAULT_CLIENT_ID = env.str("KEYHOUSE_DEFAULT_CLIENT_ID", default="keyhouse")
KEYHOUSE_ACCESS_TOKEN_LIFETIME = env.int("KEYHOUSE_ACCESS_TOKEN_LIFETIME", default=15 * 60)
KEYHOUSE_JWT_LEEWAY = env.int("KEYHOUSE_JWT_LEEWAY", default=10)
KEYHOUSE_JWT_CHECK_REVOCATION = env.bool("KEYHOUSE_JWT_CHECK_REVOCATION", default=True)
KEYHOUSE_KEYRING_TTL = env.int("KEYHOUSE_KEYRING_TTL", default=60)
KEYHOUSE_SESSION_IDLE_TIMEOUT = env.int("KEYHOUSE_SESSION_IDLE_TIMEOUT", default=30 * 86400)
KEYHOUSE_SESSION_ABSOLUTE_LIFETIME = env.int(
    "KEYHOUSE_SESSION_ABSOLUTE_LIFETIME", default=90 * 86400
)
KEYHOUSE_REFRESH_GRACE_PERIOD = env.int("KEYHOUSE_REFRESH_GRACE_PERIOD", default=10)
# "body" returns refresh tokens in JSON; "cookie" sets them in an HttpOnly cookie.
# Clients may ask for either per request with "refresh_token_transport".
KEYHOUSE_REFRESH_TOKEN_TRANSPORT = env.str("KEYHOUSE_REFRESH_TOKEN_TRANSPORT", default="body")
KEYHOUSE_REFRESH_COOKIE_NAME = env.str("KEYHOUSE_REFRESH_COOKIE_NAME", default="keyhouse_refresh")
KEYHOUSE_REFRESH_COOKIE_SECURE = env.bool("KEYHOUSE_REFRESH_COOKIE_SECURE", default=not DEBUG)
# SameSite: Strict (the default) sends the cookie only from pages of Keyhouse's own site;
# Lax also on top-level navigations; None from any site, which needs Secure, and then a
# refresh must come from an allowed origin. DOMAIN (e.g. example.com) shares the cookie
# with subdomains; PATH defaults to the refresh endpoint's.
KEYHOUSE_REFRESH_COOKIE_SAMESITE = env.str(
    "KEYHOUSE_REFRESH_COOKIE_SAMESITE", default="Strict"
).capitalize()
KEYHOUSE_REFRESH_COOKIE_DOMAIN = env.str("KEYHOUSE_REFRESH_COOKIE_DOMAIN", default="") or None
KEYHOUSE_REFRESH_COOKIE_PATH = env.str("KEYHOUSE_REFRESH_COOKIE_PATH", default="")

# One-time codes and delivery
KEYHOUSE_PRODUCT_NAME = env.str("KEYHOUSE_PRODUCT_NAME", default="Keyhouse")
KEYHOUSE_SUPPORT_EMAIL = env.str("KEYHOUSE_SUPPORT_EMAIL", default="")
KEYHOUSE_CODE_LENGTH = env.int("KEYHOUSE_CODE_LENGTH", default=6)
KEYHOUSE_CODE_TTL = env.int("KEYHOUSE_CODE_TTL", default=10 * 60)  # seconds
KEYHOUSE_CODE_MAX_ATTEMPTS = env.int("KEYHOUSE_CODE_MAX_ATTEMPTS", default=5)
KEYHOUSE_CODE_RESEND_COOLDOWN = env.int("KEYHOUSE_CODE_RESEND_COOLDOWN", default=60)  # seconds
# Rates are "<count>/<period>", the period in s, m, h or d, optionally with a number: "10/15m".
KEYHOUSE_CODE_RATE_PER_TARGET = env.str("KEYHOUSE_CODE_RATE_PER_TARGET", default="5/h")
KEYHOUSE_CODE_RATE_PER_IP = env.str("KEYHOUSE_CODE_RATE_PER_IP", default="20/h")
KEYHOUSE_CODE_RETENTION_DAYS = env.int("KEYHOUSE_CODE_RETENTION_DAYS", default=1)
KEYHOUSE_DELIVERY_MAX_RETRIES = env.int("KEYHOUSE_DELIVERY_MAX_RETRIES", default=5)
# Retries wait BACKOFF, 2 x BACKOFF, 4 x BACKOFF... seconds, at most BACKOFF_MAX.
KEYHOUSE_DELIVERY_RETRY_BACKOFF = env.int("KEYHOUSE_DELIVERY_RETRY_BACKOFF", default=2)
KEYHOUSE_DELIVERY_RETRY_BACKOFF_MAX = env.int("KEYHOUSE_DELIVERY_RETRY_BACKOFF_MAX", default=600)
KEYHOUSE_DELIVERY_RETENTION_DAYS = env.int("KEYHOUSE_DELIVERY_RETENTION_DAYS", default=30)
# End of one-time codes and delivery

# Sensitive operations (change email, delete account, ...) need a password or code
# check in the session within this many seconds.
KEYHOUSE_REAUTHENTICATION_WINDOW = env.int("KEYHOUSE_REAUTHENTICATION_WINDOW", default=10 * 60)

# Who must have a second factor: "optional" (whoever enrols one), "required_for_staff"
# or "required". A session of an account the policy covers that has no factor yet can
# only enrol one (403 mfa_enrollment_required elsewhere); its tokens say aal1.
KEYHOUSE_MFA_POLICY = env.str("KEYHOUSE_MFA_POLICY", default="optional")


# Passkeys (WebAuthn). The relying party ID is the domain passkeys are bound to: the
# issuer's host or a parent domain of it that every app's origin falls under (e.g.
# example.com for auth.example.com and app.example.com). Browsers take no IP address
# as one, so make run's issuer at 127.0.0.1 gives "localhost". The origins whose pages
# may use passkeys default to the CORS origins under the relying party ID.
def _webauthn_rp_id() -> str:
    rp_id = env.str("KEYHOUSE_WEBAUTHN_RP_ID", default="")
    if rp_id:
        return rp_id
    host = urlsplit(KEYHOUSE_JWT_ISSUER).hostname or "localhost"
    try:
        ip_address(host)
    except ValueError:
        return host
    return "localhost" if DEBUG else host


def _origin_under(origin: str, rp_id: str) -> bool:
    host = urlsplit(origin).hostname or ""
    return host == rp_id or host.endswith(f".{rp_id}")


KEYHOUSE_WEBAUTHN_RP_ID = _webauthn_rp_id()
KEYHOUSE_WEBAUTHN_RP_NAME = env.str("KEYHOUSE_WEBAUTHN_RP_NAME", default=KEYHOUSE_PRODUCT_NAME)
KEYHOUSE_WEBAUTHN_ORIGINS = env.list(
    "KEYHOUSE_WEBAUTHN_ORIGINS",
    default=[
        origin for origin in CORS_ALLOWED_ORIGINS if _origin_under(origin, KEYHOUSE_WEBAUTHN_RP_ID)
    ],
)

# Rate limits per action: comma-separated "N/period/key" rules, key being ip, target
# (the email or phone in the request) or user. Override one with its variable, e.g.
# KEYHOUSE_RATE_LIMIT_LOGIN="60/m/ip"; an empty value turns it off. A target rule counts
# requests before any password or code is checked, so anyone can spend it for someone
# else's address: the defaults key on the IP only. Wrong passwords are throttled per
# account below, and each code allows KEYHOUSE_CODE_MAX_ATTEMPTS wrong tries.
_RATE_LIMIT_DEFAULTS = {
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "email_verify": "30/m/ip",
    "email_resend": "20/m/ip",
    "password_forgot": "20/m/ip",
    "password_reset": "20/m/ip",
    "token_refresh": "60/m/ip",
    "token_revoke": "60/m/ip",
    "phone_send_code": "20/m/ip",
    "email_send_code": "20/m/ip",
    "phone_verify": "30/m/ip",
    "reauthenticate": "10/m/user",
    "password_change": "5/m/user",
    "email_change": "10/m/user",
    "phone_change": "10/m/user",
    "mfa_verify": "30/m/ip",
    "mfa_enrol": "10/m/user",
    "mfa_confirm": "10/m/user",
    "mfa_remove": "10/m/user",
    "mfa_list": "60/m/user",
    "mfa_recovery_codes": "5/m/user",
    "passkey_options": "30/m/ip",
    "passkey_verify": "30/m/ip",
    "passkey_register_options": "10/m/user",
    "passkey_register": "10/m/user",
    "passkey_list": "60/m/user",
    "passkey_update": "10/m/user",
    "passkey_remove": "10/m/user",
    "oauth_authorize": "30/m/ip",
    "oauth_callback": "30/m/ip",
    "oauth_id_token": "30/m/ip",
    "oauth_link": "10/m/ip",
    "oauth_link_code": "10/m/ip",
    "identity_add": "10/m/user",
    "identity_remove": "10/m/user",
}
KEYHOUSE_RATE_LIMITS = {
    action: env.str(f"KEYHOUSE_RATE_LIMIT_{action.upper()}", default=spec)
    for action, spec in _RATE_LIMIT_DEFAULTS.items()
}
# Failed password sign-ins: first per account and client IP, then per account from
# anywhere. Both windows end on their own; a correct password or a password reset
# clears them, from every IP.
KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP = env.str(
    "KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT_IP", default="5/15m"
)
KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT = env.str("KEYHOUSE_LOGIN_FAILURES_PER_ACCOUNT", default="20/h")

# How long "manage.py purge_expired" keeps audit events and ended sessions.
KEYHOUSE_AUDIT_RETENTION_DAYS = env.int("KEYHOUSE_AUDIT_RETENTION_DAYS", default=365)
KEYHOUSE_SESSION_RETENTION_DAYS = env.int("KEYHOUSE_SESSION_RETENTION_DAYS", default=30)

# SMS
# Messages go through KEYHOUSE_SMS_BACKEND: printed to the console by default,
# "keyhouse.delivery.sms.memory.MemoryBackend" in tests, or
# "keyhouse.delivery.sms.twilio.TwilioBackend" to send through Twilio.
KEYHOUSE_SMS_BACKEND = env.str(
    "KEYHOUSE_SMS_BACKEND", default="keyhouse.delivery.sms.console.ConsoleBackend"
)
# Who makes and checks the codes sent by SMS: "keyhouse" (sent through the backend
# above) or "twilio_verify" (Twilio Verify sends and checks them).
KEYHOUSE_SMS_CODES = env.str("KEYHOUSE_SMS_CODES", default="keyhouse")
# Ends code messages with the WebOTP line "@<domain> #<code>", so that browsers on
# that domain offer to fill the code in.
KEYHOUSE_SMS_WEBOTP_DOMAIN = env.str("KEYHOUSE_SMS_WEBOTP_DOMAIN", default="")
KEYHOUSE_TWILIO_ACCOUNT_SID = env.str("KEYHOUSE_TWILIO_ACCOUNT_SID", default="")
KEYHOUSE_TWILIO_AUTH_TOKEN = env.str("KEYHOUSE_TWILIO_AUTH_TOKEN", default="")
# The sender: a Messaging Service (sender pools, opt-out handling) or one number.
KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID = env.str("KEYHOUSE_TWILIO_MESSAGING_SERVICE_SID", default="")
KEYHOUSE_TWILIO_FROM_NUMBER = env.str("KEYHOUSE_TWILIO_FROM_NUMBER", default="")
KEYHOUSE_TWILIO_VERIFY_SERVICE_SID = env.str("KEYHOUSE_TWILIO_VERIFY_SERVICE_SID", default="")
KEYHOUSE_TWILIO_TIMEOUT = env.float("KEYHOUSE_TWILIO_TIMEOUT", default=10.0)  # seconds
# Where phone numbers may be, against SMS pumping: comma-separated country calling
# codes ("1,44") or ISO regions ("US,CA,GB"). An empty allow list allows everywhere.
KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES = env.list("KEYHOUSE_PHONE_ALLOWED_COUNTRY_CODES", default=[])
KEYHOUSE_PHONE_DENIED_COUNTRY_CODES = env.list("KEYHOUSE_PHONE_DENIED_COUNTRY_CODES", default=[])

# A code sent to a number that no account has creates an account when it is verified;
# false makes phone sign-in work only for numbers already verified by an account.
KEYHOUSE_PHONE_SIGNUP_ENABLED = env.bool("KEYHOUSE_PHONE_SIGNUP_ENABLED", default=True)

# A rotated-in signing key is published at once and signs this many seconds later:
# the JWKS's cache lifetime (300 s) plus each process's keyring lifetime.
KEYHOUSE_SIGNING_KEY_DELAY = env.int(
    "KEYHOUSE_SIGNING_KEY_DELAY", default=300 + KEYHOUSE_KEYRING_TTL
)

# Sign-in with other providers (docs/social-sign-in.md). A provider is on when its client
# id is set. AUDIENCES lists further client ids whose ID tokens the native flow accepts
# (an iOS or Android app's); SCOPES replace the default scopes.
KEYHOUSE_GOOGLE_CLIENT_ID = env.str("KEYHOUSE_GOOGLE_CLIENT_ID", default="")
KEYHOUSE_GOOGLE_CLIENT_SECRET = env.str("KEYHOUSE_GOOGLE_CLIENT_SECRET", default="")
KEYHOUSE_GOOGLE_AUDIENCES = env.list("KEYHOUSE_GOOGLE_AUDIENCES", default=[])
KEYHOUSE_GOOGLE_SCOPES = env.str("KEYHOUSE_GOOGLE_SCOPES", default="openid email profile")
# Apple: the Services ID as client id; the client secret is a JWT signed with the key
# file (.p8) that Apple Developer issues, under its key id and the team id.
KEYHOUSE_APPLE_CLIENT_ID = env.str("KEYHOUSE_APPLE_CLIENT_ID", default="")
KEYHOUSE_APPLE_TEAM_ID = env.str("KEYHOUSE_APPLE_TEAM_ID", default="")
KEYHOUSE_APPLE_KEY_ID = env.str("KEYHOUSE_APPLE_KEY_ID", default="")
KEYHOUSE_APPLE_PRIVATE_KEY_FILE = env.str("KEYHOUSE_APPLE_PRIVATE_KEY_FILE", default="")
KEYHOUSE_APPLE_AUDIENCES = env.list("KEYHOUSE_APPLE_AUDIENCES", default=[])
KEYHOUSE_APPLE_SCOPES = env.str("KEYHOUSE_APPLE_SCOPES", default="openid email name")
KEYHOUSE_GITHUB_CLIENT_ID = env.str("KEYHOUSE_GITHUB_CLIENT_ID", default="")
KEYHOUSE_GITHUB_CLIENT_SECRET = env.str("KEYHOUSE_GITHUB_CLIENT_SECRET", default="")
KEYHOUSE_GITHUB_SCOPES = env.str("KEYHOUSE_GITHUB_SCOPES", default="read:user user:email")
# Any OpenID Connect provider, by name: a JSON object such as
# {"acme": {"issuer": "https://id.acme.com", "client_id": "...", "client_secret": "..."}}.
KEYHOUSE_OIDC_PROVIDERS = env.json("KEYHOUSE_OIDC_PROVIDERS", default={})
# A provider identity that matches no account creates one; false refuses it instead.
KEYHOUSE_OAUTH_SIGNUP_ENABLED = env.bool("KEYHOUSE_OAUTH_SIGNUP_ENABLED", default=True)
# The exact URLs a sign-in with a provider may send its code back to (comma-separated);
# empty: any URL on one of CORS_ALLOWED_ORIGINS. Production should list them.
KEYHOUSE_OAUTH_REDIRECT_URIS = env.list("KEYHOUSE_OAUTH_REDIRECT_URIS", default=[])
# Seconds Keyhouse waits for a provider's discovery, keys, token or API endpoint.
KEYHOUSE_OAUTH_HTTP_TIMEOUT = env.float("KEYHOUSE_OAUTH_HTTP_TIMEOUT", default=10.0)

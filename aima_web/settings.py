"""AIMA control-plane settings: every knob comes from the environment.

With nothing set, AIMA runs on the embedded default (SQLite under ``var/``, the
filesystem broker); ``DATABASE_URL`` and ``AIMA_BROKER_URL`` move it onto
PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from aima_tasks import broker
from aima_tasks.kernel import limits
from aima_web.accounts.secret_key import embedded_secret_key
from aima_web.environment import env_bool, env_float, env_int, env_rate

BASE_DIR = broker.PROJECT_ROOT
VAR_DIR = broker.var_dir()

# Debug pages show settings and the environment: never on unless asked for.
DEBUG = env_bool("AIMA_DEBUG", False)

ALLOWED_HOSTS = [h for h in os.environ.get("AIMA_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
                 if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("AIMA_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    # The admin, on AIMA's site (a second factor for staff who enrolled one).
    "aima_web.accounts.admin_config.AimaAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "aima_web.core",
    "aima_web.accounts",
    "aima_web.audit",
    "aima_web.fleet",
    "aima_web.jobs",
    "aima_web.placement",
    "aima_web.instances",
    "aima_web.registry",
    "aima_web.privacy",
    "aima_web.access",
    # The operator's and the analyst's view (issue 17).
    "aima_web.monitoring",
    "aima_web.alerts",
    "aima_web.usage",
    "aima_web.uploads",
    "aima_web.taskmonitor",
    "aima_web.dashboard",
    "aima_web.analyst",
]

MIDDLEWARE = [
    # First: probes get their answer without a host name or HTTPS (core/health.py).
    "aima_web.core.health.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a lockout noticed during the request into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "aima_web.urls"
WSGI_APPLICATION = "aima_web.wsgi.application"

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

SQLITE_PATH = VAR_DIR / "aima.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{SQLITE_PATH}",
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web server, control worker and tests share the file across processes:
    # wait for a lock instead of failing, and keep the test database on disk
    # so that worker processes started by the tests see it.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("AIMA_SECRET_KEY", "")
if not SECRET_KEY:
    if not DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        # Processes on several machines share that database: one key for all of them
        # (it signs sessions and the agents' work tickets).
        raise ImproperlyConfigured("AIMA_SECRET_KEY must be set when DATABASE_URL is a "
                                   "database server")
    SECRET_KEY = embedded_secret_key(VAR_DIR / "secret_key")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("AIMA_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("AIMA_STATIC_ROOT") or VAR_DIR / "static")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so that an unauthenticated request gets 401 with a
        # WWW-Authenticate header rather than 403.
        "aima_web.accounts.authentication.ApiTokenAuthentication",
        "aima_web.accounts.authentication.VerifiedSessionAuthentication",
    ],
    # Answered 429 with Retry-After. Agents are counted per agent, not per address.
    "DEFAULT_THROTTLE_CLASSES": [
        "aima_web.accounts.throttles.AnonThrottle",
        "aima_web.accounts.throttles.UserThrottle",
        "aima_web.accounts.throttles.AgentThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("AIMA_THROTTLE_ANON", "60/minute"),
        "user": env_rate("AIMA_THROTTLE_USER", "1200/minute"),
        "agent": env_rate("AIMA_THROTTLE_AGENT", "1200/minute"),
    },
    # Each view names the capability (aima_web/access/roles.py) every action needs;
    # what it does not name, nobody may do.
    "DEFAULT_PERMISSION_CLASSES": ["aima_web.access.permissions.HasCapability"],
    # JSON nested deeper than a payload needs is a 400, not a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "aima_web.core.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # A database or broker that cannot be reached: 503 with Retry-After, never a 500.
    "EXCEPTION_HANDLER": "aima_web.core.faults.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # The proxies whose X-Forwarded-For entry is trusted for a client's address (by
    # the throttles and the lockout): one behind the HTTPS proxy, none otherwise.
    "NUM_PROXIES": 0,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "AIMA API",
    "DESCRIPTION": "GPU orchestration control plane for AI media analysis.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from the sidecar package: the docs page works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The 4xx and 503 answers every operation can give (aima_web/core/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "aima_web.core.schema.document_errors",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("AIMA_LOG_LEVEL", "INFO")},
}

# --- AIMA -------------------------------------------------------------------
AIMA_MEDIA_ROOT = Path(os.environ.get("AIMA_MEDIA_ROOT") or VAR_DIR / "media")
# Model artifacts, by content (manage.py aima_models add).
AIMA_MODEL_ROOT = Path(os.environ.get("AIMA_MODEL_ROOT") or VAR_DIR / "models")
AIMA_MAX_UPLOAD_BYTES = env_int("AIMA_MAX_UPLOAD_MB", 4096) * 1024 * 1024
# Uploads stream to AIMA_MEDIA_ROOT/incoming (never /tmp, never whole in memory), counted
# as they arrive and refused past AIMA_MAX_UPLOAD_MB.
FILE_UPLOAD_HANDLERS = ["aima_web.core.uploads.LimitedUploadHandler"]
# Pictures and video frames over this many pixels are refused from their headers, before
# any decoder allocates them (a 12000x12000 PNG is 420 KB on disk and 432 MB decoded).
# Agents read the same variable (aima_tasks/limits.py).
try:
    AIMA_MAX_PIXELS = limits.max_pixels()
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
# The keys that seal media and results at rest (manage.py aima_keys), outside the
# database. Only at the default path is a keyring made with a fresh key on first use:
# one an operator names must exist.
AIMA_KEYRING = Path(os.environ.get("AIMA_KEYRING") or VAR_DIR / "keys" / "keyring.json")
AIMA_KEYRING_CREATE = not os.environ.get("AIMA_KEYRING")
# How often the beat deletes media and results past their retention (admin → Privacy).
AIMA_RETENTION_S = env_int("AIMA_RETENTION_S", 3600)
# Video and audio longer than this are cut into segments of this many seconds, which
# agents of the chosen GPU class analyse in parallel; 0 turns segmenting off.
AIMA_SEGMENT_S = env_float("AIMA_SEGMENT_S", 120.0)
AIMA_MAX_SEGMENTS = env_int("AIMA_MAX_SEGMENTS", 200)
# An agent counts as online while its last heartbeat is younger than this.
AIMA_AGENT_OFFLINE_AFTER_S = env_int("AIMA_AGENT_OFFLINE_AFTER_S", 90)
# How often the beat moves the units of lost agents and failed GPUs (fleet/health.py).
AIMA_FLEET_HEALTH_S = env_int("AIMA_FLEET_HEALTH_S", 15)
# How long an enrollment token made by an admin works unless told otherwise.
AIMA_ENROLLMENT_TTL_S = env_int("AIMA_ENROLLMENT_TTL_S", 24 * 3600)
# GPU telemetry samples (one per GPU per heartbeat) are kept this long.
AIMA_GPU_HISTORY_S = env_int("AIMA_GPU_HISTORY_S", 3600)

# --- Stuck jobs (aima_web/jobs/sweeper.py) ----------------------------------------
# Every AIMA_SWEEP_S the beat sends again the step of a job stuck in a state longer
# than its age here: past the step's hard time limit (aima_tasks/policy.py).
AIMA_SWEEP_S = env_int("AIMA_SWEEP_S", 15)
AIMA_STALE_RECEIVED_S = env_int("AIMA_STALE_RECEIVED_S", 180)
AIMA_STALE_PROBING_S = env_int("AIMA_STALE_PROBING_S", 180)
AIMA_STALE_PLACING_S = env_int("AIMA_STALE_PLACING_S", 120)
AIMA_STALE_UNSENT_S = env_int("AIMA_STALE_UNSENT_S", 30)

# --- Audit trail (aima_web/audit) -------------------------------------------------
# Signed checkpoints of the audit chain's head, appended by the beat and by
# `aima_audit checkpoint`. They live outside the database so that deleting the
# newest events is detected: keep the file (or a copy) where whoever can write
# the database cannot.
AIMA_AUDIT_CHECKPOINTS = Path(os.environ.get("AIMA_AUDIT_CHECKPOINTS")
                              or VAR_DIR / "audit" / "checkpoints.jsonl")
AIMA_AUDIT_CHECKPOINT_S = env_int("AIMA_AUDIT_CHECKPOINT_S", 60)
# The checkpoints' HMAC key; empty: derived from SECRET_KEY (set it to keep old
# checkpoints verifiable across a change of secret key). Never in the database.
AIMA_AUDIT_KEY = os.environ.get("AIMA_AUDIT_KEY", "")

# --- Cloud instances, prices, pausing, deferral, warm capacity: settings_cloud.py
from aima_web.settings_cloud import *  # noqa: E402, F403  (Django reads this module only)

# --- The operator's view (issue 17) -----------------------------------------------
# GET /metrics wants "Authorization: Bearer <this>"; unset, it answers this machine only.
AIMA_METRICS_TOKEN = os.environ.get("AIMA_METRICS_TOKEN", "")
# Flower on the loopback, which /flower/ shows to operators.
AIMA_FLOWER_URL = os.environ.get("AIMA_FLOWER_URL", "http://127.0.0.1:5555").rstrip("/")
# AIMA's own alerts go by e-mail to staff (EMAIL_* below) and, when set, as a JSON POST here.
AIMA_ALERT_WEBHOOK_URL = os.environ.get("AIMA_ALERT_WEBHOOK_URL", "").strip()
# Outgoing e-mail; with no AIMA_EMAIL_HOST, mails go to the log (console backend).
EMAIL_HOST = os.environ.get("AIMA_EMAIL_HOST", "")
EMAIL_BACKEND = ("django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
                 else "django.core.mail.backends.console.EmailBackend")
EMAIL_PORT = env_int("AIMA_EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("AIMA_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("AIMA_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("AIMA_EMAIL_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("AIMA_EMAIL_FROM", "aima@localhost")

# --- Accounts and HTTPS (aima_web/accounts, deploy/README.md) -------------------
# Staff who enrolled a TOTP device give its code at the admin login; with this
# on, staff without one must enrol before any admin page opens.
AIMA_REQUIRE_MFA = env_bool("AIMA_REQUIRE_MFA", False)
OTP_TOTP_ISSUER = "AIMA"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Lockout (django-axes): after this many wrong passwords for one username, from
# anywhere, the account refuses every login, the right password included, for
# AIMA_LOCKOUT_MINUTES after the last attempt; as many from one address (tried on
# any usernames) lock that address out the same way. The address is the client's as
# REST_FRAMEWORK's NUM_PROXIES finds it (behind the HTTPS proxy: from X-Forwarded-For).
AXES_FAILURE_LIMIT = 20
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AIMA_LOCKOUT_MINUTES", 30))
AXES_RESET_ON_SUCCESS = True

# The address a lockout counts: the one the throttles and the audit trail count.
AXES_CLIENT_IP_CALLABLE = "aima_web.audit.trail.client_address"
AXES_COOLOFF_MESSAGE = (f"Account locked: too many failed logins. Try again "
                        f"{AXES_COOLOFF_TIME.total_seconds() / 60:g} minutes after the last one.")
# Error reports (and debug pages, when on) mask settings and environment
# variables whose names hint at a secret; URLs carry broker and database passwords.
DEFAULT_EXCEPTION_REPORTER_FILTER = "aima_web.accounts.error_reports.SecretMaskingFilter"

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (deploy/README.md).
AIMA_HTTPS = env_bool("AIMA_HTTPS", False)
if AIMA_HTTPS:
    SECURE_SSL_REDIRECT = True
    # Prometheus inside the deployment's own network scrapes gunicorn directly
    # (deploy/compose.yaml's monitoring profile); the metrics token guards it.
    SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Behind the proxy, REMOTE_ADDR is always the proxy: the client is the entry it
    # appended to X-Forwarded-For (the last; what the client sent before it is not trusted).
    REST_FRAMEWORK["NUM_PROXIES"] = 1
# The site's own login (aima_web.accounts.site_login); analysts land on the upload page.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/upload/"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# The admin, the API docs and the browsable API put the CSRF token in their
# pages; no script needs to read the cookie.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# No inline or foreign script anywhere; inline style only (the report page draws
# its timeline bars with style attributes). Swagger UI comes from our own static.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

"""AIMA control-plane settings: every knob comes from the environment.

With nothing set, AIMA runs on the embedded default (SQLite under ``var/``, the
filesystem broker); ``DATABASE_URL`` and ``AIMA_BROKER_URL`` move it onto
PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from aima_tasks import broker


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: must be a whole number") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name) or str(default)
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: must be a number") from None


BASE_DIR = broker.PROJECT_ROOT
VAR_DIR = broker.var_dir()

DEBUG = env_bool("AIMA_DEBUG", True)
SECRET_KEY = os.environ.get("AIMA_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("AIMA_SECRET_KEY must be set when AIMA_DEBUG is off")
    SECRET_KEY = "django-insecure-aima-development-only"

ALLOWED_HOSTS = [h for h in os.environ.get("AIMA_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
                 if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("AIMA_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "aima_web.core",
    "aima_web.audit",
    "aima_web.fleet",
    "aima_web.jobs",
    "aima_web.placement",
    "aima_web.instances",
    "aima_web.registry",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
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
# Video and audio longer than this are cut into segments of this many seconds, which
# agents of the chosen GPU class analyse in parallel; 0 turns segmenting off.
AIMA_SEGMENT_S = env_float("AIMA_SEGMENT_S", 120.0)
AIMA_MAX_SEGMENTS = env_int("AIMA_MAX_SEGMENTS", 200)
# An agent counts as online while its last heartbeat is younger than this.
AIMA_AGENT_OFFLINE_AFTER_S = env_int("AIMA_AGENT_OFFLINE_AFTER_S", 90)
# GPU telemetry samples (one per GPU per heartbeat) are kept this long.
AIMA_GPU_HISTORY_S = env_int("AIMA_GPU_HISTORY_S", 3600)

# --- Cloud instances (providers/, aima_web/instances) ---------------------------
# Tagged on every instance this control plane launches; the reconciler
# terminates any instance with this tag that the database does not know.
AIMA_DEPLOYMENT_ID = os.environ.get("AIMA_DEPLOYMENT_ID", "aima-default")
# The URL cloud agents reach this control plane at.
AIMA_PUBLIC_URL = os.environ.get("AIMA_PUBLIC_URL", "http://127.0.0.1:8000")
# The control plane's own broker URL: never handed to an agent.
AIMA_BROKER_URL = broker.broker_url()
# RabbitMQ's management API, as a user with the administrator tag: it makes
# each cloud instance a broker user that may read its own GPU queue only.
# Required for cloud instances on RabbitMQ (instances/broker_accounts.py).
AIMA_BROKER_ADMIN_URL = os.environ.get("AIMA_BROKER_ADMIN_URL", "")
# Where cloud agents reach the broker: its scheme, host and port only (any
# credentials in it are dropped; each instance gets a user of its own).
AIMA_AGENT_BROKER_URL = os.environ.get("AIMA_AGENT_BROKER_URL") or broker.broker_url()
# What an instance runs: the agent image (container providers) and its command.
AIMA_AGENT_IMAGE = os.environ.get("AIMA_AGENT_IMAGE", "ghcr.io/aima/agent:latest")
AIMA_AGENT_COMMAND = os.environ.get("AIMA_AGENT_COMMAND", "python -m agents run")
# An instance whose agent has not registered this long after launch is
# terminated and the next offer tried.
AIMA_BOOT_TIMEOUT_S = env_int("AIMA_BOOT_TIMEOUT_S", 600)
# An idle instance is terminated this long after its last job (0: at once).
AIMA_IDLE_GRACE_S = env_int("AIMA_IDLE_GRACE_S", 60)
# A launch (the provider's API call) still unfinished this long after it began
# is taken for lost with its control worker: the instance is looked for at the
# provider by its tag and adopted, or launched again.
AIMA_LAUNCH_TIMEOUT_S = env_int("AIMA_LAUNCH_TIMEOUT_S", 300)
# An offer whose instance failed to boot is passed over for this long when
# another offer of its class exists.
AIMA_FAILED_OFFER_COOLDOWN_S = env_int("AIMA_FAILED_OFFER_COOLDOWN_S", 3600)
# Launches one control worker runs side by side (threads waiting on provider APIs).
AIMA_PARALLEL_LAUNCHES = env_int("AIMA_PARALLEL_LAUNCHES", 8)
# Launch attempts per wanted instance, over offers and providers, with backoff.
AIMA_LAUNCH_ATTEMPTS = env_int("AIMA_LAUNCH_ATTEMPTS", 4)
# Caps: instances per provider and GPU class, and cloud spend per hour (0: none).
AIMA_MAX_INSTANCES_PER_CLASS = env_int("AIMA_MAX_INSTANCES_PER_CLASS", 4)
AIMA_MAX_SPEND_PER_HOUR = env_float("AIMA_MAX_SPEND_PER_HOUR", 0.0)
# How often the control worker's beat checks instances, reconciles with the
# providers and refreshes prices (seconds).
AIMA_INSTANCE_TICK_S = env_int("AIMA_INSTANCE_TICK_S", 5)
AIMA_RECONCILE_S = env_int("AIMA_RECONCILE_S", 60)
AIMA_PRICE_REFRESH_S = env_int("AIMA_PRICE_REFRESH_S", 900)

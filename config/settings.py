"""Settings for Consentframe, read from the environment.

Defaults give the embedded set-up (SQLite file and a broker-less Celery worker in the local data
folder) so that the demo runs on a bare machine; production and CI set DATABASE_URL (PostgreSQL),
CELERY_BROKER_URL (Redis) and, with DEBUG off, a real SECRET_KEY.
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Everything generated at run time (database, media, keys, certificates) lives here, outside git.
DATA_DIR = Path(os.environ.get("CONSENTFRAME_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", True)

_DEV_SECRET_KEY = "dev-insecure-consentframe-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is the development default while DEBUG is off. "
        "Set the SECRET_KEY environment variable to a long random value."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

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
    "consent",
    "rendering",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'consentframe.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, embedded worker) share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    # Tests get a file, not Django's default in-memory database: with a file every thread (live
    # server, Celery worker, test) opens its own connection, whereas the in-memory one is a single
    # connection shared across threads, which crashes under concurrent use.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-consentframe.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds login lockouts and the ledger's verified checkpoint. Unset → each process keeps its
# own in memory (fine for one process); production points every web process at one Redis.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, got {CACHE_URL!r}")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))

LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "/"

# --- Consent and ledger -----------------------------------------------------------------------
# Ed25519 key that signs every audit event; a development key is generated here on first use.
LEDGER_SIGNING_KEY_PATH = Path(
    os.environ.get("LEDGER_SIGNING_KEY_PATH", DATA_DIR / "keys" / "ledger-ed25519.pem")
)
# Pages that show the ledger's state verify the whole chain at most this often (per cache), and
# only the new events in between; `manage.py verify_ledger` always verifies everything.
LEDGER_FULL_CHECK_SECONDS = int(os.environ.get("LEDGER_FULL_CHECK_SECONDS", 3600))
# Upload limits for likeness reference media (validated by content, not by name).
LIKENESS_MAX_UPLOAD_BYTES = int(os.environ.get("LIKENESS_MAX_UPLOAD_BYTES", 20 * 1024 * 1024))
LIKENESS_MAX_IMAGE_PIXELS = int(os.environ.get("LIKENESS_MAX_IMAGE_PIXELS", 40_000_000))
LIKENESS_MIN_IMAGE_SIDE = int(os.environ.get("LIKENESS_MIN_IMAGE_SIDE", 64))
LIKENESS_MAX_AUDIO_SECONDS = float(os.environ.get("LIKENESS_MAX_AUDIO_SECONDS", 600))

# --- Provenance (C2PA) and labels --------------------------------------------------------------
PROVENANCE_DIR = Path(os.environ.get("PROVENANCE_DIR", DATA_DIR / "provenance"))
# Production passes PEM paths (or configures a callback signer); the demo generates a local CA.
C2PA_SIGNING_CERT_PATH = os.environ.get("C2PA_SIGNING_CERT_PATH", "")
C2PA_SIGNING_KEY_PATH = os.environ.get("C2PA_SIGNING_KEY_PATH", "")
C2PA_TRUST_ANCHORS_PATH = os.environ.get("C2PA_TRUST_ANCHORS_PATH", "")
# RFC 3161 timestamp authority. Production needs one: without it a manifest reads Invalid once
# the signing certificate expires. Empty means no timestamp (development only).
C2PA_TSA_URL = os.environ.get("C2PA_TSA_URL", "")
AIGC_CONTENT_PRODUCER = os.environ.get("AIGC_CONTENT_PRODUCER", "Consentframe")
AIGC_CONTENT_PROPAGATOR = os.environ.get("AIGC_CONTENT_PROPAGATOR", "")
# Key of the frame watermark's keyed check. Empty means the engine's public default key, which
# guards against chance matches but not against forgery: production sets its own secret.
WATERMARK_KEY = os.environ.get("WATERMARK_KEY", "")

# --- Rendering ---------------------------------------------------------------------------------
RENDER_BACKEND = os.environ.get("RENDER_BACKEND", "rendering.backends.portrait.PortraitAnimator")
RENDER_WEIGHTS_DIR = os.environ.get("RENDER_WEIGHTS_DIR", "")
RENDER_DEVICE = os.environ.get("RENDER_DEVICE", "auto")  # auto → CUDA when present, else CPU
# CPU threads for torch and OpenCV in each render worker process; 0 keeps the libraries' default (all
# cores). With `-c N` prefork children on one host, set it so N x threads is about the core count.
RENDER_CPU_THREADS = int(os.environ.get("RENDER_CPU_THREADS", 0))
SEGMENT_SECONDS = float(os.environ.get("SEGMENT_SECONDS", 2.0))
# Stream audio uploaded by brands: checked by content with PyAV, decoded once to 16 kHz PCM.
STREAM_AUDIO_MAX_UPLOAD_BYTES = int(os.environ.get("STREAM_AUDIO_MAX_UPLOAD_BYTES", 200 * 1024 * 1024))
STREAM_AUDIO_MAX_SECONDS = float(os.environ.get("STREAM_AUDIO_MAX_SECONDS", 3 * 3600))
# A live stream without progress for this long has lost its task (a worker killed on a broker that
# does not redeliver): the watchdog sends it again; rendering is idempotent per segment.
RENDER_STALL_SECONDS = float(os.environ.get("RENDER_STALL_SECONDS", 600))

# --- Celery ------------------------------------------------------------------------------------
# Unset broker → kombu's SQLAlchemy transport on a SQLite file: a worker that needs no server.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}"
CELERY_EMBEDDED_BROKER = not os.environ.get("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ROUTES = {"rendering.tasks.*": {"queue": "gpu"}}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Periodic consent work (run beat: `celery -A config worker -B`, or a separate `celery -A config beat`).
CELERY_BEAT_SCHEDULE = {
    "consent-activate-due-licenses": {"task": "consent.tasks.activate_due_licenses", "schedule": 60.0},
    "consent-expire-licenses": {"task": "consent.tasks.expire_licenses", "schedule": 60.0},
    "consent-sweep-revoked-likeness": {"task": "consent.tasks.sweep_revoked_likeness", "schedule": 3600.0},
    "rendering-resume-stalled-streams": {"task": "rendering.tasks.resume_stalled_streams", "schedule": 60.0},
}

# --- REST framework ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous API call then gets 401 with `WWW-Authenticate: Token`, not a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "120/min"),
        "user": os.environ.get("API_THROTTLE_USER", "1200/min"),
        "verify": os.environ.get("API_THROTTLE_VERIFY", "30/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Consentframe API",
    "DESCRIPTION": "Consent, licenses, clones, streams and provenance for AI digital-clone hosts.",
    "VERSION": "0.1.0",
    # Swagger UI served from this origin (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Portal security -----------------------------------------------------------------------------
# Cookies only over HTTPS once DEBUG is off; the session cookie is never readable by scripts.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 8 * 3600))
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Failed logins allowed per (username, IP) and per IP before the login is refused for a while.
PORTAL_LOGIN_MAX_FAILURES = int(os.environ.get("PORTAL_LOGIN_MAX_FAILURES", 5))
PORTAL_LOGIN_MAX_FAILURES_PER_IP = int(os.environ.get("PORTAL_LOGIN_MAX_FAILURES_PER_IP", 50))
PORTAL_LOGIN_LOCKOUT_SECONDS = int(os.environ.get("PORTAL_LOGIN_LOCKOUT_SECONDS", 15 * 60))
# Public verifier uploads (checked by content: JPEG, PNG, WebP or MP4/MOV).
VERIFIER_MAX_UPLOAD_BYTES = int(os.environ.get("VERIFIER_MAX_UPLOAD_BYTES", 50 * 1024 * 1024))
VERIFIER_MAX_IMAGE_PIXELS = int(os.environ.get("VERIFIER_MAX_IMAGE_PIXELS", 40_000_000))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

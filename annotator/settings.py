"""LabelLoop settings. Every value comes from the environment (see .env.example)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from annotator.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# The embedded default (run command) and the test command set DEBUG or a secret
# themselves; a production deployment must bring its own SECRET_KEY.
SECRET_KEY = env_secret("SECRET_KEY", "insecure-labelloop-dev-key" if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Everything LabelLoop writes (snapshots, thumbnails, run folders, embedded services).
DATA_DIR = Path(env_str("LABELLOOP_DATA_DIR", str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media"))).resolve()
MEDIA_URL = "/media/"
SNAPSHOT_ROOT = DATA_DIR / "snapshots"
IMPORT_UPLOAD_ROOT = DATA_DIR / "uploads"
# Imports may only read images below these roots. Empty means "any folder an admin names",
# which only development (DEBUG) may allow: in production it would open every file the
# server can read to whoever holds the Admin role.
IMAGE_ROOTS = [Path(p).resolve() for p in env_list("LABELLOOP_IMAGE_ROOTS", [])]
if not IMAGE_ROOTS and not DEBUG:
    raise ImproperlyConfigured(
        "LABELLOOP_IMAGE_ROOTS must list the folders imports may read images from "
        "(comma-separated absolute paths, e.g. /images); it may be empty only with DEBUG=1"
    )
# Largest image accepted by imports, in pixels (guards against decompression bombs).
MAX_IMAGE_PIXELS = env_int("LABELLOOP_MAX_IMAGE_PIXELS", 89_478_485, minimum=1)
VAL_FRACTION = env_float("LABELLOOP_VAL_FRACTION", 0.1)
if not 0.0 < VAL_FRACTION < 1.0:
    raise ImproperlyConfigured(f"LABELLOOP_VAL_FRACTION={VAL_FRACTION} must be between 0 and 1")

# Modeling: run folders of training jobs; a version whose val AP on any label drops by more
# than this against its parent is flagged; model evidence keeps scores at or above the floor.
MODEL_RUNS_ROOT = DATA_DIR / "runs"
MODEL_REGRESSION_AP_MARGIN = env_float("LABELLOOP_REGRESSION_AP_MARGIN", 0.02)
MODEL_EVIDENCE_SCORE_FLOOR = env_float("LABELLOOP_EVIDENCE_SCORE_FLOOR", 0.05)
if not 0.0 <= MODEL_REGRESSION_AP_MARGIN <= 1.0:
    raise ImproperlyConfigured(f"LABELLOOP_REGRESSION_AP_MARGIN={MODEL_REGRESSION_AP_MARGIN} must be between 0 and 1")
if not 0.0 <= MODEL_EVIDENCE_SCORE_FLOOR < 0.5:
    raise ImproperlyConfigured(
        f"LABELLOOP_EVIDENCE_SCORE_FLOOR={MODEL_EVIDENCE_SCORE_FLOOR} must be at least 0 and below 0.5"
    )

_database_url = env_str("DATABASE_URL")
if not _database_url:
    raise ImproperlyConfigured(
        "DATABASE_URL must be set (the run and test commands set it, starting an "
        "embedded PostgreSQL when none is configured)"
    )
if not _database_url.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgresql://...)")
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "annotator.accounts",
    "annotator.taxonomy",
    "annotator.dataset",
    "annotator.cleaning",
    "annotator.audits",
    "annotator.modeling",
    "annotator.sources",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "annotator.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"

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
                "django.template.context_processors.i18n",
                "annotator.accounts.context_processors.roles",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
}

# Celery: explicit, JSON only, one task prefetched at a time, bounded run time,
# and a separate "gpu" queue for training (workers there run with --pool=solo).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 6 * 3600, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 6 * 3600 + 300, minimum=1)
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "annotator.modeling.tasks.train_*": {"queue": "gpu"},
    "annotator.modeling.tasks.predict_*": {"queue": "gpu"},
    "annotator.modeling.tasks.ablate_*": {"queue": "gpu"},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}
# Modeling jobs whose worker stopped beating are failed (on the default queue: the gpu
# worker is busy with the job itself).
CELERY_BEAT_SCHEDULE["modeling-jobs-reap"] = {"task": "annotator.modeling.tasks.jobs_reap", "schedule": 15.0}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Competitor label sources (annotator/sources, docs/sources.md). The keys are secrets: read
# from NAME or NAME_FILE, never logged, stored or shown. A provider without its keys is off.
BAIDU_API_KEY = env_secret("BAIDU_API_KEY", "")
BAIDU_SECRET_KEY = env_secret("BAIDU_SECRET_KEY", "")
BAIDU_BASE_URL = env_str("BAIDU_BASE_URL", "https://aip.baidubce.com")
BAIDU_QPS = env_float("BAIDU_QPS", 2.0)
BAIDU_QUOTA_TIME_ZONE = env_str("BAIDU_QUOTA_TIME_ZONE", "Asia/Shanghai")
GOOGLE_VISION_API_KEY = env_secret("GOOGLE_VISION_API_KEY", "")
GOOGLE_VISION_BASE_URL = env_str("GOOGLE_VISION_BASE_URL", "https://vision.googleapis.com")
GOOGLE_VISION_QPS = env_float("GOOGLE_VISION_QPS", 10.0)
SOURCES_TIMEOUT = env_float("SOURCES_TIMEOUT", 30.0)
SOURCES_MAX_RETRIES = env_int("SOURCES_MAX_RETRIES", 4, minimum=0)
SOURCES_BACKOFF_BASE = env_float("SOURCES_BACKOFF_BASE", 1.0)
SOURCES_MAX_RESULTS = env_int("SOURCES_MAX_RESULTS", 20, minimum=1)
for _name, _value in (("BAIDU_QPS", BAIDU_QPS), ("GOOGLE_VISION_QPS", GOOGLE_VISION_QPS)):
    if _value <= 0:
        raise ImproperlyConfigured(f"{_name}={_value} must be above 0")
if SOURCES_TIMEOUT <= 0 or SOURCES_BACKOFF_BASE < 0:
    raise ImproperlyConfigured("SOURCES_TIMEOUT must be above 0 and SOURCES_BACKOFF_BASE at least 0")
try:
    ZoneInfo(BAIDU_QUOTA_TIME_ZONE)
except (ValueError, ZoneInfoNotFoundError):
    raise ImproperlyConfigured(f"BAIDU_QUOTA_TIME_ZONE={BAIDU_QUOTA_TIME_ZONE!r} is not a time zone") from None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Behind a TLS-terminating proxy (nginx, a load balancer) that sets X-Forwarded-Proto.
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)

# Cleaning queues: how long a leased batch stays with its annotator without a sign of life
# from the review page (which renews it every minute), and how many items one batch holds.
CLEANING_LEASE_SECONDS = env_int("LABELLOOP_LEASE_SECONDS", 600, minimum=30)
CLEANING_BATCH_SIZE = env_int("LABELLOOP_REVIEW_BATCH", 36, minimum=24)
if CLEANING_BATCH_SIZE > 48:
    raise ImproperlyConfigured(f"LABELLOOP_REVIEW_BATCH={CLEANING_BATCH_SIZE} must be between 24 and 48")
# Celery beat rebuilds every queue this often (seconds; 0: never), catching imports and edits
# that did not trigger a rerank themselves. A rerun with nothing changed writes nothing.
CLEANING_RERANK_INTERVAL = env_int("LABELLOOP_RERANK_INTERVAL", 6 * 3600, minimum=0)
if CLEANING_RERANK_INTERVAL:
    CELERY_BEAT_SCHEDULE["cleaning-queues-rerank"] = {
        "task": "annotator.cleaning.tasks.queues_rerank",
        "schedule": float(CLEANING_RERANK_INTERVAL),
    }

# Label health: a label with at least this many positives has "enough data" (noise no longer
# hurts its model much); its queue is not opened to annotators unless an admin opens it.
CLEANING_ENOUGH_DATA_COUNT = env_int("LABELLOOP_ENOUGH_DATA", 20_000, minimum=1)

# QA audits (annotator/audits, docs/audits.md). Every day at AUDIT_TIME (HH:MM, TIME_ZONE)
# Celery beat draws a random sample of each annotator's decisions of the day before: a share
# of AUDIT_RATE of them, at least AUDIT_MINIMUM (all of them when fewer), spread across labels.
# AUDIT_SEED makes the draws reproducible (a day's seed is derived from it and the date).
AUDIT_RATE = env_float("LABELLOOP_AUDIT_RATE", 0.05)
AUDIT_MINIMUM = env_int("LABELLOOP_AUDIT_MINIMUM", 20, minimum=0)
AUDIT_TIME = env_str("LABELLOOP_AUDIT_TIME", "06:00")
AUDIT_SEED = env_int("LABELLOOP_AUDIT_SEED", 0)
# The accuracy annotators are held to (agreed ÷ audited); dashboards highlight who is below.
AUDIT_ACCURACY_TARGET = env_float("LABELLOOP_ACCURACY_TARGET", 0.90)
if not 0 < AUDIT_RATE <= 1:
    raise ImproperlyConfigured(f"LABELLOOP_AUDIT_RATE={AUDIT_RATE} must be above 0 and at most 1")
if not 0 < AUDIT_ACCURACY_TARGET <= 1:
    raise ImproperlyConfigured(f"LABELLOOP_ACCURACY_TARGET={AUDIT_ACCURACY_TARGET} must be above 0 and at most 1")
# Gold items: the share of each review batch made of items whose answer a QA lead knows
# (marked from the audit page), shown like any other tile; 0 turns gold items off.
AUDIT_GOLD_RATE = env_float("LABELLOOP_GOLD_RATE", 0.0)
if not 0 <= AUDIT_GOLD_RATE <= 0.5:
    raise ImproperlyConfigured(
        f"LABELLOOP_GOLD_RATE={AUDIT_GOLD_RATE} must be between 0 (gold items off) and 0.5 (half of each batch)"
    )
try:
    _audit_hour, _audit_minute = (int(part) for part in AUDIT_TIME.split(":"))
    if not (0 <= _audit_hour < 24 and 0 <= _audit_minute < 60):
        raise ValueError
except ValueError:
    raise ImproperlyConfigured(f"LABELLOOP_AUDIT_TIME={AUDIT_TIME!r} must be a time of day as HH:MM") from None
CELERY_BEAT_SCHEDULE["audits-daily-sample"] = {
    "task": "annotator.audits.tasks.daily_sample",
    "schedule": crontab(hour=_audit_hour, minute=_audit_minute),
}
CELERY_TIMEZONE = TIME_ZONE

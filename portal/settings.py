"""facerights settings: one module, every deployment-specific value from the environment.

The defaults give a self-contained development portal: SQLite, an embedded (filesystem)
Celery broker, files and the FAISS index under ``VAR_DIR``, and emails written to files.
Production points ``DATABASE_URL`` at PostgreSQL and ``CELERY_BROKER_URL`` at Redis.
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from portal.env import (
    cache_config,
    development_key_read,
    env_bool,
    env_float,
    env_int,
    env_language,
    env_list,
    env_str,
    env_texts,
    private_dirs_make,
    proxy_header_parse,
    public_url_parse,
)
from portal.logs import logging_config, sentry_init

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Where a running portal writes ------------------------------------------------------------
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()
INDEX_DIR = Path(env_str("INDEX_DIR", str(VAR_DIR / "index"))).resolve()
MAIL_DIR = Path(env_str("MAIL_DIR", str(VAR_DIR / "mail"))).resolve()
BROKER_DIR = VAR_DIR / "broker"
# What a portal writes is personal data (database, photos, index, emails, queue): these folders are
# the portal user's alone, and the files in them are created 0600 (database, mail, media, key).
private_dirs_make(VAR_DIR, MEDIA_ROOT, INDEX_DIR, MAIL_DIR, BROKER_DIR)

# --- Core Django ----------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and env_bool("REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set in production.")
    SECRET_KEY = development_key_read(var_dir=VAR_DIR)

PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_public_url = public_url_parse(PUBLIC_BASE_URL)
# Behind https every transport setting below follows; each has its own variable to override it.
PUBLIC_HTTPS = _public_url.scheme == "https"
# localhost stays allowed: the containers' healthchecks call gunicorn directly.
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", list(dict.fromkeys([_public_url.hostname, "localhost", "127.0.0.1", "[::1]"]))
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [f"{_public_url.scheme}://{_public_url.netloc}"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal.apps.AxesConfig",
    "django_otp",
    "portal.apps.TOTPConfig",
    "django_countries",
    "matching",
    "rights",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the one chosen with the switcher (cookie), else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "portal.middleware.StaffSecondFactorMiddleware",
    # A signed-in staff member's admin pages: in the language chosen on their account page, if any.
    "portal.middleware.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login into the lockout page (axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.organisation",
            ],
        },
    },
    {
        # Email text parts: rendered without HTML escaping (rights.lifecycle.emails).
        "NAME": "email",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"autoescape": False},
    },
]

# --- Database ---------------------------------------------------------------------------------
_default_sqlite = f"sqlite:///{VAR_DIR / 'facerights.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_sqlite), conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker process share this file: WAL lets readers and one writer
    # work at once, and IMMEDIATE transactions make a writer wait instead of failing mid-way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Created 0600 before SQLite opens it (its -wal and -shm files take the same mode).
    _db_file = str(DATABASES["default"]["NAME"])
    with contextlib.suppress(OSError):
        if os.path.isabs(_db_file):  # not ":memory:" or a name relative to wherever it runs
            os.close(os.open(_db_file, os.O_WRONLY | os.O_CREAT, 0o600))
            os.chmod(_db_file, 0o600)
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests run a real worker in another process, so the test database must be a file too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-facerights.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The five languages of the public pages, emails and letters (catalogues under locale/, compiled and
# committed); each named in itself, as the switcher shows it.
LANGUAGES = [
    ("en", "English"),
    ("fr", "Français"),
    ("zh-hans", "简体中文"),
    ("zh-hant", "繁體中文"),
    ("ja", "日本語"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
_CODES = [code for code, _name in LANGUAGES]
# English dates written the British way (1 December 2026, 14:30); other languages use Django's own.
FORMAT_MODULE_PATH = ["portal.formats"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static"))).resolve()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it even before collectstatic
# Development and tests serve app static files without a collectstatic step; the image turns this
# off (Dockerfile) so that only the collected, compressed STATIC_ROOT built into it is served.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
MEDIA_URL = "/media-not-served/"  # media is never served directly: every file goes through a view

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    },
    # Static files (the admin's and ours, never user data) are served by the app itself.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- TLS and the proxy (derived from PUBLIC_BASE_URL) ------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and PUBLIC_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The TLS-terminating proxy (Caddy in docker-compose.yml) says the original scheme here. Trusted
# only because gunicorn is reachable through the proxy alone, which overwrites a client's header.
SECURE_PROXY_SSL_HEADER = proxy_header_parse(
    env_list("SECURE_PROXY_SSL_HEADER", ["HTTP_X_FORWARDED_PROTO", "https"] if PUBLIC_HTTPS else [])
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PUBLIC_HTTPS)
# The container healthchecks and a scraper on the compose network call gunicorn in plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PUBLIC_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PUBLIC_HTTPS)
# Harmless on a subdomain (the preload list takes registrable domains only); see README.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PUBLIC_HTTPS)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Status and download links carry secret tokens: no Referer ever leaves the site. Not "no-referrer":
# with it, browsers send "Origin: null" on form posts and Django's CSRF check refuses every form.
SECURE_REFERRER_POLICY = "same-origin"

LOGIN_URL = "admin:login"

# --- Email ---------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "portal.mail.PrivateFileEmailBackend")  # files 0600
EMAIL_FILE_PATH = str(MAIL_DIR)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "privacy@facerights.example")
PRIVACY_OFFICER_EMAIL = env_str("PRIVACY_OFFICER_EMAIL", "dpo@facerights.example")
# Staff emails: in the language a staff account with that address chose, else this (a team address).
STAFF_LANGUAGE = env_language("STAFF_LANGUAGE", LANGUAGE_CODE, languages=_CODES)

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files under VAR_DIR/broker, so a real, separate worker
    # process runs the tasks with no server installed (the same code path as Redis).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # A task not acknowledged within this time is handed to another worker (acks_late tasks).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
# No result backend is the record of anything; shard searches (INDEX_SHARDS > 1) need one to
# carry their answers back to the caller (redis://...).
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "facerights")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE

# --- Face matching -------------------------------------------------------------------------
_shared_models = BASE_DIR.parent / "shared" / "models" / "buffalo_sc"
FACE_MODEL_DIR = env_str("FACE_MODEL_DIR", str(_shared_models) if _shared_models.is_dir() else "")
FACE_MODEL_NAME = env_str("FACE_MODEL_NAME", "buffalo_sc")  # fetched by insightface when no dir is given
FACE_DET_SIZE = env_int("FACE_DET_SIZE", 640)
FACE_DET_MIN_SCORE = env_float("FACE_DET_MIN_SCORE", 0.5)
EMBEDDING_DIM = 512
# Floors of the two cosine-similarity bands. The bands in force come from matching.services.thresholds
# for the faces searched (THRESHOLDS_FOR_FACES, else the index's count): expected strangers per request
# (calibrated FMR x faces, 95% bound) at most these two figures. README: "Matching accuracy".
MATCH_THRESHOLD = env_float("MATCH_THRESHOLD", 0.37)
REVIEW_THRESHOLD = env_float("REVIEW_THRESHOLD", 0.18)
MATCH_EXPECTED_STRANGERS = env_float("MATCH_EXPECTED_STRANGERS", 0.01)
REVIEW_EXPECTED_STRANGERS = env_float("REVIEW_EXPECTED_STRANGERS", 20.0)
THRESHOLDS_FOR_FACES = env_int("THRESHOLDS_FOR_FACES", 0)
THRESHOLDS_CALIBRATION_FILE = env_str(
    "THRESHOLDS_CALIBRATION_FILE", str(BASE_DIR / "matching" / "calibration" / "buffalo_sc.json")
)
# The index (matching.services.index): sealed segments of at most this many faces (32 MB: an erasure
# rewrites only those holding its faces); INDEX_CODES: 8-bit codes scanned first, with a proven bound.
INDEX_SEGMENT_FACES = env_int("INDEX_SEGMENT_FACES", 16_384)
INDEX_CODES = env_bool("INDEX_CODES", False)
# How often beat runs matching.tasks.index_maintain (seal the growing segment, merge small ones).
INDEX_MAINTAIN_INTERVAL = timedelta(seconds=env_int("INDEX_MAINTAIN_SECONDS", 60))
# Shards past one machine: faces split by id (id % INDEX_SHARDS); a worker serving shard k runs
# with INDEX_SHARD=k and consumes queue "index-shard-k". 1: one local index, no shard workers.
INDEX_SHARDS = env_int("INDEX_SHARDS", 1)
INDEX_SHARD = env_int("INDEX_SHARD", -1)
INDEX_SHARD_TIMEOUT = env_float("INDEX_SHARD_TIMEOUT", 30.0)  # seconds to wait for every shard
INDEX_SHARD_ATTEMPTS = env_int("INDEX_SHARD_ATTEMPTS", 3)  # then the search fails, never partial

# Decimal megabytes, so that the form and every refusal read the same number ("20 MB").
IMAGE_MAX_BYTES = env_int("IMAGE_MAX_BYTES", 20_000_000)
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 40_000_000)
IMAGE_MAX_SIDE = env_int("IMAGE_MAX_SIDE", 12_000)
# A selfie needs far fewer pixels than a collected image: its own limit, and it is decoded reduced
# (JPEG straight from the DCT) to this many pixels a side, which is all the detector and staff see.
# 12.5 Mpx lets a 4032x3024 phone photo through; bench/selfie_post.py measures the worst case.
SELFIE_MAX_PIXELS = env_int("SELFIE_MAX_PIXELS", 12_500_000)
# Pillow decodes a WebP through three full-size buffers (a PNG or JPEG through one): fewer pixels.
SELFIE_MAX_PIXELS_WEBP = env_int("SELFIE_MAX_PIXELS_WEBP", 4_000_000)
# A PNG has no reduced decoding (JPEG has): its every pixel is inflated. A PNG selfie is a screenshot.
SELFIE_MAX_PIXELS_PNG = env_int("SELFIE_MAX_PIXELS_PNG", 8_000_000)
SELFIE_DECODE_SIDE = env_int("SELFIE_DECODE_SIDE", 1280)
# Hour (local) of the nightly orphan sweeps: collection files without an Image row, index entries.
ORPHAN_SWEEP_HOUR = env_int("ORPHAN_SWEEP_HOUR", 4)

# --- Rights requests -----------------------------------------------------------------------
ORGANISATION_NAME = env_str("ORGANISATION_NAME", "Example Face Search Ltd")
ORGANISATION_ADDRESS = env_str("ORGANISATION_ADDRESS", "1 Example Street, 75000 Paris, France")
# Texts requesters read (rights.lifecycle.language.setting_text): one text for every language, or JSON
# by language ({"en": "...", "fr": "..."}, en required); unset: portal/texts.py's, translated.
SUPERVISORY_AUTHORITY = env_texts("SUPERVISORY_AUTHORITY", languages=_CODES, default_language=LANGUAGE_CODE)
TRANSFER_SAFEGUARDS = env_texts("TRANSFER_SAFEGUARDS", languages=_CODES, default_language=LANGUAGE_CODE)
PROCESSING_PURPOSES = env_texts("PROCESSING_PURPOSES", languages=_CODES, default_language=LANGUAGE_CODE)
ACCESS_REQUIRES_APPROVAL = env_bool("ACCESS_REQUIRES_APPROVAL", True)
SELFIES_MAX = 3
# A request body larger than this is no longer read (portal.uploads): the most the form accepts.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", SELFIES_MAX * IMAGE_MAX_BYTES + 1_000_000)
FILE_UPLOAD_HANDLERS = [
    "portal.uploads.FormLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
SELFIE_MIN_FACE_PX = env_int("SELFIE_MIN_FACE_PX", 60)
SELFIE_MIN_DET_SCORE = env_float("SELFIE_MIN_DET_SCORE", 0.6)
CONFIRMATION_MAX_AGE = timedelta(days=env_int("CONFIRMATION_MAX_AGE_DAYS", 7))
DOWNLOAD_LINK_MAX_AGE = timedelta(days=env_int("DOWNLOAD_LINK_MAX_AGE_DAYS", 30))
SELFIE_RETENTION_DAYS = env_int("SELFIE_RETENTION_DAYS", 30)  # after the request closes
# An agent's mandate file, kept this long after its request closes (5 years; rights.upkeep.retention).
AGENT_EVIDENCE_RETENTION_DAYS = env_int("AGENT_EVIDENCE_RETENTION_DAYS", 5 * 365 + 1)
# A request whose email is still unconfirmed this long after receipt expires (closed, selfies deleted
# at once). Never shorter than a confirmation link's life: a link still valid always confirms.
UNCONFIRMED_EXPIRY_DAYS = env_int("UNCONFIRMED_EXPIRY_DAYS", 14)
CLOCK_PAUSES_WHILE_WAITING = env_bool("CLOCK_PAUSES_WHILE_WAITING", False)
DUE_SOON_REMINDER_DAYS = [int(d) for d in env_list("DUE_SOON_REMINDER_DAYS", ["7", "2"])]
COLLECTION_RETENTION_DAYS = env_int("COLLECTION_RETENTION_DAYS", 0)  # 0: no automatic deletion
RETENTION_CHUNK = env_int("RETENTION_CHUNK", 500)  # images deleted per retention task run
STUCK_AFTER = timedelta(minutes=env_int("STUCK_AFTER_MINUTES", 30))
# A worker's claim on a request (SEARCHING, FULFILLING) lasts this long unless its heartbeat renews
# it (every third of it); past it the worker is presumed dead and the claim is taken over (STUCK_AFTER
# then only covers claims made before the lease existed).
CLAIM_LEASE = timedelta(seconds=env_int("CLAIM_LEASE_SECONDS", 60))
# Tasks written to the outbox (rights.lifecycle.enqueue) are sent on commit; the outbox job sends
# those a broker outage left behind, every OUTBOX_INTERVAL, once they are OUTBOX_GRACE old.
OUTBOX_INTERVAL = timedelta(seconds=env_int("OUTBOX_INTERVAL_SECONDS", 30))
OUTBOX_GRACE = timedelta(seconds=env_int("OUTBOX_GRACE_SECONDS", 10))
OUTBOX_KEEP = timedelta(days=env_int("OUTBOX_KEEP_DAYS", 7))
# QUEUED and APPROVED requests wait for a free worker, which can take hours behind a long queue:
# they are presumed lost (and re-enqueued) only after this longer wait.
STUCK_QUEUED_AFTER = timedelta(minutes=env_int("STUCK_QUEUED_AFTER_MINUTES", 6 * 60))
# The suppression check re-reads the faces up to this many ids below its cursor: a face committed
# late by a concurrent ingestion (each image commits on its own, within seconds) can have a lower id
# than faces already checked. Re-checking is idempotent; the cost is this many dot products a run.
SUPPRESSION_CHECK_OVERLAP = env_int("SUPPRESSION_CHECK_OVERLAP", 5_000)
NOTICE_CHASE_AFTER = timedelta(days=env_int("NOTICE_CHASE_AFTER_DAYS", 7))
NOTICE_WEBHOOK_TIMEOUT = env_float("NOTICE_WEBHOOK_TIMEOUT_SECONDS", 10.0)
# Event webhooks are rights.EventEndpoint rows (admin, API). These "URL whsec_..." entries are only a
# one-time seed (migration rights 0012) and name the endpoints of deliveries queued before it.
API_EVENT_WEBHOOKS = env_list("API_EVENT_WEBHOOKS", [])
# Recipient webhooks on loopback, link-local or private addresses are refused (checked at each send,
# every resolved address) unless this is on (a test bench, or a recipient inside the same network).
NOTICE_WEBHOOK_ALLOW_PRIVATE = env_bool("NOTICE_WEBHOOK_ALLOW_PRIVATE", False)
# Due-soon reminders go to the privacy team's shared mailbox; escalations to PRIVACY_OFFICER_EMAIL.
STAFF_REMINDER_EMAIL = env_str("STAFF_REMINDER_EMAIL", DEFAULT_FROM_EMAIL)
# A request found stuck this many times is held for staff instead of being re-enqueued again.
STUCK_MAX_REQUEUES = env_int("STUCK_MAX_REQUEUES", 3)
# When the periodic jobs run (rights.schedule): hours are local (TIME_ZONE), intervals in minutes.
DEADLINE_SWEEP_HOUR = env_int("DEADLINE_SWEEP_HOUR", 7)
NOTICE_CHASE_HOUR = env_int("NOTICE_CHASE_HOUR", 9)
PURGE_HOUR = env_int("PURGE_HOUR", 3)
RETENTION_HOUR = env_int("RETENTION_HOUR", 2)
# Every minute: a dead worker's expired claim is found within CLAIM_LEASE plus this.
RECOVERY_INTERVAL = timedelta(minutes=env_int("RECOVERY_INTERVAL_MINUTES", 1))
SUPPRESSION_CHECK_INTERVAL = timedelta(minutes=env_int("SUPPRESSION_CHECK_INTERVAL_MINUTES", 15))
# The hourly job appends the audit trail's head (`<iso time> <row id> <hash>`) here; keep it off
# the database host (another disk, an append-only mount, shipped off-site) so that it survives
# whoever could rewrite the trail. `manage.py verify_audit_chain --anchor-file` checks it.
AUDIT_ANCHOR_FILE = Path(env_str("AUDIT_ANCHOR_FILE", str(VAR_DIR / "audit-anchors.log"))).resolve()
# Every image erasure is appended here (one JSON line, fsynced) before the image is deleted: a copy
# of the ledger that outlives a database restore, so `manage.py erasures_replay` can delete again
# what the restored database no longer says was erased. Keep it beside AUDIT_ANCHOR_FILE, off the
# database's volume, and never restore it from a backup over a newer one (README, "Backup and restore").
ERASURE_LEDGER_FILE = Path(env_str("ERASURE_LEDGER_FILE", str(VAR_DIR / "erasure-ledger.jsonl"))).resolve()
# An erasure waits for the same person's open access answer, but not once its own due date is this close.
ERASURE_ACCESS_WAIT_CUTOFF_DAYS = env_int("ERASURE_ACCESS_WAIT_CUTOFF_DAYS", 7)
# Images an erasure or objection deletes per task run; a larger one re-enqueues itself for the rest.
ERASURE_CHUNK = env_int("ERASURE_CHUNK", 200)

# --- Abuse limits (portal.limits) and the cache they count in ---------------------------------
# A limit slows a flood and says when to try again (429, Retry-After); it never caps the requests a
# person may make (the CNIL fined exactly that). Each is COUNT/PERIOD[,COUNT/PERIOD]; empty: off.
LIMITS = {
    # public form posts, per client address
    "request_posts": env_str("LIMIT_REQUEST_POSTS", "20/h"),
    # confirmation emails, per email address (however many addresses the posts come from)
    "confirmation_mails": env_str("LIMIT_CONFIRMATION_MAILS", "5/h,20/d"),
    # views of the status, confirmation and answer pages, per client address
    "link_views": env_str("LIMIT_LINK_VIEWS", "120/10m"),
    # follow-up and photo posts on the status page, per client address
    "status_posts": env_str("LIMIT_STATUS_POSTS", "20/h"),
    # the REST API, per staff account
    "api_user": env_str("LIMIT_API_USER", "3600/h"),
}
# Proxies in front of the app that append to X-Forwarded-For (Caddy in docker-compose.yml: 1). The
# client address is that many entries from the right; 0 trusts REMOTE_ADDR alone.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if PUBLIC_BASE_URL.startswith("https") else 0)
# Shared by every process: Redis when CACHE_URL is set (redis://host:6379/2), else files under
# VAR_DIR (one machine; the counters are serialised by LIMITS_LOCK_FILE).
CACHE_URL = env_str("CACHE_URL")
CACHES = {"default": cache_config(url=CACHE_URL, folder=str(VAR_DIR / "cache"))}
LIMITS_CACHE = "default"
LIMITS_LOCK_FILE = VAR_DIR / "limits.lock"

# --- Staff accounts: lockout, second factor, working-day sessions, CSP --------------------------
# django-axes: STAFF_LOGIN_FAILURE_LIMIT wrong passwords for one account, or from one address, lock
# the admin login and the API's Basic auth for STAFF_LOCKOUT_MINUTES (each new failure restarts it).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("STAFF_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("STAFF_LOCKOUT_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# No row per successful login kept without limit (staff IPs and browsers); failures expire with the lockout.
AXES_DISABLE_ACCESS_LOG = True
AXES_CLIENT_IP_CALLABLE = "portal.limits.client_address"
AXES_LOCKOUT_CALLABLE = "portal.staff_auth.lockout_response"
# TOTP (django-otp) before any admin page for these roles and for superusers; enrolment on the
# first login (/admin/otp/enrol/). Accounts in these roles cannot use the API's Basic auth.
STAFF_SECOND_FACTOR_GROUPS = env_list("STAFF_SECOND_FACTOR_GROUPS", ["Privacy officer", "Reviewer"])
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "facerights")
# The device admin never shows a TOTP key: whoever reads it could pass as that staff member.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# A session lasts a working day after its last change (a login, an action); public sessions too:
# they only carry page notices.
STAFF_SESSION_HOURS = env_int("STAFF_SESSION_HOURS", 9)
SESSION_COOKIE_AGE = STAFF_SESSION_HOURS * 3600
# Every page, the admin's too: no inline script anywhere; inline <style> only with the page's nonce.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "portal.staff_auth.BasicAuthentication",
        # Service accounts (rights.api.v1): a token, never a person's password.
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    # portal.limits: LIMITS["api_user"] per staff account.
    "DEFAULT_THROTTLE_CLASSES": ["portal.limits.ApiThrottle"],
    # rights.api.v1: every endpoint also has a scoped rate (per account, or per address if anonymous).
    "DEFAULT_THROTTLE_RATES": {
        "api_v1_read": env_str("API_RATE_READ", "1200/min"),
        "api_v1_write": env_str("API_RATE_WRITE", "120/min"),
        "api_v1_submit": env_str("API_RATE_SUBMIT", "30/min"),
        "api_v1_anon": env_str("API_RATE_ANON", "30/min"),
    },
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "facerights API",
    "VERSION": "1.0.0",
    # The docs page's assets come from drf-spectacular-sidecar, served by us (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Logging: ids only, never emails, images or embeddings -----------------------------------
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO"))
# Celery's worker and beat log through the configuration above (filter, format), not their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Health and metrics (portal/health.py, portal/metrics.py) ----------------------------------
# /health/ reports beat down when the daily deadline sweep is older than this.
HEALTH_SWEEP_MAX_AGE_HOURS = env_int("HEALTH_SWEEP_MAX_AGE_HOURS", 26)
# /metrics answers "Authorization: Bearer <METRICS_TOKEN>" or a staff login; empty: staff only.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# The durations' quantiles cover the searches and erasures among this many newest audit rows.
METRICS_RECENT_EVENTS = env_int("METRICS_RECENT_EVENTS", 20_000)

# --- Error reporting: Sentry when SENTRY_DSN is set, with no personal data ---------------------
SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    sentry_init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
    )

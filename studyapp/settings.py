"""Settings for studyapp: one module, driven by environment variables.

Embedded default: SQLite, in-memory channel layer, Celery on a filesystem broker.
DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
DEBUG is off unless DJANGO_DEBUG=1 (`make run` and the test suite set it), so a process
started without it is a production one and refuses to start without DJANGO_SECRET_KEY.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def envfloat(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Off unless asked for: forgetting the variable must give a production process, never a
# debug page with settings and tracebacks behind a dev key.
DEBUG = envbool("DJANGO_DEBUG", False)

_DEV_SECRET = "insecure-dev-only-secret-key-change-me-in-production-0123456789"  # noqa: S105 (DEBUG only)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. DEBUG is off (DJANGO_DEBUG is not 1), so this is a "
        "production process: set DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS, or, for local "
        "development only, DJANGO_DEBUG=1 (as `make run` does), which uses a dev key."
    )
if not DEBUG and SECRET_KEY == _DEV_SECRET:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is the published dev key; set a secret one")

ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",  # two-factor authentication (TOTP, recovery codes); see "--- Auth"
    "studyapp.core",
    "studyapp.accounts",
    "studyapp.studies",
    "studyapp.participation",
    "studyapp.questionnaires",
    "studyapp.chat",
    "studyapp.evaluations",
    "studyapp.ratings",
    "studyapp.analysis",
    # The audit trail (append-only, hash-chained) and the configuration's history.
    "simple_history",
    "studyapp.audit",
    # The REST API (django-ninja) and its personal tokens.
    "studyapp.api",
    # ninja's own Swagger UI files (static), so /api/docs loads nothing from a CDN.
    "ninja",
    # Development and test tools, not the product: the scripted model server (its
    # management command, scripted_model_server, is why this is an app).
    "studyapp.devtools",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "studyapp.core.middleware.MetricsMiddleware",  # see "--- Metrics"
    # Outermost of those that see a view's exception: the database away -> 503 and retry.
    "studyapp.core.outage.DatabaseUnavailableMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",  # see "--- Sessions & security"
    "studyapp.core.security.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "studyapp.accounts.sessions.InvestigatorSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # A study that requires two-factor authentication: the page that says so (accounts.mfa).
    "studyapp.accounts.mfa.MFARequiredMiddleware",
    # Who made a change: django-simple-history reads the request's user (studyapp.audit).
    "simple_history.middleware.HistoryRequestMiddleware",
    # Innermost: sees a view's exception first (only in development, see core.errors).
    "studyapp.core.errors.FriendlyErrorsMiddleware",
]
# Development only (DEBUG on): the production 404/500 pages instead of Django's technical
# ones; `make run` (run_embedded) sets it.
FRIENDLY_ERRORS = DEBUG and os.environ.get("STUDYAPP_FRIENDLY_ERRORS") == "1"

if not DEBUG:
    # Production serves collected static files from the ASGI workers; in development
    # asgi.py serves them straight from static/ (no collectstatic needed).
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "studyapp.urls"
ASGI_APPLICATION = "studyapp.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and envbool(
        "DB_POOL", True
    ):
        # Under ASGI, Django's persistent connections (CONN_MAX_AGE) are per thread and not
        # reused across requests; psycopg's pool is what Django recommends instead. Without
        # it every chat turn opens new connections (measured in bench/relay.py).
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": envint("DB_POOL_MIN_SIZE", 2),
            "max_size": envint("DB_POOL_MAX_SIZE", 20),
            "timeout": envfloat("DB_POOL_TIMEOUT_S", 10.0),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # WAL + a busy timeout let the ASGI server and the worker share the file.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels / Redis -----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # channels_redis waits for a message with a blocking read of 5 s (BZPOPMIN timeout 5);
    # redis-py 8 gives every socket a 5 s read timeout by default, so the client timeout
    # often fired first and the consumer's receive loop died with the socket (1006). The
    # read timeout must outlast the blocking read with a margin.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": os.environ.get("CHANNEL_LAYER_URL", REDIS_URL),
                        "socket_timeout": envfloat("CHANNEL_LAYER_SOCKET_TIMEOUT_S", 15.0),
                        "socket_connect_timeout": 5.0,
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                    }
                ]
            },
        }
    }
    _BLOCKING_READ_S = 5  # channels_redis.core.RedisChannelLayer.brpop_timeout
    if CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["socket_timeout"] <= _BLOCKING_READ_S:
        raise ImproperlyConfigured(
            f"CHANNEL_LAYER_SOCKET_TIMEOUT_S must exceed {_BLOCKING_READ_S} s, the channel "
            "layer's blocking read"
        )
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Runtime files of the embedded default (broker folders, lock files, cache).
RUN_DIR = Path(os.environ.get("STUDYAPP_RUN_DIR", BASE_DIR / ".run"))

# --- Cache ---------------------------------------------------------------------------
# Rate limits (entry and consent, allauth's login limits) count in the cache, so it must be
# shared by every server process: Redis when REDIS_URL is set (CACHE_URL may name another),
# otherwise files under .run/ (shared by the processes of one machine, as `make run` is).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("CACHE_URL", REDIS_URL),
            "KEY_PREFIX": "studyapp",
            # A Redis that hangs must not hang requests: rate limits fail open after this.
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.environ.get("CACHE_DIR", str(RUN_DIR / "cache")),
            "KEY_PREFIX": "studyapp",
        }
    }

# --- Participant rate limits ------------------------------------------------------------
# New participants (entry) and consents, counted in the cache above per client address and
# per study over fixed windows (studyapp.participation.limits). Resuming participants are
# never counted. A real launch is generous on purpose: Prolific can send hundreds of people
# in a few minutes, many behind one university NAT, while a bot flood runs at hundreds a
# second. Per address: a whole lab arriving at once; per study: several times the fastest
# Prolific launch. 0 turns a limit off. A cache that is down lets everyone in (logged).
PARTICIPANT_RATE_WINDOW_S = envint("PARTICIPANT_RATE_WINDOW_S", 60)
PARTICIPANT_ENTRY_PER_IP = envint("PARTICIPANT_ENTRY_PER_IP", 60)
PARTICIPANT_ENTRY_PER_STUDY = envint("PARTICIPANT_ENTRY_PER_STUDY", 300)
PARTICIPANT_CONSENT_PER_IP = envint("PARTICIPANT_CONSENT_PER_IP", 60)
PARTICIPANT_CONSENT_PER_STUDY = envint("PARTICIPANT_CONSENT_PER_STUDY", 300)
# Proxies whose X-Forwarded-For / X-Real-IP we believe (addresses or networks, e.g.
# "127.0.0.1,10.0.0.0/8"): nginx on loopback in front of uvicorn (studyapp.core.client_ip).
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES", ["127.0.0.1", "::1"])
_limits = (
    PARTICIPANT_ENTRY_PER_IP,
    PARTICIPANT_ENTRY_PER_STUDY,
    PARTICIPANT_CONSENT_PER_IP,
    PARTICIPANT_CONSENT_PER_STUDY,
)
if PARTICIPANT_RATE_WINDOW_S < 1 or min(_limits) < 0:
    raise ImproperlyConfigured(
        "PARTICIPANT_* rate limits must not be negative, and the window at least 1 s"
    )
try:
    for _proxy in TRUSTED_PROXIES:
        ipaddress.ip_network(_proxy, strict=False)
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc

# --- REST API rate limit (studyapp.api.limits) -----------------------------------------
# Requests per token per window, counted in the cache above (shared by every process with
# Redis); over it, 429 with Retry-After. 0 turns it off.
API_RATE_LIMIT = envint("API_RATE_LIMIT", 120)
API_RATE_WINDOW_S = envint("API_RATE_WINDOW_S", 60)
if API_RATE_LIMIT < 0 or API_RATE_WINDOW_S < 1:
    raise ImproperlyConfigured("API_RATE_LIMIT must not be negative, API_RATE_WINDOW_S >= 1")

# --- E-mail (invitations to a study, studies.invitations) ------------------------------
# Django 6.1's MAILERS (the EMAIL_* settings are deprecated). Development (DEBUG, `make
# run`) prints e-mails on the console; production sends them over SMTP with the EMAIL_*
# variables below (EMAIL_BACKEND names another backend, e.g. the console one for a trial).
_EMAIL_SMTP = "django.core.mail.backends.smtp.EmailBackend"
_EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend" if DEBUG else _EMAIL_SMTP
)
MAILERS: dict[str, dict] = {"default": {"BACKEND": _EMAIL_BACKEND}}
if _EMAIL_BACKEND == _EMAIL_SMTP:
    # STARTTLS (port 587) by default; EMAIL_USE_SSL=1 for implicit TLS (465) instead.
    _email_ssl = envbool("EMAIL_USE_SSL", False)
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": envint("EMAIL_PORT", 465 if _email_ssl else 587),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_ssl": _email_ssl,
        "use_tls": envbool("EMAIL_USE_TLS", not _email_ssl),
        # A mail server that hangs must not hang the owner's request for long.
        "timeout": envint("EMAIL_TIMEOUT", 10),
    }
    if _email_ssl and MAILERS["default"]["OPTIONS"]["use_tls"]:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "studyapp <noreply@localhost>")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
# An invitation's link works this long; an owner may invite (or resend) this many times
# per window, counted in the cache above (0: no limit).
INVITATION_EXPIRY_DAYS = envint("INVITATION_EXPIRY_DAYS", 7)
INVITATION_RATE_LIMIT = envint("INVITATION_RATE_LIMIT", 20)
INVITATION_RATE_WINDOW_S = envint("INVITATION_RATE_WINDOW_S", 3600)
if INVITATION_EXPIRY_DAYS < 1 or INVITATION_RATE_LIMIT < 0 or INVITATION_RATE_WINDOW_S < 1:
    raise ImproperlyConfigured(
        "INVITATION_EXPIRY_DAYS and INVITATION_RATE_WINDOW_S must be >= 1, "
        "INVITATION_RATE_LIMIT not negative"
    )

# --- Celery ---------------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
    # An unacknowledged task (its worker was killed) is delivered again after this long.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600)
    }
else:
    # Embedded default: a broker on the filesystem, so background jobs need no server.
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
    _broker_dir = RUN_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(RUN_DIR / "celery-processed"),
        # Exchange tables; kombu's default is ./control in the working directory.
        "control_folder": str(RUN_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
# Workers keep the LOGGING below (its redacting filter) instead of installing their own
# root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 360)
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE = {
    "recover-stale-replies": {
        "task": "studyapp.chat.tasks.recover_stale_replies_task",
        "schedule": 60.0,
    },
    "expire-inactive-participants": {
        "task": "studyapp.participation.tasks.expire_inactive_participants_task",
        "schedule": 60.0,
    },
    # Also how soon queued chunks are sent again after Redis lost its data (a restart
    # without persistence): the sweep notices its marker key is gone.
    "resume-stalled-evaluations": {
        "task": "studyapp.evaluations.tasks.resume_stalled_evaluations_task",
        "schedule": envfloat("EVALUATION_SWEEP_S", 20.0),
    },
}

# --- Evaluation runs (studyapp.evaluations) ---------------------------------------------
# Units of one chunk running at once (a run's config may say otherwise; also capped by the
# endpoint's max_concurrent_streams). It is a bound per chunk: the bound on requests in
# flight to an endpoint from every worker together is its evaluation_concurrency (slots).
EVALUATION_CONCURRENCY = envint("EVALUATION_CONCURRENCY", 4)
# Evaluation slots (evaluations.runtime.slots): in Redis when REDIS_URL is set, a held slot
# is renewed while its request runs and a dead holder's slot frees itself after the lease;
# without Redis, lock files in EVALUATION_SLOT_DIR (one machine). Waiting polls this often.
EVALUATION_SLOT_LEASE_S = envfloat("EVALUATION_SLOT_LEASE_S", 30.0)
EVALUATION_SLOT_DIR = Path(os.environ.get("EVALUATION_SLOT_DIR", RUN_DIR / "evaluation-slots"))
EVALUATION_SLOT_POLL_S = envfloat("EVALUATION_SLOT_POLL_S", 0.1)
if EVALUATION_SLOT_LEASE_S <= 0 or EVALUATION_SLOT_POLL_S <= 0:
    raise ImproperlyConfigured("EVALUATION_SLOT_LEASE_S and EVALUATION_SLOT_POLL_S must be > 0")
EVALUATION_RETRY_ATTEMPTS = envint("EVALUATION_RETRY_ATTEMPTS", 4)
EVALUATION_RETRY_BASE_S = envfloat("EVALUATION_RETRY_BASE_S", 1.0)
EVALUATION_POLL_S = envfloat("EVALUATION_POLL_S", 0.5)
EVALUATION_CHUNK_SOFT_TIME_LIMIT = envint("EVALUATION_CHUNK_SOFT_TIME_LIMIT", 600)
EVALUATION_CHUNK_TIME_LIMIT = envint("EVALUATION_CHUNK_TIME_LIMIT", 660)
# A chunk's worker renews its claim while it works; a claim not renewed for this long is
# taken as a dead worker, and the chunk is claimed again (next delivery or the sweep).
EVALUATION_CHUNK_LEASE_S = envint("EVALUATION_CHUNK_LEASE_S", 60)
# A chunk claimed this many times without finishing (it kills its worker?) fails its items.
EVALUATION_CHUNK_MAX_ATTEMPTS = envint("EVALUATION_CHUNK_MAX_ATTEMPTS", 5)
# A chunk queued but not started for this long is queued again (its message was lost).
EVALUATION_STALL_S = envint("EVALUATION_STALL_S", 900)
EVALUATION_MAX_FAILED_FRACTION = envfloat("EVALUATION_MAX_FAILED_FRACTION", 0.5)

# --- Auth (django-allauth) ------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # Roles per study (studyapp.studies.roles): user.has_perm(perm, study).
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
# Investigator accounts are created by an administrator; there is no public sign-up.
ACCOUNT_ADAPTER = "studyapp.accounts.adapters.InvitationOnlyAccountAdapter"
ACCOUNT_EMAIL_VERIFICATION = "none"
LOGIN_REDIRECT_URL = "analysis:study_list"
LOGIN_URL = "account_login"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
# Two-factor authentication (allauth.mfa): an authenticator app (TOTP) or a security key
# (WebAuthn), with recovery codes, set up on /accounts/2fa/. A study may require it of
# everyone who sees its participant-level data (Study.require_mfa, accounts.mfa). A key is
# a second factor after the password only: passkey sign-in (MFA_PASSKEY_LOGIN_ENABLED)
# stays off, so every sign-in still asks for the password. allauth's WebAuthn scripts are
# static files and their data <script type="application/json"> blocks, which the CSP lets
# be (tests/e2e/test_webauthn_login.py). WebAuthn needs https, or http://localhost in
# development (fido2 accepts that origin itself; MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN stays
# off); the key is bound to the host name (the RP ID is the request's host), so keys added
# on one domain do not work on another. Wrong codes count against allauth's
# "login_failed" limit in the shared cache (see "--- Cache"), like wrong passwords.
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = "studyapp"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18N / time ----------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
# The languages participant pages can be shown in (a study picks its own among them,
# Study.languages); investigator pages stay in English. See README "Adding a language".
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Sessions & security --------------------------------------------------------------
# Participants' sessions: long, so a participant may come back the next day.
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 60 * 60 * 24 * 7)
# Signed-in users' (investigators') sessions end after this long without activity
# (studyapp.accounts.sessions).
INVESTIGATOR_SESSION_AGE_S = envint("INVESTIGATOR_SESSION_AGE_S", 60 * 60 * 8)
if INVESTIGATOR_SESSION_AGE_S <= 0:
    raise ImproperlyConfigured("INVESTIGATOR_SESSION_AGE_S must be > 0")
# A model endpoint names the variable holding its API key; only variables with this
# prefix may be named, so no endpoint can send another secret to its URL.
LLM_API_KEY_ENV_PREFIX = os.environ.get("LLM_API_KEY_ENV_PREFIX", "STUDYAPP_LLM_KEY_")
if len(LLM_API_KEY_ENV_PREFIX) < 4:
    raise ImproperlyConfigured("LLM_API_KEY_ENV_PREFIX must be a prefix of 4+ characters")

# --- Prolific (participation.prolific_api, participation.prolific_sync) ----------------
# Tests point the URL at devtools.scripted_prolific. A study's API token is read from
# <prefix><SLUG> or <prefix>DEFAULT, never from another variable; the webhook secret is
# the one Prolific generated for the workspace (empty: webhooks are refused).
PROLIFIC_API_URL = os.environ.get("PROLIFIC_API_URL", "https://api.prolific.com")
PROLIFIC_API_TIMEOUT_S = envfloat("PROLIFIC_API_TIMEOUT_S", 20.0)
PROLIFIC_TOKEN_ENV_PREFIX = os.environ.get("PROLIFIC_TOKEN_ENV_PREFIX", "STUDYAPP_PROLIFIC_TOKEN_")
if len(PROLIFIC_TOKEN_ENV_PREFIX) < 4:
    raise ImproperlyConfigured("PROLIFIC_TOKEN_ENV_PREFIX must be a prefix of 4+ characters")
PROLIFIC_WEBHOOK_SECRET = os.environ.get("PROLIFIC_WEBHOOK_SECRET", "")
# Returned and timed-out places are reclaimed this often (0: only by sync_prolific).
if (PROLIFIC_SYNC_S := envfloat("PROLIFIC_SYNC_S", 300.0)) > 0:
    CELERY_BEAT_SCHEDULE["sync-prolific"] = {
        "task": "studyapp.participation.tasks.sync_prolific_task",
        "schedule": PROLIFIC_SYNC_S,
    }

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django.middleware.csp): scripts, style sheets, fonts, images and
# sockets from this origin only ('self' covers ws:/wss: to the same host), nothing may
# frame a page, forms post here only (the exit to Prolific is a redirect, not a form).
# Templates hold no inline script or style (tests/core/test_security_headers.py).
# Style *attributes* are allowed: plotly sets them on its SVG, and without selectors or
# other origins for url() they can restyle a page but not read it. Two <style> elements
# of the vendored plotly are admitted by hash: the empty sheet it fills through the CSSOM
# (no policy governs that) and its map library's CSS (a new plotly needs a new hash; the
# browser tests fail and print it). style-src is the fallback of browsers without CSP3.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "style-src-elem": [
        CSP.SELF,
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # "" (plotly's rules)
        "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='",  # plotly 4.1.1's maplibre
    ],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
# Browser features no page here uses, and the two it uses only itself
# (studyapp.core.security.PermissionsPolicyMiddleware).
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
} | {
    # Security keys (allauth.mfa's WebAuthn): this origin's own pages, no frame they embed.
    # ("usb" above is WebUSB; a key on USB needs only these two.)
    "publickey-credentials-create": ["self"],
    "publickey-credentials-get": ["self"],
}
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)

# --- Metrics (studyapp.core.metrics) ------------------------------------------------------
# /metrics answers only requests with "Authorization: Bearer $METRICS_TOKEN"; unset, it is a
# 404. Several processes share their numbers through PROMETHEUS_MULTIPROC_DIR, an
# environment variable prometheus_client itself reads (see deploy/README.md).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Probes and Prometheus reach a worker directly over plain HTTP (inside the host or the
# cluster, never through nginx), so these two are not redirected to https.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# --- Chat -----------------------------------------------------------------------------
# Longest participant message, in characters.
CHAT_MAX_MESSAGE_CHARS = envint("CHAT_MAX_MESSAGE_CHARS", 2000)
# Frames a chat socket may send: a burst of this many, then this many a second.
CHAT_FRAME_BURST = envint("CHAT_FRAME_BURST", 10)
CHAT_FRAMES_PER_S = envfloat("CHAT_FRAMES_PER_S", 2.0)
# After the first token, deltas are coalesced into frames at most this often (seconds).
CHAT_FRAME_INTERVAL_S = envfloat("CHAT_FRAME_INTERVAL_S", 0.025)
# While a reply streams, its text so far is saved (and its heartbeat renewed) this often,
# so a web process killed mid-reply loses at most this much of what the participant read.
CHAT_REPLY_SAVE_S = envfloat("CHAT_REPLY_SAVE_S", 1.0)
# A reply still "streaming" whose heartbeat is older than this belongs to a process that
# died: it is marked interrupted (keeping its saved text) and the participant may retry.
# Its writer renews the heartbeat at least every third of this, so it must exceed
# CHAT_REPLY_SAVE_S several times over.
CHAT_STALE_REPLY_S = envfloat("CHAT_STALE_REPLY_S", 10.0)
# A socket that reconnects to another process than the one generating its reply follows
# the stored row, read this often (chat.live.follow_stored).
CHAT_FOLLOW_POLL_S = envfloat("CHAT_FOLLOW_POLL_S", 0.5)
if CHAT_REPLY_SAVE_S <= 0 or CHAT_STALE_REPLY_S < 3 * CHAT_REPLY_SAVE_S:
    raise ImproperlyConfigured("CHAT_STALE_REPLY_S must be at least 3 x CHAT_REPLY_SAVE_S > 0")

# Where the scripted demo model server listens (make run starts it).
SCRIPTED_MODEL_URL = os.environ.get("SCRIPTED_MODEL_URL", "http://127.0.0.1:8011/v1")
# `make run MODEL=local`: llama.cpp's server with SmolLM2-135M (studyapp.devtools.local_model),
# a real engine serving a model for testing only; the demo's endpoint asks for this name.
LOCAL_MODEL_URL = os.environ.get("LOCAL_MODEL_URL", "http://127.0.0.1:8012/v1")
LOCAL_MODEL_NAME = "smollm2-135m-instruct"

# --- Logging: never participant text, only ids and sizes ------------------------------
# Every record ends at the root's one handler, whose filter masks participant tokens in
# paths and Prolific's ids in query strings (studyapp.core.logging). Django's own
# handlers ("django": console + mail_admins, "django.server") and uvicorn's (it configures
# logging before it loads this app, unless run with deploy/uvicorn-log.json) are
# replaced, so no record reaches a handler without the filter. Levels are left as set
# (uvicorn's --log-level still applies; --no-access-log does not, once Django is loaded).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "studyapp.core.logging.RedactingFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
        "uvicorn": {"handlers": [], "propagate": True},
        "uvicorn.error": {"handlers": [], "propagate": True},
        "uvicorn.access": {"handlers": [], "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}

# Pseudonymous participant ids in exports (analysis.pseudonyms): HMAC-SHA256 under this key,
# or, when empty, under a key derived from SECRET_KEY. Set it to keep pseudonyms stable
# across a SECRET_KEY rotation.
EXPORT_PSEUDONYM_KEY = os.environ.get("EXPORT_PSEUDONYM_KEY", "")

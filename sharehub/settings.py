"""ShareHub settings, every knob read from the environment.

With no environment at all ShareHub runs on the embedded default: a SQLite file under var/ and
Celery tasks executed in-process. Setting DATABASE_URL and REDIS_URL switches to PostgreSQL and a
Redis-brokered Celery worker; SHAREHUB_PRODUCTION=true turns on the deployment safeguards and
makes missing secrets an error instead of a development default.

Secrets may be given as NAME or as NAME_FILE (a path to a mounted file), never committed.
"""

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.FileAwareEnv().str("SHAREHUB_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.FileAwareEnv()

PRODUCTION = env.bool("SHAREHUB_PRODUCTION", default=False)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must not be on when SHAREHUB_PRODUCTION is true.")


def _development_secret_key() -> str:
    """A per-checkout random key kept in var/, so sessions survive restarts of the demo."""
    key_file = VAR_DIR / "dev-secret-key"
    if not key_file.exists():
        # Several processes may start at once on a fresh var/ (parallel test workers, a Celery
        # worker beside the web process): the key is written whole under another name and
        # linked into place, so none reads a half-written file and all end up with the one key.
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(dir=VAR_DIR, prefix=".dev-secret-key-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(50))
            os.link(draft, key_file)
        except FileExistsError:
            pass  # another process put its key in place first: that one stands
        finally:
            os.unlink(draft)
    return key_file.read_text().strip()


if PRODUCTION:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _development_secret_key()

if PRODUCTION:
    # Refused here, not left to `check --deploy`: gunicorn runs no system checks, and Django's
    # own check of the key (security.W009) is only a warning. The rule is Django's: 50 characters
    # or more, 5 different ones at least, not the prefix of the key startproject writes.
    if (
        len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
        or SECRET_KEY.startswith("django-insecure-")
    ):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is too weak for SHAREHUB_PRODUCTION: set it (or "
            "DJANGO_SECRET_KEY_FILE) to 50 or more random characters, for example the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
    # Without them every sealed identity and match token would be unreadable or, worse, made
    # under a key nobody kept. sharehub.apps checks at start-up that they also parse.
    # The audit key too: without it every entry would fail to write, and with one made up per
    # process the chain could not be verified.
    for _variable in ("SHAREHUB_MASTER_KEYS", "SHAREHUB_LINKAGE_KEY", "SHAREHUB_AUDIT_KEY"):
        if not env.str(_variable, default=""):
            raise ImproperlyConfigured(
                f"Set {_variable} (or {_variable}_FILE) when SHAREHUB_PRODUCTION is true, to "
                "'1:<base64 of 32 random bytes>' (how to make one: Keys, in the README)."
            )
    # The bridge seals identities to the ingest public key; the worker needs the private keys to
    # open them, a web tier may hold only the public ones (core.keys, Keys in the README).
    if not (
        env.str("SHAREHUB_INGEST_KEYS", default="")
        or env.str("SHAREHUB_INGEST_PUBLIC_KEYS", default="")
    ):
        raise ImproperlyConfigured(
            "Set SHAREHUB_INGEST_KEYS (or SHAREHUB_INGEST_KEYS_FILE) on the ingest worker, and it "
            "or SHAREHUB_INGEST_PUBLIC_KEYS on the web tier, when SHAREHUB_PRODUCTION is true "
            "(how to make them: Keys, in the README)."
        )

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "sharehub.apps.ShareHubAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "core",
    "sharehub",
    "accounts",
    "agencies",
    "matching",
    "protocols",
    "consent",
    "notifications",
    "risk",
    "alerts",
    "insights",
    "audit",
    "oversight",
    "subject_access",
    "retention",
    "transparency",
    "csp",
    "synthetic",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # An idle session ends before anything else looks at who is signed in.
    "accounts.middleware.IdleTimeoutMiddleware",
    # Marks request.user verified or not from the device id in the session; the next one turns
    # a password-only session away from every page until the second factor is given.
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.SecondFactorRequiredMiddleware",
    "agencies.middleware.ActiveMembershipMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns a sign-in refused for lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "sharehub.urls"
WSGI_APPLICATION = "sharehub.wsgi.application"

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
                "sharehub.context_processors.navigation",
                "notifications.context_processors.unread",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'sharehub.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web process and in-process tasks share one file; WAL lets reads go on while a
    # task writes, and the busy timeout turns a brief lock into a wait instead of an error.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    # A file, not memory, for the test database, so a real Celery worker process started by the
    # end-to-end tests can open the same database as the test run.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-sharehub.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out email and IP address is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian's anonymous user is for sites that grant object permissions to visitors; ShareHub never
# does, so there is no such user to grant anything to by mistake.
ANONYMOUS_USER_NAME = None
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = None  # show "You have signed out" rather than the form again
# Two-factor authentication (issue 8): every role sees person data or decides who does, so a
# confirmed TOTP device is required of every signed-in user. Turning it off is for the demo only.
SHAREHUB_REQUIRE_OTP = env.bool("SHAREHUB_REQUIRE_OTP", default=True)
if PRODUCTION and not SHAREHUB_REQUIRE_OTP:
    raise ImproperlyConfigured(
        "SHAREHUB_REQUIRE_OTP must not be false when SHAREHUB_PRODUCTION is true: every role "
        "sees person data and needs a second factor."
    )
# One 30-second step either side of now: enough for a phone clock a little out and for the
# seconds it takes to type the code, while keeping a code valid for 90 seconds at most rather
# than the minutes a wider window would give someone who has seen it over a shoulder.
# (django-otp stores it per device; accounts/two_factor.py gives new devices this value.)
OTP_TOTP_TOLERANCE = 1
OTP_TOTP_ISSUER = "ShareHub"
PASSWORD_RESET_TIMEOUT = env.int("SHAREHUB_PASSWORD_RESET_TIMEOUT", default=60 * 60)

# Sessions end when the browser closes, after a working day at most, and after
# SHAREHUB_IDLE_SECONDS without a request (accounts.middleware.IdleTimeoutMiddleware): a
# practitioner who walks away from an unlocked screen leaves no one a way into person data.
SESSION_COOKIE_AGE = env.int("SHAREHUB_SESSION_SECONDS", default=8 * 60 * 60)
SHAREHUB_IDLE_SECONDS = env.int("SHAREHUB_IDLE_SECONDS", default=30 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Lockout (django-axes): the 11th wrong password for one email from one IP address is refused
# even if it is right. Keyed on the pair, not the email alone, so someone spraying wrong
# passwords from one address locks only themselves out, not every colleague whose email they
# know (SECURITY.md, denial of service). A 15-minute cool-off rather than axes' default of
# forever, for the same reason: a lockout a platform admin must lift by hand is a denial of
# service anyone can cause. Every attempt during the lockout starts the 15 minutes again.
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The sign-in form's field is "username" although the user model signs in by email; axes keeps
# a keyed hash of it, lower-cased, never the text typed (accounts.lockout).
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.locked_out"
# Attempts are kept in the database (axes' own tables), never the password, and the audit
# trail keeps its own record of each failure.
AXES_SENSITIVE_PARAMETERS = ["password"]
# The audit trail already records every sign-in; axes' own access log would be a second copy.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
# govuk-frontend, Chart.js and Swagger UI come from the npm registry; `make assets` copies their
# compiled files into build/frontend. Nothing of them is committed.
FRONTEND_BUILD_DIR = BASE_DIR / "build" / "frontend"
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
if not PRODUCTION:
    # WhiteNoise looks in STATIC_ROOT at start-up; in development it is empty until collectstatic.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("govuk", FRONTEND_BUILD_DIR / "govuk"),
    ("chartjs", FRONTEND_BUILD_DIR / "chartjs"),
    ("swagger-ui", FRONTEND_BUILD_DIR / "swagger-ui"),
]
# The design system's stylesheet refers to its fonts and images at /assets/, so that folder is
# served from the site root.
WHITENOISE_ROOT = FRONTEND_BUILD_DIR / "root"
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# The private area for uploads in flight. Never served: no MEDIA_URL, no URL pattern.
MEDIA_ROOT = Path(env.str("SHAREHUB_PRIVATE_DIR", default=str(VAR_DIR / "private")))
FILE_UPLOAD_TEMP_DIR = str(MEDIA_ROOT / "incoming")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
FILE_UPLOAD_PERMISSIONS = 0o600
# One file per request is all ShareHub takes; the mapping form has five fields per column.
DATA_UPLOAD_MAX_NUMBER_FILES = 1
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5 * 300 + 100
FILE_UPLOAD_HANDLERS = [
    # Refuses a file past SHAREHUB_UPLOAD_MAX_BYTES while it streams in, before it fills a disk.
    "agencies.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Email ----------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
if env.str("EMAIL_FILE_PATH", default=""):
    # For the file backend (filemail://): an absolute path, which EMAIL_URL cannot carry.
    EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ShareHub <no-reply@sharehub.invalid>")
# The address emails link back to: tasks that send them have no request to read it from.
SHAREHUB_SITE_URL = env.str("SHAREHUB_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- Celery ---------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
# Without a broker the embedded default runs every task in the calling process, so `make demo`
# needs nothing but Python.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Work that must not be lost is acknowledged only when done and given back if a worker dies;
# one task at a time per process so a killed worker strands at most one.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task whose worker died unacknowledged goes back on the queue once the visibility timeout has
# passed; Redis is swept for such tasks every interval x throttle seconds. A task outliving the
# timeout is delivered again while still running, which the ingest's advisory lock turns away.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=60 * 60),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="sharehub")
CELERY_RESULT_EXPIRES = 24 * 60 * 60
# Results (return values, exception messages) are not kept in Redis unless a task asks: an
# exception's text can quote the data it failed on.
CELERY_TASK_IGNORE_RESULT = True
# A version submitted for approval waits on every party's IG officers: each party still to
# approve is reminded after this many days, and again every this many days until it does.
PROTOCOL_APPROVAL_REMINDER_DAYS = env.int("SHAREHUB_PROTOCOL_APPROVAL_REMINDER_DAYS", default=5)

CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-extracts": {
        "task": "agencies.tasks.requeue_stalled_extracts",
        "schedule": 5 * 60,
    },
    # A linkage run whose worker died is marked abandoned and its work queued again within a
    # minute or two, not when the broker's visibility timeout gives its task back (an hour).
    "requeue-abandoned-linkage-runs": {
        "task": "matching.tasks.requeue_abandoned_linkage_runs",
        "schedule": 60,
    },
    # A bridge upload not completed within 24 hours is dropped with its chunks.
    "sealed-uploads-expire": {
        "task": "agencies.tasks.sealed_uploads_expire",
        "schedule": 30 * 60,
    },
    # The engine compares an override's expiry with the clock on every read, so access ends on
    # time whatever this does; this tells the practitioner, once, that it has ended.
    "safeguarding-overrides-expire": {
        "task": "consent.tasks.overrides_expire",
        "schedule": 60,
    },
    # Records past their dataset's retention period are erased before the night's scoring, so
    # the scores and dashboards it writes are already without them.
    "retention-erase-nightly": {
        "task": "retention.tasks.erase_nightly",
        "schedule": crontab(hour=1, minute=30),
    },
    # Decay moves every risk score every day; the run also raises the day's alerts and
    # refreshes the dashboards' figures. At night, away from the day's uploads.
    "risk-enrich-nightly": {
        "task": "risk.tasks.enrich_nightly",
        "schedule": crontab(hour=2, minute=30),
    },
    # The audit trail's head, anchored outside the database even when few entries are written;
    # and unusual reads of each agency's records, told to its IG officers.
    "audit-anchor": {"task": "audit.tasks.anchor", "schedule": 5 * 60},
    "audit-unusual-reads": {"task": "oversight.tasks.unusual_reads_notify", "schedule": 15 * 60},
    # Hourly is often enough for a reminder counted in days; each agency is reminded at most
    # once per PROTOCOL_APPROVAL_REMINDER_DAYS whatever the schedule (protocols.approvals).
    "protocol-approval-reminders": {
        "task": "protocols.tasks.approval_reminders",
        "schedule": 60 * 60,
    },
}
CELERY_TIMEZONE = TIME_ZONE

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "agencies.tokens.AgencyTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ShareHub API",
    "DESCRIPTION": (
        "For agencies' systems: datasets, extract uploads and their progress, linkage review, "
        "data-sharing protocols, consent and safeguarding overrides, and case summaries. Every "
        "request acts for one agency: send an agency API token (made by the agency's admin on "
        "the API tokens page) as `Authorization: Token <token>`, or use a signed-in session. "
        "Objects of another agency answer 404, as if they did not exist."
    ),
    "VERSION": "1",
    # Only /api/v1/: the pages are not part of the API.
    "SCHEMA_PATH_PREFIX": r"/api/v1/",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}

# --- Logging --------------------------------------------------------------------------------
# Logs say what happened to which record id, never what a record contains.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("SHAREHUB_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes logs every sign-in and reset with the email as the user typed it (its
        # lockout key is a hash, accounts.lockout, but these lines name the account itself).
        "axes": {"level": "WARNING"},
    },
}

# --- Security -------------------------------------------------------------------------------
# No inline script or style anywhere: every script is a file of ours or of a package we build
# (govuk-frontend, Chart.js), chart data travels in non-executable JSON blocks, and Chart.js
# styles its canvas from script, which style-src does not govern. So an injected <script> or
# style attribute does nothing. frame-ancestors replaces X-Frame-Options for current browsers.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Rate limits: (requests, window in seconds) per user, or per IP address for sign-in, counted
# in the cache (accounts.ratelimits). Sign-in is per address because the lockout is per email
# and address: this is what slows one address guessing across many emails. Search and export
# are per user, so a stolen session cannot walk the population or pull the dataset repeatedly.
SHAREHUB_RATE_LIMITS = {
    "sign_in": (30, 60),
    "search": (30, 60),
    "export": (10, 60 * 60),
    # No API endpoint takes a password; API tokens are long and random, so guessing is hopeless,
    # but an address sending bad tokens is refused for a while rather than answered for ever.
    "api_token_failures": (10, 5 * 60),
    # Password reset: requests per IP address, and emails per email address asked about
    # (counted whether it has an account or not; past the limit the page answers as always and
    # sends nothing, so the limit tells no one which addresses have accounts).
    "password_reset": (5, 60 * 60),
    "password_reset_address": (3, 60 * 60),
    # Reports of a wrong or missed link, per user: each waits for a person to review it, and one
    # open report per record or pair is enforced besides (matching.challenges).
    "link_report": (20, 60 * 60),
}
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"search": "30/min", "export": "10/hour"}
# Counters must be shared by every web process, so Redis when there is one; the embedded
# default has one process, which its own memory serves.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 60 * 60)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
    # Behind the compose file's proxy or a load balancer that terminates TLS.
    if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- ShareHub -------------------------------------------------------------------------------
# Extracts: the largest file accepted, and the share of bad rows above which a whole extract
# is rejected rather than partly loaded.
SHAREHUB_UPLOAD_MAX_BYTES = env.int("SHAREHUB_UPLOAD_MAX_BYTES", default=2 * 1024**3)
# The IG bridge sends its sealed extract in chunks of this size (bridge/PROTOCOL.md).
SHAREHUB_SEALED_CHUNK_BYTES = env.int("SHAREHUB_SEALED_CHUNK_BYTES", default=8 * 1024**2)
SHAREHUB_QUARANTINE_THRESHOLD = env.float("SHAREHUB_QUARANTINE_THRESHOLD", default=0.10)
# Linkage: a pair whose match probability reaches UPPER links automatically; one between LOWER and
# UPPER goes to the review queue. Two records whose match weight (log2 odds) is below GUARD are
# clearly different people, and no chain of links may put them in one person. 0.95 treats a false
# link as about twenty times worse than a missed one: the probabilities are calibrated (checked on
# public sets, BENCHMARKS.md), and what probabilistic linkage gets wrong at such thresholds (a
# family's members, chains) is held by the family guards and the chain guard, not the threshold.
SHAREHUB_LINKAGE_UPPER = env.float("SHAREHUB_LINKAGE_UPPER", default=0.95)
SHAREHUB_LINKAGE_LOWER = env.float("SHAREHUB_LINKAGE_LOWER", default=0.5)
SHAREHUB_LINKAGE_GUARD_WEIGHT = env.float("SHAREHUB_LINKAGE_GUARD_WEIGHT", default=-10.0)
# The review queue holds at most this share of the live records (at least 50 items): the most
# likely matches first, so a team can work through it; the rest stay unlinked, counted in each
# run's figures.
SHAREHUB_REVIEW_QUEUE_SHARE = env.float("SHAREHUB_REVIEW_QUEUE_SHARE", default=0.01)
# Audit anchors (SECURITY.md row 19): the head hash and entry count of the audit trail, written
# outside the database to an append-only file the deployment names (a write-once mount or a file
# shipped off the host) and to the log, at the first keyed entry, every ANCHOR_EVERY entries, at
# the first entry after ANCHOR_SECONDS without an anchor, and every few minutes by beat.
# audit_verify compares the chain with them, so a recomputed chain or a cut tail shows; the
# smaller these two, the smaller the cut that can go unseen (audit.services).
SHAREHUB_AUDIT_ANCHOR_PATH = Path(
    env.str("SHAREHUB_AUDIT_ANCHOR_PATH", default=str(VAR_DIR / "audit-anchors.jsonl"))
)
SHAREHUB_AUDIT_ANCHOR_EVERY = env.int("SHAREHUB_AUDIT_ANCHOR_EVERY", default=1)
SHAREHUB_AUDIT_ANCHOR_SECONDS = env.int("SHAREHUB_AUDIT_ANCHOR_SECONDS", default=30)
SHAREHUB_PARTNERSHIP_NAME = env.str(
    "SHAREHUB_PARTNERSHIP_NAME", default="Demo Safeguarding Partnership"
)

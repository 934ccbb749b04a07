"""Settings, every value from the environment (see README "Configuration").

With no environment at all this is the embedded default used by the README's run command:
SQLite, a file-system Celery broker, the in-process cache, console e-mail and the public
demo keys. With DEBUG off the demo secrets are refused at start-up.
"""

import ipaddress
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from core.env import (
    database_from_url,
    env_bool,
    env_decimal,
    env_float,
    env_int,
    env_list,
    env_str,
    url_host,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# Tests and the embedded default may run on the published demo secrets; production may not.
ALLOW_DEMO_SECRETS = DEBUG or env_bool("PORTAL_ALLOW_DEMO_SECRETS", False)

DEMO_SECRET_KEY = "demo-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env_str("SECRET_KEY", DEMO_SECRET_KEY if ALLOW_DEMO_SECRETS else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "accounts.admin_apps.PortalAdminConfig",  # django.contrib.admin behind allauth's sign-in
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "portal",
    "api",
    "branding",
    "accounts",
    "apikeys",
    "billing",
    "orders",
    "checker",
    "events",
]

MIDDLEWARE = [
    "portal.metrics.RequestMetricsMiddleware",  # first: it times what every later one does
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.ApiRequestGuardMiddleware",
    "portal.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "portal.middleware.AuthenticationMiddleware",
    "portal.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.CurrentAccountMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "portal.middleware.NulCharacterGuardMiddleware",
]

ROOT_URLCONF = env_str("ROOT_URLCONF", "portal.urls")  # benchmarks mount extra views
WSGI_APPLICATION = "portal.wsgi.application"

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
                "branding.context_processors.brand",
                "accounts.context_processors.current_account",
            ],
            "builtins": ["core.templatefilters"],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "portal.sqlite3")),
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; IMMEDIATE makes
                # every transaction take the write lock up front, so ledger updates queue
                # instead of failing with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

# --- Cache, rate limits, Celery -------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.retry import Retry

    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "portal"),
            # One immediate retry on a dropped connection (Redis restarted, an idle timeout
            # on the way): redis-py reconnects instead of failing that request with a 503.
            # Only then: a timed-out command may have run, and a retry could count it twice.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2,
                        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }

RATELIMIT_USE_CACHE = "default"
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
RATELIMIT_FAIL_OPEN = False
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's fix-up closes the database connection around every task unless this is set; the
# worker follows CONN_MAX_AGE instead (portal.celery.close_old_database_connections).
CELERY_DB_REUSE_MAX = 10**9
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660, minimum=1)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# How often each pool is re-checked: the beat enqueues the shards last checked longer ago.
CHECKER_RECHECK_S = {
    "public": env_float("CHECKER_PUBLIC_RECHECK_S", 1800.0, minimum=10),
    "premium": env_float("CHECKER_PREMIUM_RECHECK_S", 900.0, minimum=10),
}
CELERY_BEAT_SCHEDULE = {
    "expire-orders": {"task": "orders.tasks.expire_orders", "schedule": 60.0},
    "renew-orders": {
        "task": "orders.tasks.renew_orders",
        "schedule": min(600.0, env_float("ORDERS_RENEW_EVERY_S", 300.0, minimum=10)),
    },
    "pull-usage": {"task": "orders.residential.tasks.pull_usage", "schedule": 300.0},
    "purge-usage-records": {"task": "orders.residential.tasks.purge_usage_records", "schedule": 3600.0},
    "lapse-premium": {"task": "billing.tasks.lapse_premium", "schedule": 60.0},
    "sweep-check-jobs": {"task": "checker.tasks.sweep_stale_jobs", "schedule": 60.0},
    "redrive-webhook-events": {"task": "events.tasks.redrive_undelivered", "schedule": 60.0},
    "purge-webhook-events": {"task": "events.tasks.purge_old_events", "schedule": 3600.0},
    "purge-idempotency-records": {"task": "portal.tasks.purge_idempotency_records", "schedule": 3600.0},
    # Pending upstream orders whose task was lost (a killed worker), and the upstream balance.
    "sweep-upstream-orders": {
        "task": "orders.tasks.sweep_upstream_orders",
        "schedule": env_float("UPSTREAM_SWEEP_EVERY_S", 60.0, minimum=1),
    },
    # Also after every change; this catches accounts whose last upstream order ended.
    "sync-upstream-authorized-ips": {"task": "orders.tasks.sync_upstream_authorized_ips", "schedule": 900.0},
    "check-upstream-balance": {
        "task": "orders.tasks.check_upstream_balance",
        "schedule": env_float("UPSTREAM_BALANCE_CHECK_EVERY_S", 900.0, minimum=10),
    },
    # Low-stock thresholds (admin: Orders › Stock thresholds): staff are e-mailed once per crossing.
    "check-stock-thresholds": {
        "task": "orders.tasks.check_stock_thresholds",
        "schedule": env_float("STOCK_CHECK_EVERY_S", 300.0, minimum=10),
    },
    "recheck-public-pool": {
        "task": "checker.tasks.recheck_pool",
        "schedule": CHECKER_RECHECK_S["public"],
        "args": ["public"],
    },
    "recheck-premium-pool": {
        "task": "checker.tasks.recheck_pool",
        "schedule": CHECKER_RECHECK_S["premium"],
        "args": ["premium"],
    },
}

# --- Auth, allauth --------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:overview"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.adapters.PortalAccountAdapter"
MFA_ADAPTER = "accounts.adapters.PortalMFAAdapter"
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("LOGIN_FAILED_RATE", "10/m/ip,5/5m/key"),
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Staff open /admin/ only after TOTP in allauth's sign-in; those without an authenticator
# are sent to set one up. Staff who have one always pass it, whatever this says.
ADMIN_REQUIRE_MFA = env_bool("ADMIN_REQUIRE_MFA", not DEBUG)
# Empty: the brand's name (accounts.adapters.PortalMFAAdapter).
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "")

# --- E-mail ---------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# Where django.core.mail.backends.filebased.EmailBackend writes (staging, the two-portal tests).
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
# The sender's address; its display name is the brand's name (branding.selectors.brand_from_email).
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "noreply@localhost")
# Where customers write to, e.g. to have a suspended account reactivated (shown on its pages).
SUPPORT_EMAIL = env_str("SUPPORT_EMAIL", "")

# --- The operator's brand: defaults until a Brand is saved in the admin (/admin/branding/brand/)
BRAND_NAME = env_str("BRAND_NAME", "Proxy Portal")
BRAND_LOGO_URL = env_str("BRAND_LOGO_URL", "")
BRAND_FAVICON_URL = env_str("BRAND_FAVICON_URL", "")
BRAND_PRIMARY_COLOR = env_str("BRAND_PRIMARY_COLOR", "#2f5bea")
BRAND_SUPPORT_URL = env_str("BRAND_SUPPORT_URL", "")
BRAND_TERMS_URL = env_str("BRAND_TERMS_URL", "")
BRAND_PRIVACY_URL = env_str("BRAND_PRIVACY_URL", "")

# --- I18N, static ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024, minimum=1024)

# --- Security -------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many reverse proxies in front of the web server append to X-Forwarded-For.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["api.renderers.EnvelopeRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.JsonFirstNegotiation",
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.EnvelopeAutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.envelope_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "API",  # the brand's name goes before it (portal.views.BrandedSwaggerView)
    "DESCRIPTION": "Every response is wrapped in the envelope "
    '`{"result", "data", "error", "error_type", "meta"}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}

# --- Product settings ----------------------------------------------------------------
API_KEY_PREFIX = env_str("API_KEY_PREFIX", "pk_live_")
API_KEYS_PER_ACCOUNT = env_int("API_KEYS_PER_ACCOUNT", 10, minimum=1)
AUTH_FAILURES_PER_MINUTE = env_int("AUTH_FAILURES_PER_MINUTE", 30, minimum=1)
# Seconds a web process may keep an API key and its account in memory, checked against the
# account's version in Redis on every request (api.snapshots); 0 reads the database
# for every request. Only used on Redis.
AUTH_SNAPSHOT_MAX_AGE_S = env_int("AUTH_SNAPSHOT_MAX_AGE_S", 5, minimum=0)
# What the API platform (api/) takes from the apps, by dotted path (api.hooks): the keys it
# authenticates, and each tier's rate limits per category.
API_KEY_SOURCE = "apikeys.keysource"
API_RATE_LIMITS = "accounts.selectors.plan_rate_limits"
IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24, minimum=1)
# Requests per window when no Plan row overrides them (docs/api.md#rate-limits). Windows are fixed per
# category: general and order_create per minute, check and export per hour.
RATE_LIMIT_DEFAULTS = {
    "free": {"general": 60, "order_create": 10, "check": 20, "export": 10},
    "premium": {"general": 300, "order_create": 30, "check": 200, "export": 60},
}

# Public BIP test vectors (mnemonic "abandon x11 about"): they hold no funds and exist
# so that every feature works out of the box. Refused when DEBUG is off.
DEMO_DEPOSIT_XPUBS = {
    "BTC": "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs",
    "LTC": "zpub6rPo5mF47z5coVm5rvWv7fv181awb7Vckn5Cf3xQXBVKu18kuBHDhNi1Jrb4br6vVD3ZbrnXemEsWJoR18mZwkUdzwD8TQnHDUCGxqZ6swA",
    "ETH": "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt",
    "TRX": "xpub6D1AabNHCupeiLM65ZR9UStMhJ1vCpyV4XbZdyhMZBiJXALQtmn9p42VTQckoHVn8WNqS7dqnJokZHAHcHGoaQgmv8D45oNUKx6DZMNZBCd",
}
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"
DEPOSIT_XPUBS = {
    chain: env_str(f"DEPOSIT_XPUB_{chain}", demo if ALLOW_DEMO_SECRETS else "")
    for chain, demo in DEMO_DEPOSIT_XPUBS.items()
}
DEPOSIT_CONFIRMATIONS = {
    "BTC": env_int("DEPOSIT_CONFIRMATIONS_BTC", 2, minimum=0),
    "LTC": env_int("DEPOSIT_CONFIRMATIONS_LTC", 6, minimum=0),
    "ETH": env_int("DEPOSIT_CONFIRMATIONS_ETH", 12, minimum=0),
    "TRX": env_int("DEPOSIT_CONFIRMATIONS_TRX", 20, minimum=0),
}
DEPOSIT_WEBHOOK_SECRET = env_str(
    "DEPOSIT_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET if ALLOW_DEMO_SECRETS else ""
)
USAGE_WEBHOOK_SECRET = env_str(
    "USAGE_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET if ALLOW_DEMO_SECRETS else ""
)

# GET /metrics (Prometheus): open to `Authorization: Bearer <METRICS_TOKEN>` or to the client
# addresses and networks in METRICS_ALLOW_IPS; closed (404) with neither. The queues whose
# depth it reports are those the workers consume (Celery's default queue is `celery`).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOW_IPS = env_list("METRICS_ALLOW_IPS", "")
METRICS_CELERY_QUEUES = env_list("METRICS_CELERY_QUEUES", "celery")
for _entry in METRICS_ALLOW_IPS:
    try:
        ipaddress.ip_network(_entry, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOW_IPS: {_entry!r} is not an IP address or network") from None

CHECKER_ALLOW_PRIVATE = env_bool("CHECKER_ALLOW_PRIVATE", False)

# Customers' webhooks (outgoing events, the `events` app).
WEBHOOKS_ALLOW_HTTP = env_bool("WEBHOOKS_ALLOW_HTTP", DEBUG)
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", False)
WEBHOOKS_MAX_ENDPOINTS = env_int("WEBHOOKS_MAX_ENDPOINTS", 10, minimum=1)
WEBHOOKS_TIMEOUT_S = env_float("WEBHOOKS_TIMEOUT_S", 10.0, minimum=0.1)
# Seconds between attempts: 1, 5, 30 min, 2, 6, 12 h, then 12 h again, while within the window.
WEBHOOKS_RETRY_DELAYS_S = (60, 300, 1800, 7200, 21600, 43200)
WEBHOOKS_RETRY_WINDOW_S = env_int("WEBHOOKS_RETRY_WINDOW_S", 86400, minimum=1)
WEBHOOKS_DISABLE_AFTER_S = env_int("WEBHOOKS_DISABLE_AFTER_S", 3 * 86400, minimum=1)
# How long a worker holds an event it is delivering before the sweep may hand it to another.
WEBHOOKS_CLAIM_S = env_int("WEBHOOKS_CLAIM_S", 120, minimum=1)
# Events and their delivery attempts are kept this long (the Webhooks page and the API show them).
WEBHOOKS_KEEP_DAYS = env_int("WEBHOOKS_KEEP_DAYS", 30, minimum=1)
CHECKER_CONCURRENCY = env_int("CHECKER_CONCURRENCY", 500, minimum=1)
CHECKER_TIMEOUT_S = env_float("CHECKER_TIMEOUT_S", 8.0, minimum=0.1)
CHECKER_JUDGE_URL = env_str("CHECKER_JUDGE_URL", f"{SITE_URL.rstrip('/')}/judge")
# The judge may be served on a host name of its own, where the portal's cookies are never
# sent (docs/deploy.md): requests for it pass the host check without listing it twice.
_JUDGE_HOST = url_host(CHECKER_JUDGE_URL)
if _JUDGE_HOST and _JUDGE_HOST not in ALLOWED_HOSTS and "*" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_JUDGE_HOST)
CHECKER_JOB_STALE_S = env_int("CHECKER_JOB_STALE_S", 900, minimum=30)
# Jobs larger than this, and the pools, are cut into shards of this many proxies, each a task
# any worker takes (docs/deploy.md: worker processes).
CHECKER_SHARD_SIZE = env_int("CHECKER_SHARD_SIZE", 5000, minimum=1)
# A running shard whose heartbeat (every batch, at least every few seconds) is older than this
# lost its worker: the sweep hands it to another.
CHECKER_SHARD_LEASE_S = env_int("CHECKER_SHARD_LEASE_S", 120, minimum=10)

# Raw usage records are kept this long (by the hour they count); statistics read the hourly and
# daily rollups, which are kept for good. A record older than the purged hours is refused.
USAGE_RAW_RETENTION_DAYS = env_int("USAGE_RAW_RETENTION_DAYS", 90, minimum=3)  # > the pull's 2 days

RESIDENTIAL_GATEWAY_HOST = env_str("RESIDENTIAL_GATEWAY_HOST", "gw.localhost")
RESIDENTIAL_GATEWAY_PORT = env_int("RESIDENTIAL_GATEWAY_PORT", 7777, minimum=1)
# Who supplies each proxy type (docs/architecture.md#providers): ORDER_PROVIDER every type,
# ORDER_PROVIDER_<TYPE> one type; an operator's choice per type in the admin (ProxyType.provider)
# comes before both (orders.providers.provider_name_for_type reads all three).
ORDER_PROVIDER_NAMES = ("inventory", "upstream")
ORDER_PROVIDER_TYPES = ("residential", "datacenter", "isp", "mobile", "ipv6")
ORDER_PROVIDER = env_str("ORDER_PROVIDER", "inventory").strip()
ORDER_PROVIDERS_BY_TYPE = {
    type_code: value
    for type_code in ORDER_PROVIDER_TYPES
    if (value := env_str(f"ORDER_PROVIDER_{type_code.upper()}").strip())
}
_PROVIDER_SETTINGS = {
    "ORDER_PROVIDER": ORDER_PROVIDER,
    **{f"ORDER_PROVIDER_{t.upper()}": v for t, v in ORDER_PROVIDERS_BY_TYPE.items()},
}
for _name, _value in _PROVIDER_SETTINGS.items():
    if _value not in ORDER_PROVIDER_NAMES:
        raise ImproperlyConfigured(f"{_name} must be one of {', '.join(ORDER_PROVIDER_NAMES)}, got {_value!r}")
# The upstream seller: another portal (or any seller) speaking this portal's API, at its
# /api/v1 base. The key is a secret: from the environment only, never logged nor shown.
UPSTREAM_API_URL = env_str("UPSTREAM_API_URL")
UPSTREAM_API_KEY = env_str("UPSTREAM_API_KEY")
UPSTREAM_CONNECT_TIMEOUT_S = env_float("UPSTREAM_CONNECT_TIMEOUT_S", 5.0, minimum=0.1)
UPSTREAM_TIMEOUT_S = env_float("UPSTREAM_TIMEOUT_S", 10.0, minimum=0.1)  # each wait for an answer
UPSTREAM_RETRIES = env_int("UPSTREAM_RETRIES", 2, minimum=0)
UPSTREAM_BACKOFF_S = env_float("UPSTREAM_BACKOFF_S", 0.5, minimum=0.0)  # doubles per retry
UPSTREAM_BACKOFF_MAX_S = env_float("UPSTREAM_BACKOFF_MAX_S", 8.0, minimum=0.0)
# A 429's Retry-After up to this is waited out within the call; a longer one fails it at once.
UPSTREAM_RETRY_AFTER_MAX_S = env_float("UPSTREAM_RETRY_AFTER_MAX_S", 60.0, minimum=0.0)
UPSTREAM_MARKUP_PERCENT = env_decimal("UPSTREAM_MARKUP_PERCENT", "30")
# An upstream order not active this long after it was placed here fails and is refunded.
UPSTREAM_PLACE_DEADLINE_S = env_int("UPSTREAM_PLACE_DEADLINE_S", 300, minimum=1)
# A pending upstream order no worker looked at for this long is driven again by the sweep.
UPSTREAM_SWEEP_STALE_S = env_int("UPSTREAM_SWEEP_STALE_S", 60, minimum=1)
# The upstream's reference data (countries, periods) is kept this long in the cache (≤ 10 min).
UPSTREAM_REFERENCE_CACHE_S = env_int("UPSTREAM_REFERENCE_CACHE_S", 300, minimum=0)
if UPSTREAM_REFERENCE_CACHE_S > 600:
    raise ImproperlyConfigured("UPSTREAM_REFERENCE_CACHE_S must be at most 600 (ten minutes)")
UPSTREAM_LOW_BALANCE_USD = env_decimal("UPSTREAM_LOW_BALANCE_USD", "50")
for _name, _value in (("UPSTREAM_MARKUP_PERCENT", UPSTREAM_MARKUP_PERCENT),
                      ("UPSTREAM_LOW_BALANCE_USD", UPSTREAM_LOW_BALANCE_USD)):
    if not _value.is_finite() or _value < 0:
        raise ImproperlyConfigured(f"{_name} must be a number of at least 0, got {_value}")
_NEEDS_UPSTREAM = [name for name, value in _PROVIDER_SETTINGS.items() if value == "upstream"]
if _NEEDS_UPSTREAM and not UPSTREAM_API_URL:
    raise ImproperlyConfigured(f"{', '.join(_NEEDS_UPSTREAM)}=upstream needs UPSTREAM_API_URL")


def _refuse_demo_secrets() -> None:
    """With DEBUG off, published demo keys and secrets must not be used."""
    demo_in_use = [f"DEPOSIT_XPUB_{c}" for c, v in DEPOSIT_XPUBS.items() if v == DEMO_DEPOSIT_XPUBS[c]]
    if SECRET_KEY == DEMO_SECRET_KEY:
        demo_in_use.append("SECRET_KEY")
    for name, value in (
        ("DEPOSIT_WEBHOOK_SECRET", DEPOSIT_WEBHOOK_SECRET),
        ("USAGE_WEBHOOK_SECRET", USAGE_WEBHOOK_SECRET),
    ):
        if value == DEMO_WEBHOOK_SECRET:
            demo_in_use.append(name)
    if demo_in_use:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG off on the public demo values of: "
            + ", ".join(demo_in_use)
            + ". Set your own in the environment."
        )


if not ALLOW_DEMO_SECRETS:
    _refuse_demo_secrets()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # httpx logs every request it sends at INFO; the upstream client logs its retries itself.
    "loggers": {"django.request": {"level": "ERROR"}, "httpx": {"level": "WARNING"}},
}

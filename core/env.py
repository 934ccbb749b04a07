"""Typed readers for settings taken from the environment.

Each reader fails loudly (ImproperlyConfigured) on a value it cannot parse, so a typo in a
deployment stops the process at start-up instead of running with a silent default.
"""

import os
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    return default if raw is None else _flag(name, raw)


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = _int(name, raw)
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_decimal(name: str, default: str) -> Decimal:
    raw = os.environ.get(name, default)
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a decimal number, got {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def url_host(url: str) -> str | None:
    """The host name of `url` as ALLOWED_HOSTS spells it (an IPv6 address in brackets)."""
    try:
        host = urlparse(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return f"[{host}]" if ":" in host else host


def database_from_url(url: str) -> dict:
    """Translate ``postgres://user:pass@host:port/name?opt=v`` into a DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// URL, got scheme {parsed.scheme!r}"
        )
    name = unquote(parsed.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL must name a database")
    options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    # Parameters are bound on the server, and the statements of the API's prepared reads are
    # prepared there (core.postgresql): PostgreSQL parses and plans each once per connection,
    # about half of what a small read costs it. `&prepare_threshold=N` also prepares any other
    # statement a connection has run N times (it may then settle on a generic plan, which for
    # the statistics' date ranges was three times slower, docs/deploy.md).
    # `?server_side_binding=false` turns both off (Django's default: parameters quoted into
    # the SQL by psycopg, nothing prepared).
    options["server_side_binding"] = _flag(
        "DATABASE_URL's server_side_binding", options.get("server_side_binding", "true")
    )
    if "prepare_threshold" in options:
        options["prepare_threshold"] = _int("DATABASE_URL's prepare_threshold", options["prepare_threshold"])
    return {
        "ENGINE": "core.postgresql",  # Django's, with a cheaper health check
        "NAME": name,
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
    }

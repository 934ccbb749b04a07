"""Country of an IP address from offline GeoIP data shipped in the ``geoip2fast`` package.

The database is loaded lazily once per process (first call) and shared. No network access.
"""

from __future__ import annotations

import ipaddress
import threading

__all__ = ["country_of"]

_lock = threading.Lock()
_db = None
_failed = False


def _get_db():
    global _db, _failed
    if _db is not None or _failed:
        return _db
    with _lock:
        if _db is None and not _failed:
            try:
                from geoip2fast import GeoIP2Fast

                _db = GeoIP2Fast(verbose=False)
            except Exception:  # pragma: no cover - data file missing or broken
                _failed = True
    return _db


def country_of(ip: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code (upper case) of ``ip``, or None when unknown, private,
    loopback, reserved or not an IP. Never raises."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if not addr.is_global:
        return None
    db = _get_db()
    if db is None:
        return None
    try:
        detail = db.lookup(str(addr))
        code = getattr(detail, "country_code", None)
    except Exception:  # pragma: no cover
        return None
    if not code or not isinstance(code, str) or len(code) != 2 or not code.isalpha():
        return None
    return code.upper()

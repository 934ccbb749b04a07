"""Proxy checker engine: plain asyncio, no Django import anywhere in this package.

Public interface:

- :mod:`.parse` — ``ProxySpec``, ``ParseResult``, ``parse_proxy_list(text, *, max_items=None)``
- :mod:`.check` — the runner: ``CheckConfig``, ``CheckResult``,
  ``check_many(proxies, config, on_result=None)``, ``run_checks(proxies, config, on_result=None)``
- :mod:`.protocols` — one attempt through a proxy: HTTP forward and CONNECT, SOCKS4/4a and
  SOCKS5 handshakes, reading the HTTP answer
- :mod:`.judge` — the judge protocol (request sent, formats parsed, anonymity rules)
- :mod:`.geo` — ``country_of(ip)`` from offline GeoIP data (geoip2fast)

The asyncio judge, proxy and misbehaving servers that test and benchmark it are in
``tests/checker/servers.py``.

The address guard every connection goes through is `core.netguard` (plain Python too; outgoing
webhooks use it as well).
"""

from .check import CheckConfig, CheckResult, check_many, run_checks
from .parse import ParseResult, ProxySpec, parse_proxy_list

__all__ = [
    "CheckConfig",
    "CheckResult",
    "ParseResult",
    "ProxySpec",
    "check_many",
    "parse_proxy_list",
    "run_checks",
]

"""Address guard: decide whether the portal may open a socket to a host (the checker's proxies
and targets, customers' webhook URLs). Plain Python: the checker engine imports it too.

Refused (unless ``allow_private=True``, i.e. ``CHECKER_ALLOW_PRIVATE`` or
``WEBHOOKS_ALLOW_PRIVATE``): every address that is
not globally routable — private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback (127/8, ::1),
link-local (169.254/16 incl. 169.254.169.254, fe80::/10), shared address space (100.64/10),
multicast, reserved (240/4, 255.255.255.255, ::/8 …), unspecified (0.0.0.0, ::), documentation
and benchmarking ranges, IPv6 addresses with a zone id — and IPv6 forms that embed an IPv4
address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``, Teredo)
whose embedded IPv4 address is refused.

Odd IPv4 spellings are normalised with ``inet_aton`` semantics (what the OS resolver would
connect to): ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` are all 127.0.0.1.

Hostnames are resolved ONCE; if ANY resolved address is refused the host is refused (no
"pick the public one" games with DNS rebinding); otherwise :attr:`GuardResult.address` is the
address the caller must connect to (never resolve the name again).

``GuardResult.reason`` is a short machine code suitable for ``CheckResult.error``:
``'blocked_address'`` (refused range), ``'dns_error'`` (name did not resolve) or
``'invalid_address'`` (not a usable host). ``detail`` carries a human explanation.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "GuardResult",
    "check_address",
    "check_address_async",
    "classify_ip",
    "literal_ip",
    "Resolver",
    "AsyncResolver",
]

#: sync resolver: hostname -> iterable of address strings (raise OSError when unresolvable)
Resolver = Callable[[str], Iterable[str]]
#: async resolver: hostname -> awaitable iterable of address strings
AsyncResolver = Callable[[str], Awaitable[Iterable[str]]]

_INET_ATON_RE = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)(\.(0[xX][0-9a-fA-F]*|[0-9]+)){0,3}$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


@dataclass(frozen=True)
class GuardResult:
    """``allowed``: may connect. ``address``: the canonical IP to connect to (set when
    allowed; for a refused host the offending address when known). ``reason``: None when
    allowed, else 'blocked_address' | 'dns_error' | 'invalid_address'. ``detail``: text."""

    allowed: bool
    address: str | None
    reason: str | None
    detail: str | None = None


def literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the IP address a literal host spells (IPv6 with or without brackets, IPv4 in
    any inet_aton spelling), or None if ``host`` is not an IP literal."""
    h = host.strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if ":" in h:
        try:
            return ipaddress.IPv6Address(h)
        except ValueError:
            return None
    if _INET_ATON_RE.match(h):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except (OSError, ValueError):
            return None
    return None


def _classify_v4(ip: ipaddress.IPv4Address) -> str | None:
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip in _SHARED:
        return "shared address space (100.64/10)"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_reserved:
        return "reserved address"
    if ip.is_private:
        return "private address"
    if not ip.is_global:
        return "non-global address"
    return None


def classify_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """None if ``ip`` is globally routable and allowed; else a short description why not."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _classify_v4(ip)
    if ip.scope_id:
        return "scoped IPv6 address"
    embedded: ipaddress.IPv4Address | None = None
    if ip.ipv4_mapped is not None:
        embedded = ip.ipv4_mapped
    elif ip.sixtofour is not None:
        embedded = ip.sixtofour
    elif ip.teredo is not None:
        embedded = ip.teredo[1]
    elif ip in _NAT64:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if embedded is not None:
        why = _classify_v4(embedded)
        if why:
            return f"IPv6-embedded {why} ({embedded})"
    if ip in _NAT64_LOCAL:
        return "local-use NAT64 address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local or ip.is_site_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_private:
        return "private address"
    if ip.is_reserved and embedded is None:
        return "reserved address"
    if not ip.is_global and embedded is None:
        return "non-global address"
    return None


def _canonical(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _judge_ip(ip, allow_private: bool) -> GuardResult:
    if allow_private:
        return GuardResult(True, _canonical(ip), None)
    why = classify_ip(ip)
    if why:
        return GuardResult(False, _canonical(ip), "blocked_address", why)
    return GuardResult(True, _canonical(ip), None)


def _judge_resolved(host: str, addresses: Iterable[str], allow_private: bool) -> GuardResult:
    parsed = []
    for raw in addresses:
        text = str(raw)
        ip = literal_ip(text.split("%", 1)[0])
        if ip is None:
            return GuardResult(False, None, "dns_error", f"{host} resolved to a non-IP {raw!r}")
        if "%" in text and not allow_private:
            return GuardResult(False, str(ip), "blocked_address", "scoped IPv6 address")
        parsed.append(ip)
    if not parsed:
        return GuardResult(False, None, "dns_error", f"{host} did not resolve")
    first: GuardResult | None = None
    for ip in parsed:
        verdict = _judge_ip(ip, allow_private)
        if not verdict.allowed:
            return GuardResult(
                False, verdict.address, verdict.reason, f"{host} resolves to {verdict.detail}"
            )
        if first is None:
            first = verdict
    # prefer an IPv4 address (works on hosts without IPv6 routes), else the first
    for ip in parsed:
        if isinstance(ip, ipaddress.IPv4Address) or ip.ipv4_mapped is not None:
            return GuardResult(True, _canonical(ip), None)
    return first  # type: ignore[return-value]


def _pre(host: str) -> GuardResult | ipaddress.IPv4Address | ipaddress.IPv6Address | str:
    """Literal / syntax handling shared by both variants: a verdict, an IP, or the name."""
    if not isinstance(host, str) or not host.strip() or len(host) > 253:
        return GuardResult(False, None, "invalid_address", "empty or overlong host")
    h = host.strip()
    if "%" in h:
        return GuardResult(False, None, "invalid_address", "zone ids are not accepted")
    ip = literal_ip(h)
    if ip is not None:
        return ip
    if h.startswith("[") or ":" in h or _INET_ATON_RE.match(h):
        return GuardResult(False, None, "invalid_address", f"malformed address {h!r}")
    return h.rstrip(".").lower()


def _default_resolve(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def check_address(
    host: str, *, allow_private: bool, resolver: Resolver | None = None
) -> GuardResult:
    """Check ``host`` (IP literal in any spelling, or hostname resolved once with ``resolver``
    — default ``socket.getaddrinfo``). Never raises; opens no socket besides DNS."""
    pre = _pre(host)
    if isinstance(pre, GuardResult):
        return pre
    if not isinstance(pre, str):
        return _judge_ip(pre, allow_private)
    try:
        addresses = list((resolver or _default_resolve)(pre))
    except (OSError, UnicodeError, ValueError) as exc:
        return GuardResult(False, None, "dns_error", f"{pre}: {exc}")
    return _judge_resolved(pre, addresses, allow_private)


async def check_address_async(
    host: str, *, allow_private: bool, resolver: AsyncResolver | None = None
) -> GuardResult:
    """Async :func:`check_address`; the default resolver is ``loop.getaddrinfo``."""
    pre = _pre(host)
    if isinstance(pre, GuardResult):
        return pre
    if not isinstance(pre, str):
        return _judge_ip(pre, allow_private)
    try:
        if resolver is None:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(pre, None, type=socket.SOCK_STREAM)
            addresses = [info[4][0] for info in infos]
        else:
            addresses = list(await resolver(pre))
    except (OSError, UnicodeError, ValueError) as exc:
        return GuardResult(False, None, "dns_error", f"{pre}: {exc}")
    return _judge_resolved(pre, addresses, allow_private)

"""The judge protocol: what the checker sends to the judge and what it parses back.

The judge (``GET /judge``, Django side; ``tests/checker/servers.py`` has a standalone
asyncio one for engine tests) echoes the source address of the TCP connection it received
and the request headers exactly as received, in one of two formats.

Request the checker sends (through the proxy)::

    GET <judge path+query> HTTP/1.1
    Host: <judge host[:port]>
    User-Agent: portal-checker/1.0
    Accept: application/json
    Connection: close

The checker sends no other headers, so any proxy header in the echo was added by the proxy.

Response formats (either is accepted; status 200 required):

1. JSON — when the request has ``Accept: application/json`` or ``?format=json``
   (``Content-Type: application/json``)::

       {"remote_addr": "1.2.3.4",
        "headers": {"Host": "...", "User-Agent": "...", "X-Forwarded-For": "..."}}

   ``headers`` maps the received header names (any case) to their values (a list of
   values is accepted too). Extra keys are ignored.

2. Plain text, azenv style (``Content-Type: text/plain``) — one ``KEY = value`` a line,
   CGI naming: ``REMOTE_ADDR = 1.2.3.4`` and each header as ``HTTP_<NAME>`` with dashes
   as underscores, upper case (``HTTP_X_FORWARDED_FOR = 5.6.7.8``, ``HTTP_VIA = 1.1 squid``).
   Other lines are ignored; an azenv.php page wrapped in ``<pre>`` also parses.

``exit_ip`` is ``remote_addr``. Anonymity (:func:`anonymity_of`):
``transparent`` if any of the checker's own public addresses (``CheckConfig.real_ips``)
appears in any echoed header value; ``anonymous`` if a proxy header shows
(:data:`PROXY_HEADERS`); ``elite`` otherwise.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field

__all__ = [
    "JudgeEcho",
    "PROXY_HEADERS",
    "USER_AGENT",
    "parse_judge_body",
    "anonymity_of",
    "render_text",
    "render_json",
]

USER_AGENT = "portal-checker/1.0"

#: Header names (lower case) whose presence in the echo reveals a proxy.
PROXY_HEADERS = frozenset(
    {
        "via",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-server",
        "x-forwarded",
        "forwarded-for",
        "x-real-ip",
        "client-ip",
        "x-client-ip",
        "x-proxy-id",
        "proxy-connection",
        "proxy-authorization",
        "x-proxy-connection",
        "x-originating-ip",
        "x-remote-ip",
        "x-remote-addr",
        "true-client-ip",
        "cf-connecting-ip",
        "x-cluster-client-ip",
        "x-bluecoat-via",
        "xroxy-connection",
        "proxy-agent",
        "x-host",
        "x-coming-from",
        "coming-from",
        "cache-info",
        "x-cache",
    }
)

_AZENV_RE = re.compile(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s?(.*?)\s*$")


@dataclass
class JudgeEcho:
    """Parsed judge response: the exit address and the headers as the judge received them
    (names lower case, dashes; values joined with ', ' when repeated)."""

    remote_addr: str
    headers: dict[str, str] = field(default_factory=dict)


def _clean_ip(value: str) -> str | None:
    v = value.strip().strip("[]")
    try:
        ip = ipaddress.ip_address(v.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def parse_judge_body(body: bytes | str) -> JudgeEcho | None:
    """Parse a judge body in either format; None if it is not a judge echo. Never raises."""
    try:
        text = (
            body.decode("utf-8", errors="replace") if isinstance(body, bytes | bytearray) else body
        )
        stripped = text.lstrip()
        if stripped.startswith("{"):
            return _parse_json(stripped)
        return _parse_text(text)
    except Exception:  # pragma: no cover - defensive
        return None


def _parse_json(text: str) -> JudgeEcho | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    raw_addr = data.get("remote_addr") or data.get("REMOTE_ADDR")
    if not isinstance(raw_addr, str):
        return None
    addr = _clean_ip(raw_addr)
    if addr is None:
        return None
    headers: dict[str, str] = {}
    raw_headers = data.get("headers")
    if isinstance(raw_headers, dict):
        for name, value in raw_headers.items():
            if not isinstance(name, str):
                continue
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            key = name.strip().lower().replace("_", "-")
            if key.startswith("http-"):
                key = key[5:]
            headers[key] = f"{headers[key]}, {value}" if key in headers else str(value)
    return JudgeEcho(addr, headers)


def _parse_text(text: str) -> JudgeEcho | None:
    addr = None
    headers: dict[str, str] = {}
    for line in text.splitlines():
        line = re.sub(r"<[^>]*>", "", line)
        m = _AZENV_RE.match(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if key == "REMOTE_ADDR":
            addr = _clean_ip(value)
        elif key.startswith("HTTP_"):
            name = key[5:].lower().replace("_", "-")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if addr is None:
        return None
    return JudgeEcho(addr, headers)


# Headers the checker itself sends to the judge; never evidence of a leak.
REQUEST_OWN_HEADERS = frozenset({"host", "user-agent", "accept", "connection"})


def anonymity_of(echo: JudgeEcho, real_ips: frozenset[str] | set[str]) -> str:
    """'transparent' | 'anonymous' | 'elite' (see module docstring)."""
    if real_ips:
        # Host names the judge itself (it may be reached by the checker's own address), so it
        # says nothing about what the proxy leaked.
        blob = " ".join(value for name, value in echo.headers.items() if name not in REQUEST_OWN_HEADERS)
        tokens = set(re.split(r"[\s,;=\"\[\]]+", blob))
        # also catch "for=1.2.3.4:5678" style values
        tokens |= {t.rsplit(":", 1)[0] for t in tokens if t.count(":") == 1}
        for ip in real_ips:
            if ip in tokens:
                return "transparent"
    for name in echo.headers:
        if name in PROXY_HEADERS:
            return "anonymous"
    return "elite"


def render_text(remote_addr: str, headers: list[tuple[str, str]]) -> str:
    """Reference rendering of the plain-text (azenv) format, for judge implementations."""
    lines = [f"REMOTE_ADDR = {remote_addr}"]
    for name, value in headers:
        lines.append(f"HTTP_{name.upper().replace('-', '_')} = {value}")
    return "\n".join(lines) + "\n"


def render_json(remote_addr: str, headers: list[tuple[str, str]]) -> str:
    """Reference rendering of the JSON format, for judge implementations."""
    merged: dict[str, str] = {}
    for name, value in headers:
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return json.dumps({"remote_addr": remote_addr, "headers": merged})

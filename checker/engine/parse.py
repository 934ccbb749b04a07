"""Parse and normalise customer proxy lists (one proxy a line).

Accepted line formats (surrounding whitespace is stripped)::

    host:port
    host:port:user:pass          (the password is everything after the 3rd colon)
    user:pass@host:port          (the password may contain ':' and '@')
    user@host:port               (username only, password None)
    scheme://<any of the above>  scheme in http, https, socks4, socks4a, socks5, socks5h
                                 (case-insensitive; socks4a -> socks4, socks5h -> socks5)

``host`` is an IPv4 address, a hostname (letters, digits, '-', '_', dots; lowercased) or an
IPv6 address in brackets (``[::1]:8080``; compressed to canonical form). A trailing ``/`` after
the port (``http://1.2.3.4:80/``) and a trailing `` # comment`` are tolerated. Numeric-looking
hosts such as ``2130706433`` or ``0177.0.0.1`` are kept as written: they parse (inet_aton spells
them as IPv4) and the address guard (:mod:`core.netguard`) normalises and judges them.

Ignored: blank lines and lines whose first non-blank character is ``#``.
Duplicates (same :attr:`ProxySpec.norm`) are dropped and counted; anything else that does not
parse is counted as invalid (the first :data:`INVALID_SAMPLE` are kept, each cut to
:data:`INVALID_LINE_MAX` characters). :func:`parse_proxy_list` never raises on any ``str``.

Credentials are taken literally (no percent-decoding). Usernames may not contain ``:``, ``@``
or whitespace; passwords may not contain whitespace or control characters.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

__all__ = [
    "SCHEMES",
    "ProxySpec",
    "ParseResult",
    "parse_proxy_line",
    "parse_proxy_list",
    "INVALID_SAMPLE",
    "INVALID_LINE_MAX",
]

#: Canonical scheme names a ProxySpec may carry (None means "auto-detect").
SCHEMES = ("http", "https", "socks4", "socks5")
_SCHEME_ALIASES = {
    "http": "http",
    "https": "https",
    "socks4": "socks4",
    "socks4a": "socks4",
    "socks5": "socks5",
    "socks5h": "socks5",
}

INVALID_SAMPLE = 20
INVALID_LINE_MAX = 200
MAX_LINE = 2048  # longer lines are invalid without further work

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,15})://")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")
_LABEL_RE = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_BAD_CHARS_RE = re.compile(r"[\x00-\x20\x7f-\x9f\s]")
_USER_BAD_RE = re.compile(r"[\x00-\x20\x7f-\x9f\s:@]")


@dataclass(frozen=True)
class ProxySpec:
    """One proxy to check.

    ``scheme`` is 'http' (forward proxy), 'https' (HTTP CONNECT tunnel), 'socks4', 'socks5',
    or None when the line had no scheme (the checker auto-detects the protocol).
    ``host`` is an IPv4 literal, a lowercase hostname or a bare IPv6 literal (no brackets).
    """

    scheme: str | None
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def norm(self) -> str:
        """Canonical text of the proxy, unique per distinct proxy (the dedup key).

        ``[scheme://][user[:pass]@]host:port`` — the scheme prefix only when the line gave
        one explicitly (canonical name: socks5h -> socks5, socks4a -> socks4), credentials
        only when given, IPv6 hosts in brackets. ``parse_proxy_line(spec.norm) == spec``.
        Examples: ``1.2.3.4:8080``, ``user:pass@1.2.3.4:8080``, ``socks5://[2001:db8::1]:1080``.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{host}:{self.port}"
        if self.username is not None:
            cred = self.username if self.password is None else f"{self.username}:{self.password}"
            text = f"{cred}@{text}"
        if self.scheme:
            text = f"{self.scheme}://{text}"
        return text

    @property
    def hostport(self) -> str:
        """``host:port`` (IPv6 in brackets), without scheme or credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.norm


@dataclass
class ParseResult:
    """Outcome of :func:`parse_proxy_list`.

    ``proxies``: unique valid proxies in input order (at most ``max_items`` of them).
    ``invalid``: number of non-blank, non-comment lines that did not parse.
    ``duplicates``: number of valid lines dropped because their ``norm`` was already seen.
    ``invalid_lines``: the first :data:`INVALID_SAMPLE` invalid lines (cut to 200 chars).
    ``over_limit``: unique valid proxies beyond ``max_items`` that were not returned
    (0 when ``max_items`` is None) — a caller enforcing a per-job maximum can refuse the
    list when this is > 0.
    """

    proxies: list[ProxySpec] = field(default_factory=list)
    invalid: int = 0
    duplicates: int = 0
    invalid_lines: list[str] = field(default_factory=list)
    over_limit: int = 0

    @property
    def total(self) -> int:
        """Number of proxies returned."""
        return len(self.proxies)


def _parse_port(text: str) -> int | None:
    if not _PORT_RE.match(text):
        return None
    port = int(text)
    return port if 1 <= port <= 65535 else None


def _parse_host(text: str) -> str | None:
    """Validate a host (brackets already removed for IPv6 by the caller, flagged by ':')."""
    if not text or len(text) > 253:
        return None
    if ":" in text:
        try:
            addr = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        if addr.scope_id:
            return None
        return addr.compressed
    host = text.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host:
        return None
    labels = host.split(".")
    for label in labels:
        if not _LABEL_RE.match(label):
            return None
    return host


def _split_hostport(text: str) -> tuple[str, str] | None:
    """Split ``host:port`` / ``[v6]:port`` into raw host and port text."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            return None
        return text[1:end] or "", text[end + 2 :]
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return None
    return host, port


def _hostport(text: str) -> tuple[str, int] | None:
    parts = _split_hostport(text)
    if parts is None:
        return None
    raw_host, raw_port = parts
    if not raw_host:
        return None
    port = _parse_port(raw_port)
    if port is None:
        return None
    # a bracketed host must be IPv6, an unbracketed one must not contain ':'
    if text.startswith("[") != (":" in raw_host):
        return None
    host = _parse_host(raw_host)
    if host is None:
        return None
    return host, port


def _valid_user(user: str) -> bool:
    # a leading '#' would make the normalised form look like a comment line
    return bool(user) and not user.startswith("#") and _USER_BAD_RE.search(user) is None


def _valid_password(password: str) -> bool:
    return _BAD_CHARS_RE.search(password) is None


def parse_proxy_line(line: str) -> ProxySpec | None:
    """Parse one line (already known not to be blank/comment); None if invalid. Never raises."""
    try:
        return _parse_line(line)
    except Exception:  # pragma: no cover - defensive: the parser must never raise
        return None


def _parse_line(line: str) -> ProxySpec | None:
    text = line.strip()
    if not text or len(text) > MAX_LINE:
        return None
    # tolerate a trailing " # comment"
    hash_at = text.find(" #")
    if hash_at < 0:
        hash_at = text.find("\t#")
    if hash_at >= 0:
        text = text[:hash_at].rstrip()
    if _BAD_CHARS_RE.search(text):
        return None

    scheme = None
    m = _SCHEME_RE.match(text)
    if m:
        scheme = _SCHEME_ALIASES.get(m.group(1).lower())
        if scheme is None:
            return None
        text = text[m.end() :]
        if text.endswith("/"):
            text = text[:-1]
    if not text:
        return None

    # user[:pass]@host:port — the last '@' separates credentials from the address
    if "@" in text:
        userinfo, _, rest = text.rpartition("@")
        hp = _hostport(rest)
        if hp is not None:
            user, sep, password = userinfo.partition(":")
            if _valid_user(user) and _valid_password(password):
                return ProxySpec(scheme, hp[0], hp[1], user, password if sep else None)
        # fall through: maybe host:port:user:pass with an '@' in the password

    # host:port or host:port:user:pass (IPv6 must be bracketed)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        head_end = text.find(":", end)
        if head_end < 0:
            return None
        port_end = text.find(":", head_end + 1)
    else:
        head_end = text.find(":")
        if head_end < 0:
            return None
        port_end = text.find(":", head_end + 1)
    if port_end < 0:
        hp = _hostport(text)
        if hp is None:
            return None
        return ProxySpec(scheme, hp[0], hp[1])
    hp = _hostport(text[:port_end])
    if hp is None:
        return None
    creds = text[port_end + 1 :]
    user, sep, password = creds.partition(":")
    if not sep or not _valid_user(user) or not _valid_password(password):
        return None
    return ProxySpec(scheme, hp[0], hp[1], user, password)


def parse_proxy_list(text: str, *, max_items: int | None = None) -> ParseResult:
    """Parse a newline-separated proxy list. Never raises on any ``str`` input.

    Returns unique valid proxies in input order; see :class:`ParseResult` for the counters.
    ``max_items`` caps ``proxies``; further unique valid proxies are counted in ``over_limit``.
    Non-str input is coerced with ``str()``; bytes are decoded as UTF-8 with replacement.
    """
    result = ParseResult()
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        try:
            text = str(text)
        except Exception:
            return result
    seen: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spec = parse_proxy_line(line)
        if spec is None:
            result.invalid += 1
            if len(result.invalid_lines) < INVALID_SAMPLE:
                # Shown back to the customer and stored as JSON, which PostgreSQL refuses with NUL in it.
                result.invalid_lines.append(line[:INVALID_LINE_MAX].replace("\x00", "\ufffd"))
            continue
        key = spec.norm
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        if max_items is not None and len(result.proxies) >= max_items:
            result.over_limit += 1
            continue
        result.proxies.append(spec)
    return result

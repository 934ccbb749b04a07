"""The proxy checker engine: plain asyncio, no Django.

Usage::

    from checker.engine.check import CheckConfig, check_many, run_checks
    results = run_checks(specs, CheckConfig(judge_url="http://portal.example/judge"))

Each check is bounded END TO END by ``config.timeout_s`` (guard/DNS, TCP connect, proxy
handshake, the judge exchange, the optional target fetch): a proxy that accepts and never
answers, or dribbles bytes, ends as ``dead``/``timeout`` when the budget runs out. At most
``config.concurrency`` checks are in flight (a fixed pool of worker coroutines pulls from the
input iterable, so memory does not grow with the input size beyond the result list).

How one check goes:

1. The proxy host goes through :func:`core.netguard.check_address_async` (resolved
   once; refused -> ``dead``/``blocked_address``, unresolvable -> ``dns_error``); the engine
   connects to the returned address only.
2. Protocol: with an explicit scheme only that protocol is tried. Without one the engine
   auto-detects in the order http (forward GET) -> socks5 -> socks4 -> https (CONNECT), one
   TCP connection per attempt, all inside the same budget. The order sends an HTTP request
   first because SOCKS servers reject a non-SOCKS first byte at once while HTTP proxies would
   wait for the end of a binary greeting; an HTTP-looking answer skips the SOCKS attempts;
   a protocol that answered in kind (e.g. a SOCKS5 method reply) is final — its failure is
   the result; an answer that is no protocol at all (garbage) ends detection. A SOCKS5
   greeting that gets no reply within 40 % of the budget (min 0.5 s) moves on, because
   some SOCKS4 servers wait silently for a full 8-byte request. A refused or unreachable port
   ends the check at once. A port that stays silent uses the whole budget (``timeout``).
   Protocol labels: ``http`` = forward proxy (GET absolute-URI), ``https`` = CONNECT tunnel,
   ``socks4`` (4a when the target is a hostname that could not be resolved locally),
   ``socks5`` (username/password auth when credentials are given).
3. Through the proxy: ``GET`` the judge (see :mod:`checker.engine.judge`); exit IP = the
   judge's ``remote_addr``; country from :func:`checker.engine.geo.country_of`; anonymity when
   ``include_anonymity``.
4. If ``target_url`` is set: a second connection through the (now known) protocol fetches it;
   live only if it answers with status < 400 and, when ``expect_text`` is set, the body (first
   1 MiB) contains it. The target host is guarded once per run like proxy hosts (refused ->
   every result ``blocked_target``; unresolvable -> ``target_failed``), and SOCKS/CONNECT
   proxies are asked to connect to the checked address.

An ``https://`` judge or target is always reached through a tunnel (CONNECT for an ``http``
proxy, labelled ``http`` all the same) and TLS with ``config.ssl_context`` (default: system
CAs, certificate and hostname verified).

Timings: ``connect_ms`` = TCP connect to the proxy (of the attempt that decided the result);
``ttfb_ms`` = from the start of that attempt's TCP connect to the first byte of the judge's
response (so it includes the proxy handshake and the proxy's own upstream connect).

``CheckResult.error`` codes (None when live):
``refused`` (connection refused), ``unreachable`` (network/host unreachable, other connect
errors), ``timeout`` (the budget ran out), ``closed`` (proxy closed the connection early),
``reset`` (connection reset), ``bad_response`` (not the expected protocol / not a judge echo),
``auth_failed`` (credentials missing or refused: HTTP 407, SOCKS auth failure),
``rejected`` (proxy refused to reach the judge: HTTP error status, SOCKS failure reply),
``blocked_address`` / ``dns_error`` / ``invalid_address`` (from the guard, proxy host),
``tls_error`` (TLS to an https judge/target failed), ``target_failed`` (target status >= 400
or unreachable through the proxy), ``expect_text_missing``, ``blocked_target`` (the target
host is refused by the guard), ``error`` (a local problem — out of file descriptors or ports —
or a bug; not the proxy's fault).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import inspect
import ipaddress
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from core.netguard import AsyncResolver, check_address_async, literal_ip

from .geo import country_of
from .judge import USER_AGENT, JudgeEcho, anonymity_of, parse_judge_body
from .parse import ProxySpec

__all__ = [
    "CheckConfig",
    "CheckResult",
    "check_many",
    "run_checks",
    "check_one",
    "AUTO_ORDER",
    "ERROR_CODES",
]

AUTO_ORDER = ("http", "socks5", "socks4", "https")
ERROR_CODES = frozenset(
    {
        "refused",
        "unreachable",
        "timeout",
        "closed",
        "reset",
        "bad_response",
        "auth_failed",
        "rejected",
        "blocked_address",
        "dns_error",
        "invalid_address",
        "tls_error",
        "target_failed",
        "expect_text_missing",
        "blocked_target",
        "error",
    }
)

MAX_HEAD = 64 * 1024
MAX_JUDGE_BODY = 256 * 1024
MAX_TARGET_BODY = 1024 * 1024
READ_CHUNK = 64 * 1024
#: share of the budget an auto-detect SOCKS5 greeting may wait for its reply
GREETING_SHARE = 0.4
_LOCAL_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}
)
#: which unconfirmed auto-detect failure explains a dead proxy best (higher wins, then first)
_RANK = {"bad_response": 3, "timeout": 2, "reset": 1, "closed": 1}


@dataclass
class CheckConfig:
    """Settings of one run. ``judge_url``: http(s) URL of the judge (``CHECKER_JUDGE_URL``).
    ``timeout_s``: end-to-end budget per check (``CHECKER_TIMEOUT_S``). ``concurrency``:
    checks in flight (``CHECKER_CONCURRENCY``). ``allow_private``: ``CHECKER_ALLOW_PRIVATE``.
    ``include_anonymity``: classify anonymity (else ``anonymity`` is None).
    ``target_url`` / ``expect_text``: optional customer URL check (see module doc).
    ``real_ips``: the checker's own public addresses (for 'transparent').
    ``resolver``: optional async resolver for the guard (tests); default loop.getaddrinfo.
    ``ssl_context``: TLS settings for https judge/target URLs (default: system CAs, verified)."""

    judge_url: str
    timeout_s: float = 8.0
    concurrency: int = 500
    allow_private: bool = False
    include_anonymity: bool = False
    target_url: str | None = None
    expect_text: str | None = None
    real_ips: frozenset[str] = frozenset()
    resolver: AsyncResolver | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)


@dataclass
class CheckResult:
    """Outcome of one check. ``status`` 'live'|'dead'; ``protocol`` the detected/confirmed
    protocol ('http'|'https'|'socks4'|'socks5') or None when unknown; ``error`` None when live,
    else one of :data:`ERROR_CODES`."""

    proxy: ProxySpec
    status: str = "dead"
    protocol: str | None = None
    connect_ms: int | None = None
    ttfb_ms: int | None = None
    exit_ip: str | None = None
    country: str | None = None
    anonymity: str | None = None
    error: str | None = None

    @property
    def live(self) -> bool:
        return self.status == "live"

    def as_dict(self) -> dict:
        """JSON-ready dict (``proxy_norm`` instead of the spec), the API item shape."""
        return {
            "proxy_norm": self.proxy.norm,
            "status": self.status,
            "protocol": self.protocol,
            "connect_ms": self.connect_ms,
            "ttfb_ms": self.ttfb_ms,
            "exit_ip": self.exit_ip,
            "country": self.country,
            "anonymity": self.anonymity,
            "error": self.error,
        }


class _Fail(Exception):
    """A failed attempt. ``protocol``: set when the proxy answered in that protocol (the
    protocol is confirmed). ``http_seen``: the peer answered something HTTP-like.
    ``final``: no further auto-detect attempt makes sense."""

    def __init__(
        self,
        code: str,
        *,
        protocol: str | None = None,
        http_seen: bool = False,
        final: bool = False,
    ):
        super().__init__(code)
        self.code = code
        self.protocol = protocol
        self.http_seen = http_seen
        self.final = final


@dataclass(frozen=True)
class _Url:
    scheme: str  # 'http' | 'https'
    host: str  # as in the URL (no brackets)
    port: int
    path: str  # path + query, origin-form
    host_header: str
    absolute: str  # absolute-form for forward proxies
    connect_host: str  # what the proxy is asked to connect to (CONNECT / SOCKS)


def _parse_url(url: str) -> _Url:
    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme in {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    bracketed = f"[{host}]" if ":" in host else host
    host_header = bracketed if port == default else f"{bracketed}:{port}"
    absolute = f"{scheme}://{host_header}{path}"
    return _Url(scheme, host, port, path, host_header, absolute, host)


def _auth_header(spec: ProxySpec) -> str:
    if spec.username is None:
        return ""
    raw = f"{spec.username}:{spec.password or ''}".encode()
    return f"Proxy-Authorization: Basic {base64.b64encode(raw).decode('ascii')}\r\n"


def _ms(seconds: float) -> int:
    return max(0, int(round(seconds * 1000)))


class _Attempt:
    """Per-attempt timing record."""

    __slots__ = ("start", "connect_ms", "ttfb_ms", "protocol", "auto")

    def __init__(self, auto: bool = False) -> None:
        self.auto = auto
        self.start = 0.0
        self.connect_ms: int | None = None
        self.ttfb_ms: int | None = None
        self.protocol: str | None = None


class _Runner:
    def __init__(self, config: CheckConfig):
        self.cfg = config
        self.judge = _parse_url(config.judge_url)
        self.target = _parse_url(config.target_url) if config.target_url else None
        self.expect = config.expect_text.encode("utf-8") if config.expect_text else None
        self.target_blocked: str | None = None
        self.judge_v4: bytes | None = None
        self.target_v4: bytes | None = None
        self._ssl: ssl.SSLContext | None = None
        accept_json = "Accept: application/json\r\n"
        self._judge_tail = f"User-Agent: {USER_AGENT}\r\n{accept_json}Connection: close\r\n\r\n"
        self._target_tail = f"User-Agent: {USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n"

    @property
    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = self.cfg.ssl_context or ssl.create_default_context()
        return self._ssl

    async def setup(self) -> None:
        loop = asyncio.get_running_loop()
        self.judge_v4 = await self._ipv4_of(loop, self.judge.host)
        if self.target is not None:
            verdict = await check_address_async(
                self.target.host, allow_private=self.cfg.allow_private, resolver=self.cfg.resolver
            )
            if not verdict.allowed:
                self.target_blocked = (
                    "blocked_target" if verdict.reason == "blocked_address" else "target_failed"
                )
            else:
                # the proxy is asked to connect to the checked address (SOCKS / CONNECT)
                t = self.target
                self.target = _Url(
                    t.scheme,
                    t.host,
                    t.port,
                    t.path,
                    t.host_header,
                    t.absolute,
                    verdict.address or t.host,
                )
                ip = literal_ip(self.target.connect_host)
                if isinstance(ip, ipaddress.IPv4Address):
                    self.target_v4 = ip.packed

    @staticmethod
    async def _ipv4_of(loop, host: str) -> bytes | None:
        ip = literal_ip(host)
        if ip is not None:
            return ip.packed if isinstance(ip, ipaddress.IPv4Address) else None
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_STREAM), 5
            )
        except (OSError, TimeoutError, UnicodeError):
            return None
        for info in infos:
            return socket.inet_aton(info[4][0])
        return None

    # ------------------------------------------------------------------ one check
    async def check(self, spec: ProxySpec) -> CheckResult:
        res = CheckResult(proxy=spec)
        if self.target_blocked:
            res.error = self.target_blocked
            return res
        state: dict = {}
        try:
            async with asyncio.timeout(self.cfg.timeout_s):
                await self._check(spec, res, state)
        except TimeoutError:
            res.status = "dead"
            res.error = "timeout"
            att: _Attempt | None = state.get("attempt")
            if att is not None:
                if res.protocol is None:
                    res.protocol = att.protocol
                if res.connect_ms is None:
                    res.connect_ms = att.connect_ms
        except _Fail as fail:
            res.status = "dead"
            res.error = fail.code
            if res.protocol is None:
                res.protocol = fail.protocol
        except Exception:  # pragma: no cover - any bug must not kill the whole run
            res.status = "dead"
            res.error = "error"
        return res

    async def _check(self, spec: ProxySpec, res: CheckResult, state: dict) -> None:
        verdict = await check_address_async(
            spec.host, allow_private=self.cfg.allow_private, resolver=self.cfg.resolver
        )
        if not verdict.allowed:
            raise _Fail(verdict.reason or "blocked_address")
        addr = verdict.address
        assert addr is not None

        candidates = [spec.scheme] if spec.scheme else list(AUTO_ORDER)
        confirmed: _Fail | None = None
        last: _Fail | None = None
        protocol = None
        echo = None
        while candidates:
            proto = candidates.pop(0)
            att = _Attempt(auto=spec.scheme is None)
            state["attempt"] = att
            try:
                status, _headers, body = await self._exchange(
                    proto, addr, spec, self.judge, att, MAX_JUDGE_BODY
                )
                if status != 200:
                    raise _Fail("rejected", protocol=proto, http_seen=True)
                echo = parse_judge_body(body)
                if echo is None:
                    raise _Fail("bad_response", protocol=proto, http_seen=True)
                protocol = proto
                res.connect_ms, res.ttfb_ms = att.connect_ms, att.ttfb_ms
                break
            except _Fail as fail:
                if att.connect_ms is not None:
                    res.connect_ms = att.connect_ms
                if fail.protocol is None and att.protocol is not None:
                    fail.protocol = att.protocol
                if fail.protocol and confirmed is None:
                    confirmed = fail
                if last is None or _RANK.get(fail.code, 0) > _RANK.get(last.code, 0):
                    last = fail  # the most telling of the unconfirmed failures
                if fail.final or spec.scheme:
                    break
                if fail.protocol == "http" or (fail.http_seen and fail.protocol is None):
                    # an HTTP proxy: only CONNECT is left to try
                    if fail.code == "auth_failed":
                        break
                    candidates = [c for c in candidates if c == "https"]
                elif fail.protocol is not None:
                    break  # a SOCKS/CONNECT proxy answered in kind: its failure is final
        if protocol is None or echo is None:
            fail = confirmed or last or _Fail("error")
            # prefer the explanation of the protocol that answered in kind
            res.protocol = fail.protocol
            raise fail
        res.protocol = protocol
        self._fill_from_echo(res, echo)
        if self.target is not None:
            att = _Attempt()
            state["attempt"] = None
            try:
                status, _headers, body = await self._exchange(
                    protocol, addr, spec, self.target, att, MAX_TARGET_BODY
                )
            except _Fail as fail:
                raise _Fail(
                    "tls_error" if fail.code == "tls_error" else "target_failed", protocol=protocol
                ) from None
            if status >= 400:
                raise _Fail("target_failed", protocol=protocol)
            if self.expect is not None and self.expect not in body:
                raise _Fail("expect_text_missing", protocol=protocol)
        res.status = "live"
        res.error = None

    def _fill_from_echo(self, res: CheckResult, echo: JudgeEcho) -> None:
        res.exit_ip = echo.remote_addr
        res.country = country_of(echo.remote_addr)
        if self.cfg.include_anonymity:
            res.anonymity = anonymity_of(echo, self.cfg.real_ips)

    # ------------------------------------------------------------------ transport
    async def _open(self, addr: str, port: int, att: _Attempt):
        loop = asyncio.get_running_loop()
        att.start = loop.time()
        try:
            reader, writer = await asyncio.open_connection(addr, port, limit=MAX_HEAD)
        except ConnectionRefusedError:
            raise _Fail("refused", final=True) from None
        except OSError as exc:
            if exc.errno in (errno.ECONNRESET,):
                raise _Fail("reset") from None
            if exc.errno in _LOCAL_ERRNOS:
                # our own resources ran out (fds, ports, buffers): not the proxy's fault
                raise _Fail("error", final=True) from None
            raise _Fail("unreachable", final=True) from None
        att.connect_ms = _ms(loop.time() - att.start)
        return reader, writer

    async def _exchange(
        self, proto: str, addr: str, spec: ProxySpec, url: _Url, att: _Attempt, max_body: int
    ) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await self._open(addr, spec.port, att)
        try:
            try:
                if proto == "http" and url.scheme == "http":
                    req = f"GET {url.absolute} HTTP/1.1\r\nHost: {url.host_header}\r\n"
                    req += _auth_header(spec) + self._tail(url)
                    writer.write(req.encode("latin-1", errors="replace"))
                    return await self._read_response(reader, att, max_body, proxy_proto="http")
                if proto in ("http", "https"):
                    await self._connect_tunnel(reader, writer, spec, url, att)
                elif proto == "socks5":
                    await self._socks5(reader, writer, spec, url, att)
                elif proto == "socks4":
                    await self._socks4(reader, writer, spec, url, att)
                else:  # pragma: no cover
                    raise _Fail("error", final=True)
                att.protocol = proto
                if url.scheme == "https":
                    try:
                        await writer.start_tls(self.ssl_context, server_hostname=url.host)
                    except (ssl.SSLError, ssl.CertificateError, OSError):
                        raise _Fail("tls_error", protocol=proto, final=True) from None
                req = f"GET {url.path} HTTP/1.1\r\nHost: {url.host_header}\r\n" + self._tail(url)
                writer.write(req.encode("latin-1", errors="replace"))
                try:
                    return await self._read_response(reader, att, max_body, proxy_proto=None)
                except _Fail as fail:
                    # the tunnel is up: whatever comes back is the far side's fault
                    fail.protocol = proto
                    fail.final = True
                    raise
            except asyncio.IncompleteReadError:
                raise _Fail("closed", protocol=att.protocol) from None
            except ConnectionResetError:
                raise _Fail("reset", protocol=att.protocol) from None
            except (BrokenPipeError, ConnectionAbortedError):
                raise _Fail("closed", protocol=att.protocol) from None
            except OSError:
                raise _Fail("reset", protocol=att.protocol) from None
        finally:
            writer.transport.abort()

    def _tail(self, url: _Url) -> str:
        return self._judge_tail if url is self.judge else self._target_tail

    async def _connect_tunnel(
        self, reader, writer, spec: ProxySpec, url: _Url, att: _Attempt
    ) -> None:
        host = url.connect_host
        target = f"[{host}]:{url.port}" if ":" in host else f"{host}:{url.port}"
        req = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{_auth_header(spec)}\r\n"
        writer.write(req.encode("latin-1", errors="replace"))
        status, _headers, _rest = await self._read_head(reader, proxy_proto="https")
        if status == 407:
            raise _Fail("auth_failed", protocol="https", final=True)
        if not 200 <= status < 300:
            raise _Fail("rejected", protocol="https", http_seen=True)

    async def _socks5(self, reader, writer, spec: ProxySpec, url: _Url, att: _Attempt) -> None:
        creds = spec.username is not None
        writer.write(b"\x05\x02\x00\x02" if creds else b"\x05\x01\x00")
        if att.auto:
            # A SOCKS5 server answers the greeting at once (no upstream work). Some SOCKS4
            # servers instead wait for a full 8-byte request: give up on SOCKS5 after a
            # slice of the budget so SOCKS4 still gets its turn.
            try:
                async with asyncio.timeout(max(0.5, self.cfg.timeout_s * GREETING_SHARE)):
                    reply = await reader.readexactly(2)
            except TimeoutError:
                raise _Fail("timeout") from None
        else:
            reply = await reader.readexactly(2)
        if reply[0] != 5:
            http = reply.startswith(b"HT")
            raise _Fail("bad_response", http_seen=http, final=not http and reply[0] not in (0, 4))
        att.protocol = "socks5"
        method = reply[1]
        if method == 0x02 and creds:
            user = (spec.username or "").encode()[:255]
            pwd = (spec.password or "").encode()[:255]
            writer.write(bytes([1, len(user)]) + user + bytes([len(pwd)]) + pwd)
            try:
                auth = await reader.readexactly(2)
            except (asyncio.IncompleteReadError, ConnectionResetError):
                # many servers just hang up on bad credentials
                raise _Fail("auth_failed", protocol="socks5", final=True) from None
            if auth[1] != 0:
                raise _Fail("auth_failed", protocol="socks5", final=True)
        elif method != 0x00:
            code = "auth_failed" if method in (0x02, 0xFF) else "bad_response"
            raise _Fail(code, protocol="socks5", final=True)
        host = url.connect_host
        ip = literal_ip(host) if (":" in host or host[:1].isdigit()) else None
        if isinstance(ip, ipaddress.IPv4Address):
            addr = b"\x01" + ip.packed
        elif isinstance(ip, ipaddress.IPv6Address):
            addr = b"\x04" + ip.packed
        else:
            name = host.encode("idna")[:255]
            addr = b"\x03" + bytes([len(name)]) + name
        writer.write(b"\x05\x01\x00" + addr + struct.pack(">H", url.port))
        head = await reader.readexactly(4)
        if head[0] != 5:
            raise _Fail("bad_response", protocol="socks5", final=True)
        if head[1] != 0:
            raise _Fail("rejected", protocol="socks5", final=True)
        atyp = head[3]
        if atyp == 1:
            await reader.readexactly(4 + 2)
        elif atyp == 4:
            await reader.readexactly(16 + 2)
        elif atyp == 3:
            n = (await reader.readexactly(1))[0]
            await reader.readexactly(n + 2)
        else:
            raise _Fail("bad_response", protocol="socks5", final=True)

    async def _socks4(self, reader, writer, spec: ProxySpec, url: _Url, att: _Attempt) -> None:
        userid = (spec.username or "").encode()
        packed = None
        ip = literal_ip(url.connect_host)
        if isinstance(ip, ipaddress.IPv4Address):
            packed = ip.packed
        elif ip is None:
            packed = self.judge_v4 if url is self.judge else self.target_v4
        if packed is not None:
            req = b"\x04\x01" + struct.pack(">H", url.port) + packed + userid + b"\x00"
        elif ip is None:  # SOCKS4a: let the proxy resolve the name
            req = (
                b"\x04\x01"
                + struct.pack(">H", url.port)
                + b"\x00\x00\x00\x01"
                + userid
                + b"\x00"
                + url.connect_host.encode("idna")
                + b"\x00"
            )
        else:
            raise _Fail("rejected", final=True)  # SOCKS4 cannot reach IPv6
        writer.write(req)
        reply = await reader.readexactly(8)
        if reply[0] not in (0, 4):
            raise _Fail("bad_response", http_seen=reply.startswith(b"HT"))
        code = reply[1]
        if code in (0x5A, 0x5B, 0x5C, 0x5D):
            att.protocol = "socks4"
        if code == 0x5A:
            return
        if code in (0x5C, 0x5D):
            raise _Fail("auth_failed", protocol="socks4", final=True)
        if code == 0x5B:
            raise _Fail("rejected", protocol="socks4", final=True)
        raise _Fail("bad_response")

    # ------------------------------------------------------------------ HTTP reading
    async def _read_head(
        self, reader, *, proxy_proto: str | None, att: _Attempt | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Read a response head; returns (status, headers, bytes already read past it)."""
        buf = bytearray()
        while True:
            data = await reader.read(READ_CHUNK)
            if not data:
                if not buf:
                    raise _Fail("closed")
                raise _Fail("bad_response", http_seen=buf.startswith(b"HTTP/"))
            if not buf and att is not None:
                att.ttfb_ms = _ms(asyncio.get_running_loop().time() - att.start)
            buf += data
            prefix = bytes(buf[:5])
            if not b"HTTP/".startswith(prefix) and not prefix.startswith(b"HTTP/"):
                # a SOCKS server may answer an HTTP request with a SOCKS error (first byte
                # 0x00/0x04/0x05); anything else is garbage: no other protocol will help
                raise _Fail("bad_response", final=buf[0] not in (0, 4, 5))
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(buf) > MAX_HEAD:
                raise _Fail("bad_response", http_seen=True)
        head = bytes(buf[:end]).decode("latin-1")
        rest = bytes(buf[end + 4 :])
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
            raise _Fail("bad_response", http_seen=True)
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if proxy_proto is not None and status == 407:
            raise _Fail("auth_failed", protocol=proxy_proto, final=True)
        return status, headers, rest

    async def _read_response(
        self, reader, att: _Attempt, max_body: int, *, proxy_proto: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = await self._read_head(reader, proxy_proto=proxy_proto, att=att)
        if proxy_proto is not None:
            att.protocol = proxy_proto
        te = headers.get("transfer-encoding", "").lower()
        if "chunked" in te:
            return status, headers, await self._read_chunked(reader, body, max_body)
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit():
            want = min(int(length), max_body)
            buf = bytearray(body)
            while len(buf) < want:
                data = await reader.read(READ_CHUNK)
                if not data:
                    raise _Fail("closed", protocol=att.protocol)
                buf += data
            return status, headers, bytes(buf[:want])
        if status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        buf = bytearray(body)
        while len(buf) < max_body:
            data = await reader.read(READ_CHUNK)
            if not data:
                break
            buf += data
        return status, headers, bytes(buf[:max_body])

    @staticmethod
    async def _read_chunked(reader, initial: bytes, max_body: int) -> bytes:
        buf = bytearray(initial)
        out = bytearray()
        pos = 0

        async def more() -> None:
            data = await reader.read(READ_CHUNK)
            if not data:
                raise _Fail("closed")
            buf.extend(data)

        while True:
            while (nl := buf.find(b"\r\n", pos)) < 0:
                if len(buf) - pos > 1024:
                    raise _Fail("bad_response")
                await more()
            size_text = bytes(buf[pos:nl]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _Fail("bad_response") from None
            pos = nl + 2
            if size == 0:
                return bytes(out)
            while len(buf) < pos + size + 2:
                if len(out) + len(buf) - pos >= max_body:
                    out += buf[pos : pos + size]
                    return bytes(out[:max_body])
                await more()
            out += buf[pos : pos + size]
            pos += size + 2
            if len(out) >= max_body:
                return bytes(out[:max_body])
            if pos > READ_CHUNK:
                del buf[:pos]
                pos = 0


def _fd_budget(concurrency: int) -> int:
    """Each check holds one socket at a time. Raise the soft open-files limit if it is too
    low for ``concurrency`` (up to the hard limit); if it still is, run fewer at once rather
    than fail checks with EMFILE."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return concurrency
    reserve = 128
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = concurrency + reserve
        if soft != resource.RLIM_INFINITY and soft < want:
            new_soft = want if hard == resource.RLIM_INFINITY else min(hard, want)
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            soft = new_soft
    except (OSError, ValueError):
        return concurrency
    if soft == resource.RLIM_INFINITY:
        return concurrency
    return max(1, min(concurrency, soft - reserve))


# ---------------------------------------------------------------------- public API
async def check_one(spec: ProxySpec, config: CheckConfig) -> CheckResult:
    """Check a single proxy (sets up a runner; prefer :func:`check_many` for batches)."""
    runner = _Runner(config)
    await runner.setup()
    return await runner.check(spec)


async def check_many(
    proxies: Iterable[ProxySpec],
    config: CheckConfig,
    on_result: Callable[[CheckResult], Awaitable[None] | None] | None = None,
) -> list[CheckResult]:
    """Check every proxy, ``config.concurrency`` at a time; returns results in input order.

    The soft open-files limit is raised (to at most the hard limit) when it is too low for the
    concurrency; if it cannot be, fewer checks run at once.

    ``on_result`` is called (and awaited if it returns an awaitable) once per result as soon
    as it is ready, in completion order — use it to store results in batches while the run
    progresses. It runs on the event loop: keep it quick (buffer, and flush batches with
    ``asyncio.to_thread`` / ``sync_to_async`` for database writes). An exception from it
    cancels the run and propagates. Raises ValueError for an unusable judge/target URL.
    """
    runner = _Runner(config)
    await runner.setup()
    iterator = iter(enumerate(proxies))
    results: list[tuple[int, CheckResult]] = []

    async def worker() -> None:
        for index, spec in iterator:
            result = await runner.check(spec)
            results.append((index, result))
            if on_result is not None:
                outcome = on_result(result)
                if inspect.isawaitable(outcome):
                    await outcome

    workers = _fd_budget(max(1, int(config.concurrency)))
    if isinstance(proxies, list | tuple):
        workers = max(1, min(workers, len(proxies)))
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())
    except BaseExceptionGroup as group_error:
        # surface the callback's own exception, not the TaskGroup wrapper
        first: BaseException = group_error
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from group_error
    results.sort(key=lambda pair: pair[0])
    return [result for _, result in results]


def run_checks(
    proxies: Iterable[ProxySpec],
    config: CheckConfig,
    on_result: Callable[[CheckResult], Awaitable[None] | None] | None = None,
) -> list[CheckResult]:
    """Synchronous wrapper: runs :func:`check_many` in a fresh event loop (``asyncio.run``).
    Must not be called from a running event loop (use ``await check_many`` there)."""
    return asyncio.run(check_many(proxies, config, on_result))


async def fetch_own_ip(judge_url: str, *, timeout_s: float = 5.0) -> str | None:
    """Ask the judge directly (no proxy) which address it sees for us — a way to learn the
    checker's real public address for ``CheckConfig.real_ips``. None on any failure."""
    try:
        url = _parse_url(judge_url)
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(
                url.host,
                url.port,
                ssl=ssl.create_default_context() if url.scheme == "https" else None,
                server_hostname=url.host if url.scheme == "https" else None,
            )
            try:
                req = (
                    f"GET {url.path} HTTP/1.1\r\nHost: {url.host_header}\r\n"
                    f"User-Agent: {USER_AGENT}\r\nAccept: application/json\r\n"
                    "Connection: close\r\n\r\n"
                )
                writer.write(req.encode("latin-1", errors="replace"))
                data = await reader.read(MAX_JUDGE_BODY)
                while len(data) < MAX_JUDGE_BODY:
                    more = await reader.read(READ_CHUNK)
                    if not more:
                        break
                    data += more
            finally:
                writer.transport.abort()
    except (OSError, TimeoutError, ValueError, ssl.SSLError):
        return None
    _, _, body = data.partition(b"\r\n\r\n")
    echo = parse_judge_body(body)
    return echo.remote_addr if echo else None

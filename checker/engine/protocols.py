"""How one attempt talks to a proxy: the bytes on the wire.

:func:`exchange` connects to the proxy, speaks one protocol to reach a URL through it, sends a
``GET`` and reads the answer:

- ``http``: a forward proxy, asked with ``GET`` and the absolute URI (an ``https://`` URL is
  reached through a CONNECT tunnel instead, labelled ``http`` all the same);
- ``https``: a ``CONNECT`` tunnel (:func:`connect_tunnel`);
- ``socks5``: the greeting, username/password auth when the proxy spec has credentials, then
  CONNECT by IPv4, IPv6 or name (:func:`socks5_handshake`);
- ``socks4``: CONNECT to an IPv4 address, or SOCKS4a with the host name when it has none
  (:func:`socks4_handshake`).

Through a tunnel an ``https://`` URL gets TLS. The HTTP answer is read with a bounded head,
then by ``Content-Length``, chunked, or to the close (:func:`read_response`).

Every failure raises :class:`Fail` with one of the engine's error codes and what it says for
auto-detection (a protocol confirmed, HTTP seen, nothing more to try). Which protocols to try,
in what order, and the time budget are the runner's (:mod:`checker.engine.check`).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import ipaddress
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.netguard import literal_ip

from .parse import ProxySpec

MAX_HEAD = 64 * 1024
READ_CHUNK = 64 * 1024
_LOCAL_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}
)


class Fail(Exception):
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
class Url:
    scheme: str  # 'http' | 'https'
    host: str  # as in the URL (no brackets)
    port: int
    path: str  # path + query, origin-form
    host_header: str
    absolute: str  # absolute-form for forward proxies
    connect_host: str  # what the proxy is asked to connect to (CONNECT / SOCKS)


def parse_url(url: str) -> Url:
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
    return Url(scheme, host, port, path, host_header, absolute, host)


def _auth_header(spec: ProxySpec) -> str:
    if spec.username is None:
        return ""
    raw = f"{spec.username}:{spec.password or ''}".encode()
    return f"Proxy-Authorization: Basic {base64.b64encode(raw).decode('ascii')}\r\n"


def _ms(seconds: float) -> int:
    return max(0, int(round(seconds * 1000)))


class Attempt:
    """Per-attempt timing record."""

    __slots__ = ("start", "connect_ms", "ttfb_ms", "protocol", "auto")

    def __init__(self, auto: bool = False) -> None:
        self.auto = auto
        self.start = 0.0
        self.connect_ms: int | None = None
        self.ttfb_ms: int | None = None
        self.protocol: str | None = None


# ---------------------------------------------------------------------- one exchange
async def _open(addr: str, port: int, att: Attempt):
    loop = asyncio.get_running_loop()
    att.start = loop.time()
    try:
        reader, writer = await asyncio.open_connection(addr, port, limit=MAX_HEAD)
    except ConnectionRefusedError:
        raise Fail("refused", final=True) from None
    except OSError as exc:
        if exc.errno in (errno.ECONNRESET,):
            raise Fail("reset") from None
        if exc.errno in _LOCAL_ERRNOS:
            # our own resources ran out (fds, ports, buffers): not the proxy's fault
            raise Fail("error", final=True) from None
        raise Fail("unreachable", final=True) from None
    att.connect_ms = _ms(loop.time() - att.start)
    return reader, writer


async def exchange(
    proto: str,
    addr: str,
    spec: ProxySpec,
    url: Url,
    att: Attempt,
    max_body: int,
    *,
    request_tail: str,
    tls: Callable[[], ssl.SSLContext],
    greeting_timeout_s: float | None,
    socks4_v4: bytes | None,
) -> tuple[int, dict[str, str], bytes]:
    """One attempt: connect to the proxy at ``addr``, reach ``url`` through it in ``proto``,
    ``GET`` it and read the answer (at most ``max_body`` bytes of body); returns (status,
    headers, body). ``request_tail``: the request's last headers and blank line; ``tls``: the
    TLS context for an https URL; ``greeting_timeout_s``: how long a SOCKS5 greeting may wait
    for its reply (None: no limit of its own); ``socks4_v4``: the URL's host as IPv4, for
    SOCKS4 when the host is a name (None: SOCKS4a)."""
    reader, writer = await _open(addr, spec.port, att)
    try:
        try:
            if proto == "http" and url.scheme == "http":
                req = f"GET {url.absolute} HTTP/1.1\r\nHost: {url.host_header}\r\n"
                req += _auth_header(spec) + request_tail
                writer.write(req.encode("latin-1", errors="replace"))
                return await read_response(reader, att, max_body, proxy_proto="http")
            if proto in ("http", "https"):
                await connect_tunnel(reader, writer, spec, url)
            elif proto == "socks5":
                await socks5_handshake(
                    reader, writer, spec, url, att, greeting_timeout_s=greeting_timeout_s
                )
            elif proto == "socks4":
                await socks4_handshake(reader, writer, spec, url, att, socks4_v4=socks4_v4)
            else:  # pragma: no cover
                raise Fail("error", final=True)
            att.protocol = proto
            if url.scheme == "https":
                try:
                    await writer.start_tls(tls(), server_hostname=url.host)
                except (ssl.SSLError, ssl.CertificateError, OSError):
                    raise Fail("tls_error", protocol=proto, final=True) from None
            req = f"GET {url.path} HTTP/1.1\r\nHost: {url.host_header}\r\n" + request_tail
            writer.write(req.encode("latin-1", errors="replace"))
            try:
                return await read_response(reader, att, max_body, proxy_proto=None)
            except Fail as fail:
                # the tunnel is up: whatever comes back is the far side's fault
                fail.protocol = proto
                fail.final = True
                raise
        except asyncio.IncompleteReadError:
            raise Fail("closed", protocol=att.protocol) from None
        except ConnectionResetError:
            raise Fail("reset", protocol=att.protocol) from None
        except (BrokenPipeError, ConnectionAbortedError):
            raise Fail("closed", protocol=att.protocol) from None
        except OSError:
            raise Fail("reset", protocol=att.protocol) from None
    finally:
        writer.transport.abort()


# ---------------------------------------------------------------------- handshakes
async def connect_tunnel(reader, writer, spec: ProxySpec, url: Url) -> None:
    host = url.connect_host
    target = f"[{host}]:{url.port}" if ":" in host else f"{host}:{url.port}"
    req = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{_auth_header(spec)}\r\n"
    writer.write(req.encode("latin-1", errors="replace"))
    status, _headers, _rest = await read_head(reader, proxy_proto="https")
    if status == 407:
        raise Fail("auth_failed", protocol="https", final=True)
    if not 200 <= status < 300:
        raise Fail("rejected", protocol="https", http_seen=True)


async def socks5_handshake(
    reader, writer, spec: ProxySpec, url: Url, att: Attempt, *, greeting_timeout_s: float | None
) -> None:
    creds = spec.username is not None
    writer.write(b"\x05\x02\x00\x02" if creds else b"\x05\x01\x00")
    if greeting_timeout_s is not None:
        # A SOCKS5 server answers the greeting at once (no upstream work). Some SOCKS4
        # servers instead wait for a full 8-byte request: auto-detection gives up on SOCKS5
        # after a slice of the budget so SOCKS4 still gets its turn.
        try:
            async with asyncio.timeout(greeting_timeout_s):
                reply = await reader.readexactly(2)
        except TimeoutError:
            raise Fail("timeout") from None
    else:
        reply = await reader.readexactly(2)
    if reply[0] != 5:
        http = reply.startswith(b"HT")
        raise Fail("bad_response", http_seen=http, final=not http and reply[0] not in (0, 4))
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
            raise Fail("auth_failed", protocol="socks5", final=True) from None
        if auth[1] != 0:
            raise Fail("auth_failed", protocol="socks5", final=True)
    elif method != 0x00:
        code = "auth_failed" if method in (0x02, 0xFF) else "bad_response"
        raise Fail(code, protocol="socks5", final=True)
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
        raise Fail("bad_response", protocol="socks5", final=True)
    if head[1] != 0:
        raise Fail("rejected", protocol="socks5", final=True)
    atyp = head[3]
    if atyp == 1:
        await reader.readexactly(4 + 2)
    elif atyp == 4:
        await reader.readexactly(16 + 2)
    elif atyp == 3:
        n = (await reader.readexactly(1))[0]
        await reader.readexactly(n + 2)
    else:
        raise Fail("bad_response", protocol="socks5", final=True)


async def socks4_handshake(
    reader, writer, spec: ProxySpec, url: Url, att: Attempt, *, socks4_v4: bytes | None
) -> None:
    userid = (spec.username or "").encode()
    packed = None
    ip = literal_ip(url.connect_host)
    if isinstance(ip, ipaddress.IPv4Address):
        packed = ip.packed
    elif ip is None:
        packed = socks4_v4
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
        raise Fail("rejected", final=True)  # SOCKS4 cannot reach IPv6
    writer.write(req)
    reply = await reader.readexactly(8)
    if reply[0] not in (0, 4):
        raise Fail("bad_response", http_seen=reply.startswith(b"HT"))
    code = reply[1]
    if code in (0x5A, 0x5B, 0x5C, 0x5D):
        att.protocol = "socks4"
    if code == 0x5A:
        return
    if code in (0x5C, 0x5D):
        raise Fail("auth_failed", protocol="socks4", final=True)
    if code == 0x5B:
        raise Fail("rejected", protocol="socks4", final=True)
    raise Fail("bad_response")


# ---------------------------------------------------------------------- HTTP reading
async def read_head(
    reader, *, proxy_proto: str | None, att: Attempt | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Read a response head; returns (status, headers, bytes already read past it)."""
    buf = bytearray()
    while True:
        data = await reader.read(READ_CHUNK)
        if not data:
            if not buf:
                raise Fail("closed")
            raise Fail("bad_response", http_seen=buf.startswith(b"HTTP/"))
        if not buf and att is not None:
            att.ttfb_ms = _ms(asyncio.get_running_loop().time() - att.start)
        buf += data
        prefix = bytes(buf[:5])
        if not b"HTTP/".startswith(prefix) and not prefix.startswith(b"HTTP/"):
            # a SOCKS server may answer an HTTP request with a SOCKS error (first byte
            # 0x00/0x04/0x05); anything else is garbage: no other protocol will help
            raise Fail("bad_response", final=buf[0] not in (0, 4, 5))
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buf) > MAX_HEAD:
            raise Fail("bad_response", http_seen=True)
    head = bytes(buf[:end]).decode("latin-1")
    rest = bytes(buf[end + 4 :])
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
        raise Fail("bad_response", http_seen=True)
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if proxy_proto is not None and status == 407:
        raise Fail("auth_failed", protocol=proxy_proto, final=True)
    return status, headers, rest


async def read_response(
    reader, att: Attempt, max_body: int, *, proxy_proto: str | None
) -> tuple[int, dict[str, str], bytes]:
    status, headers, body = await read_head(reader, proxy_proto=proxy_proto, att=att)
    if proxy_proto is not None:
        att.protocol = proxy_proto
    te = headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        return status, headers, await read_chunked(reader, body, max_body)
    length = headers.get("content-length")
    if length is not None and length.strip().isdigit():
        want = min(int(length), max_body)
        buf = bytearray(body)
        while len(buf) < want:
            data = await reader.read(READ_CHUNK)
            if not data:
                raise Fail("closed", protocol=att.protocol)
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


async def read_chunked(reader, initial: bytes, max_body: int) -> bytes:
    buf = bytearray(initial)
    out = bytearray()
    pos = 0

    async def more() -> None:
        data = await reader.read(READ_CHUNK)
        if not data:
            raise Fail("closed")
        buf.extend(data)

    while True:
        while (nl := buf.find(b"\r\n", pos)) < 0:
            if len(buf) - pos > 1024:
                raise Fail("bad_response")
            await more()
        size_text = bytes(buf[pos:nl]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise Fail("bad_response") from None
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

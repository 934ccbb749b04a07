"""Small asyncio servers for testing and benchmarking the checker engine without Django.

All listen on 127.0.0.1 on a free port and count accepted connections (``.connections``).
Use them as async context managers::

    async with JudgeServer() as judge, HeaderProxy(add_headers={"Via": "1.1 x"}) as proxy:
        ...  judge.url, proxy.port

``start_pproxy(uri)`` runs a real ``pproxy`` server in a subprocess (for HTTP/CONNECT/SOCKS4/
SOCKS5 with or without credentials) and waits until it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time

from checker.engine.judge import render_json, render_text

__all__ = [
    "free_port",
    "wait_listening",
    "start_pproxy",
    "stop_process",
    "JudgeServer",
    "HeaderProxy",
    "SelfJudgingProxy",
    "Socks4Proxy",
    "Socks5Proxy",
    "TextSite",
    "SilentServer",
    "GarbageServer",
    "DribbleServer",
    "CloseServer",
    "closed_port",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    return free_port()


def wait_listening(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


# pproxy installs uvloop whenever it is importable, then calls asyncio.get_event_loop()
# with no loop set, which uvloop >= 0.22 refuses ("There is no current event loop"): the
# server dies before it listens. Hide uvloop so pproxy runs on the standard loop.
_PPROXY_ON_ASYNCIO = (
    "import sys; sys.modules['uvloop'] = None; sys.argv[0] = 'pproxy'; "
    "from pproxy.server import main; main()"
)


def start_pproxy(
    scheme: str, *, credentials: str | None = None, port: int | None = None
) -> tuple[subprocess.Popen, int]:
    """Start pproxy with ``-l scheme://127.0.0.1:PORT[#user:pass]``; returns (process, port).

    ``scheme``: 'http' (forward + CONNECT), 'socks4', 'socks5', or pproxy combos like
    'http+socks5'. Authentication is re-checked on every connection (``--auth 0``)."""
    port = port or free_port()
    uri = f"{scheme}://127.0.0.1:{port}"
    if credentials:
        uri += f"#{credentials}"
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, test helper
        [sys.executable, "-c", _PPROXY_ON_ASYNCIO, "-l", uri, "--auth", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_listening(port)
    except RuntimeError:
        stop_process(proc)
        raise
    return proc, port


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class _Server:
    """Base: start/stop an asyncio TCP server on ``bind_host`` (127.0.0.1; set it to '::1'
    before ``start()`` for IPv6), count connections."""

    bind_host = "127.0.0.1"
    #: server-side TLS context (set before ``start()``) for https judge/target tests
    ssl_context = None

    def __init__(self) -> None:
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self.max_concurrent = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _on_connect(self, reader, writer) -> None:
        self.connections += 1
        self._writers.add(writer)
        self.max_concurrent = max(self.max_concurrent, len(self._writers))
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # stopping: end quietly (3.11 streams log cancelled handler tasks)
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def start(self) -> _Server:
        self.server = await asyncio.start_server(
            self._on_connect, self.bind_host, 0, backlog=4096, ssl=self.ssl_context
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for w in list(self._writers):
                with contextlib.suppress(Exception):
                    w.transport.abort()
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()


async def _read_request_head(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


class JudgeServer(_Server):
    """A judge implementing the protocol of :mod:`checker.engine.judge`: JSON when the
    request accepts application/json or has ?format=json, azenv text otherwise.
    ``fmt`` forces 'json' or 'text'. ``.url`` is ``http://127.0.0.1:PORT/judge``."""

    def __init__(self, fmt: str | None = None, chunked: bool = False) -> None:
        super().__init__()
        self.fmt = fmt
        self.chunked = chunked

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/judge"

    async def _handle(self, reader, writer) -> None:
        request_line, headers = await _read_request_head(reader)
        peer = writer.get_extra_info("peername")[0]
        accept = " ".join(v for n, v in headers if n.lower() == "accept")
        want_json = self.fmt == "json" or (
            self.fmt is None and ("application/json" in accept or "format=json" in request_line)
        )
        if want_json:
            body, ctype = render_json(peer, headers).encode(), "application/json"
        else:
            body, ctype = render_text(peer, headers).encode(), "text/plain; charset=utf-8"
        if self.chunked:
            half = len(body) // 2
            payload = (
                b"".join(
                    f"{len(part):x}\r\n".encode() + part + b"\r\n"
                    for part in (body[:half], body[half:])
                )
                + b"0\r\n\r\n"
            )
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: "
                + ctype.encode()
                + b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + payload
            )
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: "
                + ctype.encode()
                + f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
        await writer.drain()


class TextSite(_Server):
    """A tiny web site answering every GET with ``body`` (for target_url/expect_text)."""

    def __init__(self, body: str = "hello", status: int = 200) -> None:
        super().__init__()
        self.body = body.encode()
        self.status = status

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/page"

    async def _handle(self, reader, writer) -> None:
        await _read_request_head(reader)
        writer.write(
            f"HTTP/1.1 {self.status} X\r\nContent-Type: text/html\r\nContent-Length: "
            f"{len(self.body)}\r\nConnection: close\r\n\r\n".encode()
            + self.body
        )
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()


class HeaderProxy(_Server):
    """A minimal HTTP forward proxy (absolute-URI GET, no CONNECT) that adds ``add_headers``
    to the forwarded request — for anonymity tests (Via, X-Forwarded-For …).
    With ``credentials='user:pass'`` it answers 407 unless Proxy-Authorization matches."""

    def __init__(
        self, add_headers: dict[str, str] | None = None, credentials: str | None = None
    ) -> None:
        super().__init__()
        self.add_headers = add_headers or {}
        self.credentials = credentials

    async def _handle(self, reader, writer) -> None:
        import base64
        from urllib.parse import urlsplit

        request_line, headers = await _read_request_head(reader)
        method, uri, version = request_line.split(" ", 2)
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
            got = [v for n, v in headers if n.lower() == "proxy-authorization"]
            if got != [expected]:
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b"Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n"
                )
                await writer.drain()
                return
        if method == "CONNECT" or not uri.startswith("http://"):
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        parts = urlsplit(uri)
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        out = [f"{method} {path} {version}"]
        out += [f"{n}: {v}" for n, v in headers if n.lower() != "proxy-authorization"]
        out += [f"{n}: {v}" for n, v in self.add_headers.items()]
        up_writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        await up_writer.drain()
        try:
            await _pipe(up_reader, writer)
        finally:
            up_writer.transport.abort()


class Socks5Proxy(_Server):
    """A minimal SOCKS5 proxy (CONNECT only; IPv4, IPv6 and domain targets), optionally with
    username/password auth (``credentials='user:pass'``; a bad password gets status 1).
    Listens with a large backlog, so it suits load tests better than pproxy."""

    def __init__(self, credentials: str | None = None) -> None:
        super().__init__()
        self.credentials = credentials

    async def _handle(self, reader, writer) -> None:
        head = await reader.readexactly(2)
        if head[0] != 5:
            return
        methods = await reader.readexactly(head[1])
        if self.credentials is not None:
            if 2 not in methods:
                writer.write(b"\x05\xff")
                return
            writer.write(b"\x05\x02")
            ver, ulen = await reader.readexactly(2)
            user = await reader.readexactly(ulen)
            plen = (await reader.readexactly(1))[0]
            password = await reader.readexactly(plen)
            if f"{user.decode(errors='replace')}:{password.decode(errors='replace')}" != (
                self.credentials
            ):
                writer.write(b"\x01\x01")
                return
            writer.write(b"\x01\x00")
        else:
            if 0 not in methods:
                writer.write(b"\x05\xff")
                return
            writer.write(b"\x05\x00")
        ver, cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        else:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        port = int.from_bytes(await reader.readexactly(2), "big")
        if cmd != 1:
            writer.write(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        writer.write(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.transport.abort()


class Socks4Proxy(_Server):
    """A minimal SOCKS4/4a proxy that, like some real ones, reads the whole 8-byte request
    before looking at the version byte (so a SOCKS5 greeting leaves it waiting)."""

    async def _handle(self, reader, writer) -> None:
        head = await reader.readexactly(8)
        if head[0] != 4 or head[1] != 1:
            writer.write(b"\x00\x5b" + b"\x00" * 6)
            return
        port = int.from_bytes(head[2:4], "big")
        await reader.readuntil(b"\x00")  # userid
        if head[4:7] == b"\x00\x00\x00" and head[7] != 0:
            host = (await reader.readuntil(b"\x00"))[:-1].decode()
        else:
            host = socket.inet_ntoa(head[4:8])
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x00\x5b" + b"\x00" * 6)
            return
        writer.write(b"\x00\x5a" + b"\x00" * 6)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.transport.abort()


class SelfJudgingProxy(_Server):
    """A cheap stand-in for a proxy plus judge, for load tests of the engine: it speaks the
    proxy protocol (``'http'`` forward, or ``'socks5'`` handshake) and then answers the
    judge request itself with the judge's JSON echo (remote_addr = the client's address),
    without opening an upstream connection. The engine does exactly the same work as
    through a real proxy; the server side does half of it."""

    def __init__(self, protocol: str = "http") -> None:
        super().__init__()
        self.protocol = protocol

    async def _handle(self, reader, writer) -> None:
        if self.protocol == "socks5":
            head = await reader.readexactly(2)
            if head[0] != 5:
                return
            await reader.readexactly(head[1])
            writer.write(b"\x05\x00")
            _ver, _cmd, _rsv, atyp = await reader.readexactly(4)
            if atyp == 1:
                await reader.readexactly(6)
            elif atyp == 4:
                await reader.readexactly(18)
            else:
                await reader.readexactly((await reader.readexactly(1))[0] + 2)
            writer.write(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
        request_line, headers = await _read_request_head(reader)
        if not request_line.startswith("GET "):
            return
        peer = writer.get_extra_info("peername")[0]
        body = render_json(peer, headers).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        await writer.drain()


class SilentServer(_Server):
    """Accepts and never sends a byte (reads and discards what it gets until the peer
    goes away)."""

    async def _handle(self, reader, writer) -> None:
        while await reader.read(65536):
            pass


class GarbageServer(_Server):
    """Answers any input with binary garbage, then closes."""

    def __init__(self, payload: bytes = b"\xde\xad\xbe\xef garbage \x00\x01\x02\r\n\r\n") -> None:
        super().__init__()
        self.payload = payload

    async def _handle(self, reader, writer) -> None:
        await reader.read(1)
        writer.write(self.payload)
        await writer.drain()


class DribbleServer(_Server):
    """Sends a valid-looking HTTP response one byte every ``interval`` seconds, forever."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__()
        self.interval = interval

    async def _handle(self, reader, writer) -> None:
        await reader.read(1)
        payload = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100000
        for i in range(len(payload)):
            writer.write(payload[i : i + 1])
            await writer.drain()
            await asyncio.sleep(self.interval)


class CloseServer(_Server):
    """Accepts and closes at once."""

    async def _handle(self, reader, writer) -> None:
        return None


def judge_echo_json(remote_addr: str, headers: dict[str, str]) -> str:  # pragma: no cover
    return json.dumps({"remote_addr": remote_addr, "headers": headers})

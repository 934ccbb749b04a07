"""Thousands of distinct loopback proxies from a few server processes, for the checker benchmarks.

A check job drops duplicate proxies, so 10,000 checks need 10,000 distinct `host:port`
pairs. Each server process here runs one asyncio Protocol per kind (an HTTP forward proxy,
a SOCKS5 proxy, a silent server, a judge: the bytes of the stream servers in
`tests/checker/servers.py`, for less CPU) and listens with it on many ports at once, all in
one event loop. Refusing ports are sockets the parent binds but never
listens on (the kernel answers RST, and no other process can take the port meanwhile).

    with ProxyFarm(processes=4, http=4500, socks5=4500, silent=500, refused=500) as farm:
        farm.ports["http"]      # list of ports
        farm.cpu_seconds()      # CPU used by the server processes so far

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("http", "socks5", "silent")


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# The servers are asyncio Protocols (callbacks, no coroutine per connection): they speak the
# same bytes as the stream servers of tests/checker/servers.py (HTTP forward proxy, SOCKS5
# CONNECT, the judge's JSON) at a fraction of their CPU. The farm stands in for proxies and a
# judge on other machines, so the less it takes from the cores the checker runs on, the closer
# a benchmark is to a deployment.


class _Upstream(asyncio.Protocol):
    """The proxy's connection to the judge: what the judge sends goes to the client, and the
    judge closing (it answers `Connection: close`) closes the client."""

    def __init__(self, client: asyncio.Transport):
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def connection_lost(self, exc) -> None:
        self.client.close()


class _Proxy(asyncio.Protocol):
    """Common to both proxies: a client transport, an upstream opened on request."""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = b""
        self.upstream: asyncio.Transport | None = None
        self.pending = b""  # client bytes that arrive before the upstream is connected

    def connection_lost(self, exc) -> None:
        if self.upstream is not None:
            self.upstream.close()

    def _open(self, host: str, port: int, first: bytes, reply: bytes = b"") -> None:
        asyncio.get_running_loop().create_task(self._connect(host, port, first, reply))

    async def _connect(self, host: str, port: int, first: bytes, reply: bytes) -> None:
        try:
            upstream, _ = await asyncio.get_running_loop().create_connection(
                lambda: _Upstream(self.transport), host, port
            )
        except OSError:
            self.transport.close()
            return
        if self.transport.is_closing():
            upstream.close()
            return
        self.upstream = upstream
        if reply:
            self.transport.write(reply)
        if first or self.pending:
            upstream.write(first + self.pending)
            self.pending = b""


class HttpProxy(_Proxy):
    """An HTTP forward proxy: `GET http://host:port/path` is sent on to host:port (the
    Proxy-Authorization header dropped, credentials ignored); anything else is 405."""

    def data_received(self, data: bytes) -> None:
        if self.upstream is not None or self.buffer is None:
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > 65536:
                self.transport.close()
            return
        line, _, rest = self.buffer[:end].partition(b"\r\n")
        self.buffer = None
        parts = line.split(b" ", 2)
        if len(parts) != 3 or parts[0] != b"GET" or not parts[1].startswith(b"http://"):
            self.transport.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()
            return
        authority, _, path = parts[1][7:].partition(b"/")
        host, _, port = authority.partition(b":")
        headers = [h for h in rest.split(b"\r\n") if not h.lower().startswith(b"proxy-authorization:")]
        request = b"GET /" + path + b" " + parts[2] + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n"
        self._open(host.decode(), int(port or 80), request)


class Socks5Proxy(_Proxy):
    """A SOCKS5 proxy, CONNECT only, without authentication (credentials ignored)."""

    state = "greeting"

    def data_received(self, data: bytes) -> None:
        if self.state == "tunnel":
            if self.upstream is not None:
                self.upstream.write(data)
            else:
                self.pending += data
            return
        self.buffer += data
        if self.state == "greeting":
            if len(self.buffer) < 2 or len(self.buffer) < 2 + self.buffer[1]:
                return
            if self.buffer[0] != 5 or 0 not in self.buffer[2 : 2 + self.buffer[1]]:
                self.transport.write(b"\x05\xff")
                self.transport.close()
                return
            self.transport.write(b"\x05\x00")
            self.buffer = self.buffer[2 + self.buffer[1] :]
            self.state = "request"
        if self.state == "request":
            if len(self.buffer) < 5:
                return
            atyp = self.buffer[3]
            size = {1: 10, 4: 22}.get(atyp, 7 + self.buffer[4])
            if len(self.buffer) < size:
                return
            if atyp == 1:
                host = socket.inet_ntoa(self.buffer[4:8])
            elif atyp == 4:
                host = socket.inet_ntop(socket.AF_INET6, self.buffer[4:20])
            else:
                host = self.buffer[5 : 5 + self.buffer[4]].decode()
            port = int.from_bytes(self.buffer[size - 2 : size], "big")
            command, rest, self.buffer = self.buffer[1], self.buffer[size:], b""
            if command != 1:  # CONNECT only
                self.transport.write(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
                self.transport.close()
                return
            self.state = "tunnel"
            self._open(host, port, rest, reply=b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")


class Silent(asyncio.Protocol):
    """Accepts and never answers."""


class Judge(asyncio.Protocol):
    """The judge's JSON answer (`checker.engine.judge.render_json`): the caller's address and
    the headers it sent."""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        from checker.engine.judge import render_json

        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        headers = []
        for line in self.buffer[:end].decode("latin-1").split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers.append((name.strip(), value.strip()))
        body = render_json(self.transport.get_extra_info("peername")[0], headers).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        self.transport.close()


async def _serve(spec: dict) -> None:
    sys.path.insert(0, ROOT)
    loop = asyncio.get_running_loop()
    protocols = {"http": HttpProxy, "socks5": Socks5Proxy, "silent": Silent}
    servers = []
    ports: dict[str, list[int]] = {}
    for kind, count in spec.get("counts", {}).items():
        ports[kind] = []
        for _ in range(count):
            server = await loop.create_server(protocols[kind], "127.0.0.1", 0, backlog=512)
            servers.append(server)
            ports[kind].append(server.sockets[0].getsockname()[1])
    if spec.get("judge_port") is not None:
        server = await loop.create_server(Judge, "127.0.0.1", spec["judge_port"], backlog=4096, reuse_address=True)
        servers.append(server)
        ports["judge"] = [server.sockets[0].getsockname()[1]]
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class ProxyFarm:
    def __init__(
        self,
        *,
        processes: int = 4,
        http: int = 0,
        socks5: int = 0,
        silent: int = 0,
        refused: int = 0,
        judge_port: int | None = None,
    ):
        self.processes = processes
        self.counts = {"http": http, "socks5": socks5, "silent": silent}
        self.refused = refused
        self.judge_port = judge_port
        self.procs: list[subprocess.Popen] = []
        self.ports: dict[str, list[int]] = {kind: [] for kind in (*KINDS, "refused", "judge")}
        self._held: list[socket.socket] = []

    def _spawn(self, spec: dict) -> dict:
        proc = subprocess.Popen(  # noqa: S603 - this very file
            [sys.executable, os.path.abspath(__file__), json.dumps(spec)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("a proxy server process did not start")
        return json.loads(line)

    def start(self) -> ProxyFarm:
        raise_nofile()
        shares = {kind: _split(count, self.processes) for kind, count in self.counts.items()}
        for i in range(self.processes):
            spec = {"counts": {kind: shares[kind][i] for kind in KINDS if shares[kind][i]}}
            for kind, ports in self._spawn(spec).items():
                self.ports[kind].extend(ports)
        if self.judge_port is not None:
            self.ports["judge"] = self._spawn({"judge_port": self.judge_port})["judge"]
        for _ in range(self.refused):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
            self._held.append(sock)
            self.ports["refused"].append(sock.getsockname()[1])
        return self

    def cpu_seconds(self) -> float:
        from bench.common import cpu_seconds

        return sum(cpu_seconds(p.pid) for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for sock in self._held:
            sock.close()
        self.procs, self._held = [], []

    def __enter__(self) -> ProxyFarm:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


if __name__ == "__main__":
    raise_nofile()
    # The farm stands in for proxies on other machines: the cheaper its servers, the less
    # they take from the CPU the checker and the portal share with them. uvloop (a dev
    # extra) when installed, else asyncio's own loop.
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(_serve(json.loads(sys.argv[1])))
    except KeyboardInterrupt:
        pass

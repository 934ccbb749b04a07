"""Thousands of distinct loopback proxies from a few server processes, for the checker benchmarks.

A check job drops duplicate proxies, so 10,000 checks need 10,000 distinct `host:port`
pairs. Each server process here runs ONE handler per kind (the asyncio servers of
`tests/checker/servers.py`: an HTTP forward proxy, a SOCKS5 proxy, a silent server, a judge)
and listens with it on many ports at once — `HeaderProxy` on 2,000 ports is still one
server object in one event loop. Refusing ports are sockets the parent binds but never
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


async def _serve(spec: dict) -> None:
    sys.path.insert(0, ROOT)
    from tests.checker.servers import HeaderProxy, JudgeServer, SilentServer, Socks5Proxy

    handlers = {"http": HeaderProxy(), "socks5": Socks5Proxy(), "silent": SilentServer()}
    servers = []
    ports: dict[str, list[int]] = {}
    for kind, count in spec.get("counts", {}).items():
        handler = handlers[kind]
        ports[kind] = []
        for _ in range(count):
            server = await asyncio.start_server(handler._on_connect, "127.0.0.1", 0, backlog=512)
            servers.append(server)
            ports[kind].append(server.sockets[0].getsockname()[1])
    if spec.get("judge_port") is not None:
        judge = JudgeServer()
        server = await asyncio.start_server(
            judge._on_connect, "127.0.0.1", spec["judge_port"], backlog=4096, reuse_address=True
        )
        servers.append(server)
        ports["judge"] = [server.sockets[0].getsockname()[1]]
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        return sum(_cpu_seconds(p.pid) for p in self.procs)

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

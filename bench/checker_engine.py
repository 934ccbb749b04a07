"""Checker engine throughput sanity check (not a timed test).

    .venv/bin/python bench/checker_engine.py [--checks 10000] [--concurrency 1000] [--timeout 3]

Starts, in two OTHER processes so the engine's event loop only does engine work, asyncio
servers from tests/checker/servers.py: a judge and four HTTP forward proxies; four SOCKS5
proxies, four silent and four garbage-answering ports (``--pproxy``: two pproxy SOCKS5
servers instead — pproxy listens with a backlog of 100, so at high concurrency SYNs get
dropped and checks time out: that measures pproxy, not the engine). Closed ports refuse. Then runs
``--checks`` checks over a mix (by default 40 % live HTTP, 20 % live SOCKS5, 20 % refused,
10 % silent, 10 % garbage; all without a scheme, so protocol auto-detection is exercised)
with the given concurrency and per-check timeout, and prints the elapsed time and counts.
Target: well under 15 s for 10,000 checks at concurrency 1,000 / timeout 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import cpu_seconds  # noqa: E402
from checker.engine.check import CheckConfig, check_many  # noqa: E402
from checker.engine.parse import ProxySpec  # noqa: E402
from tests.checker.servers import (  # noqa: E402
    GarbageServer,
    HeaderProxy,
    JudgeServer,
    SelfJudgingProxy,
    SilentServer,
    Socks5Proxy,
    closed_port,
    start_pproxy,
    stop_process,
)


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def serve(group: str) -> None:
    """Child process: run one group of servers and print their ports as one JSON line."""
    if group == "http":
        servers = {
            "judge": [await JudgeServer().start()],
            "http": [await HeaderProxy().start() for _ in range(4)],
        }
    elif group == "self":
        servers = {
            "judge": [await JudgeServer().start()],
            "http": [await SelfJudgingProxy("http").start() for _ in range(4)],
        }
    elif group == "self-socks":
        servers = {
            "socks5": [await SelfJudgingProxy("socks5").start() for _ in range(4)],
            "silent": [await SilentServer().start() for _ in range(4)],
            "garbage": [await GarbageServer().start() for _ in range(4)],
        }
    else:
        servers = {
            "socks5": [await Socks5Proxy().start() for _ in range(4)],
            "silent": [await SilentServer().start() for _ in range(4)],
            "garbage": [await GarbageServer().start() for _ in range(4)],
        }
    ports = {name: [s.port for s in group] for name, group in servers.items()}
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


def _spawn(group: str) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, os.path.abspath(__file__), "--serve", group],
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, json.loads(proc.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument(
        "--mix",
        default="http=4,socks5=2,refused=2,silent=1,garbage=1",
        help="kinds and weights: http, socks5, refused, silent, garbage",
    )
    parser.add_argument("--scheme", default=None, help="give every line this scheme")
    parser.add_argument(
        "--serve", choices=["http", "socks", "self", "self-socks"], help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--self-judging",
        action="store_true",
        help="live proxies answer the judge request themselves (no upstream connection): "
        "same engine work, half the server work",
    )
    parser.add_argument("--pproxy", action="store_true", help="use pproxy for the SOCKS5 proxies")
    args = parser.parse_args()
    _raise_nofile()
    if args.serve:
        asyncio.run(serve(args.serve))
        return

    servers = []
    socks = []
    try:
        proc, ports = _spawn("self" if args.self_judging else "http")
        servers.append(proc)
        proc, more = _spawn("self-socks" if args.self_judging else "socks")
        servers.append(proc)
        ports.update(more)
        if args.pproxy:
            socks = [start_pproxy("socks5") for _ in range(2)]
            ports["socks5"] = [port for _, port in socks]
        refused = [closed_port() for _ in range(4)]
        groups = {
            "http": ports["http"],
            "socks5": ports["socks5"],
            "refused": refused,
            "silent": ports["silent"],
            "garbage": ports["garbage"],
        }
        mix = dict(part.split("=") for part in args.mix.split(","))
        total_share = sum(float(v) for v in mix.values())
        kinds = list(mix)
        pools = [(float(mix[k]) / total_share, groups[k]) for k in kinds]
        specs: list[ProxySpec] = []
        expected: list[str] = []
        for (share, group), kind in zip(pools, kinds, strict=True):
            count = int(args.checks * share)
            for i in range(count):
                specs.append(ProxySpec(args.scheme, "127.0.0.1", group[i % len(group)]))
                expected.append(kind)
        while len(specs) < args.checks:
            specs.append(ProxySpec(None, "127.0.0.1", pools[0][1][0]))
            expected.append(kinds[0])
        # interleave so every wave mixes kinds
        order = sorted(range(len(specs)), key=lambda i: (i * 7919) % len(specs))
        specs = [specs[i] for i in order]
        expected = [expected[i] for i in order]

        config = CheckConfig(
            judge_url=f"http://127.0.0.1:{ports['judge'][0]}/judge",
            timeout_s=args.timeout,
            concurrency=args.concurrency,
            allow_private=True,
        )
        start = time.perf_counter()
        cpu0 = time.process_time()
        results = asyncio.run(check_many(specs, config))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0

        outcome = collections.Counter()
        for kind, result in zip(expected, results, strict=True):
            outcome[(kind, result.status, result.protocol, result.error)] += 1
        print(
            f"{len(results)} checks, concurrency {args.concurrency}, timeout {args.timeout}s: "
            f"{elapsed:.2f}s elapsed, {cpu:.2f}s engine CPU, {len(results) / elapsed:.0f} checks/s"
        )
        print(
            "live:",
            sum(r.status == "live" for r in results),
            "dead:",
            sum(r.status == "dead" for r in results),
        )
        for label in ("connect_ms", "ttfb_ms"):
            values = sorted(getattr(r, label) for r in results if getattr(r, label) is not None)
            if values:
                pct = {
                    q: values[min(len(values) - 1, int(len(values) * q))] for q in (0.5, 0.9, 0.99)
                }
                print(f"  {label}: p50 {pct[0.5]} p90 {pct[0.9]} p99 {pct[0.99]} max {values[-1]}")
        for (kind, status, protocol, error), count in sorted(outcome.items(), key=str):
            print(f"  {kind:8} -> {status:4} protocol={protocol} error={error}: {count}")
        for proc in servers + [p for p, _ in socks]:
            print(f"  server pid {proc.pid}: {cpu_seconds(proc.pid):.2f}s CPU")
    finally:
        for proc, _ in socks:
            stop_process(proc)
        for proc in servers:
            stop_process(proc)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"server processes CPU (judge, proxies, pproxy): {children.ru_utime + children.ru_stime:.2f}s"
    )


if __name__ == "__main__":
    main()

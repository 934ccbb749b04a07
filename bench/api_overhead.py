"""API overhead: authenticated GET /api/v1/account vs a bare Django JSON view, same server.

    .venv/bin/python bench/api_overhead.py [--runs 5] [--seconds 10] [--connections 16]

Needs PostgreSQL and Redis on 127.0.0.1 (BENCH_DATABASE_URL / BENCH_REDIS_URL, defaults in
bench/common.py) and `wrk` (Debian package). Runs A and B alternately, reports medians,
the ratio and p99 latency. Target: API ≥ 70 % of bare, p99 < 50 ms at 16 connections.

Also prints the server-side CPU each request cost (gunicorn, PostgreSQL and Redis
processes, from /proc), and its ratio: on a shared machine that figure moves less than
requests per second when neighbours take the cores.
"""

import argparse
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    bench_account,
    bench_env,
    cpu_seconds,
    ensure_database,
    free_port,
    manage,
    median,
    start_gunicorn,
)

LUA = """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
"""


SERVER_PROCESSES = ("gunicorn", "postgres", "redis-server")


def server_cpu_seconds() -> float:
    """CPU seconds used so far by every gunicorn, PostgreSQL and Redis process on the machine."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        if any(name in cmdline for name in SERVER_PROCESSES):
            total += cpu_seconds(int(pid))  # 0 when it ended meanwhile
    return total


def wrk(url: str, seconds: int, connections: int, key: str | None) -> tuple[float, float, float]:
    """(requests per second, p99 ms, server CPU ms per request)."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    env = dict(os.environ)
    if key:
        script = "/tmp/bench_auth.lua"  # noqa: S108 - scratch file for wrk
        with open(script, "w") as f:
            f.write(LUA)
        args += ["-s", script]
        env["BENCH_KEY"] = key
    cpu_before = server_cpu_seconds()
    out = subprocess.run([*args, url], capture_output=True, text=True, env=env, check=True).stdout
    cpu = server_cpu_seconds() - cpu_before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} non-2xx responses — is the key's plan limit high enough?")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, float(p99.group(1)) * scale, 1000 * cpu / requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread when > 1)")
    args = parser.parse_args()

    env = bench_env(ROOT_URLCONF="bench.urls")
    ensure_database(env["DATABASE_URL"])
    manage(env, "migrate", "--noinput")
    manage(env, "shell", "-c", (
        "from accounts.models import Plan; from accounts.selectors import forget_plan_limits;"
        "Plan.objects.update_or_create(tier='free', defaults=dict(name='Free', limit_general=10**9,"
        " limit_order_create=10, limit_check=20, limit_export=10));"
        "forget_plan_limits()"
    ))
    key = bench_account(env, "bench@example.com", "balance:read")

    port = free_port()
    server = start_gunicorn(env, port, workers=args.workers, threads=args.threads)
    base = f"http://127.0.0.1:{port}"
    try:
        wrk(f"{base}/bench/bare", 2, args.connections, None)  # warm-up
        wrk(f"{base}/api/v1/account", 2, args.connections, key)
        bare, api = [], []
        for _ in range(args.runs):
            bare.append(wrk(f"{base}/bench/bare", args.seconds, args.connections, None))
            api.append(wrk(f"{base}/api/v1/account", args.seconds, args.connections, key))
    finally:
        server.terminate()
        server.wait(10)
    ratios = [a[0] / b[0] for a, b in zip(api, bare, strict=True)]
    cpu_ratios = [b[2] / a[2] for a, b in zip(api, bare, strict=True)]
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  cores: {os.cpu_count()}  gunicorn workers: {args.workers}"
          f"  threads: {args.threads}")
    print(f"runs: {args.runs} x {args.seconds}s alternating, {args.connections} connections (wrk -t2)")
    for label, runs in (("bare view   ", bare), ("GET /account", api)):
        print(f"{label}   median rps {median([r[0] for r in runs]):8.0f}  p99 {median([r[1] for r in runs]):6.1f} ms"
              f"  server CPU {median([r[2] for r in runs]):.3f} ms/request")
    print(f"ratio api/bare median {median(ratios):.2f}  (per run: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"server CPU per request, bare/api median {median(cpu_ratios):.2f}"
          f"  (per run: {', '.join(f'{r:.2f}' for r in cpu_ratios)})")


if __name__ == "__main__":
    main()

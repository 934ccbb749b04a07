"""Order placement through a reseller chain: portal B buying from portal A, beside A directly.

    .venv/bin/python bench/reseller_orders.py [--orders 200] [--clients 8] [--runs 3]

Two real portals on 127.0.0.1, started as the reseller-chain tests start them
(`tests/upstream/harness.py`: each a gunicorn, 1 process × 8 threads, and a Celery worker,
prefork, 1 process, with its own PostgreSQL database and Redis db): A sells ISP proxies from
its stock; B sells ISP through A (`ORDER_PROVIDER_ISP=upstream`, B's key on A funded). Both
plans' rate limits are raised so that only the work is measured.

Each run, for A directly and then for B (through A): `--clients` threads, each with its own
keep-alive connection, place `--orders` orders in all (POST /api/v1/orders, ISP, 1 IP, 30 days,
US) and poll each (GET /api/v1/orders/{id}, every 20 ms) until it is `active`. Figures: orders
per second from the first POST to the last activation, and p50/p99 of each order's time from
its POST to the answer that shows it active. On B that time is B's pricing (A's reference data,
cached, and A's calc per order), B's charge, B's worker placing at A (A's charge), A's worker
activating it, and B's worker seeing it active and copying the proxies.

Databases: BENCH_DB_A / BENCH_DB_B (default portal_bench_a / portal_bench_b on 127.0.0.1, made
if missing, wiped), Redis BENCH_REDIS_A / BENCH_REDIS_B (default dbs 13 and 14, flushed).
Connects only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import ensure_database, guard_loopback, machine_line  # noqa: E402
from tests.upstream.harness import PortalProcess  # noqa: E402

BODY = {"type": "isp", "quantity": 1, "period": 30, "country": "US"}
SCOPES = ["balance:read", "orders:read", "orders:write"]
POLL_S = 0.02
PASSWORD = "bench-Secret-9876"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def seed(portal: PortalProcess, *, balance: str, stock: int = 0) -> dict:
    steps = [
        ["operator", {"email": f"operator-{portal.name.lower()}@example.com", "password": PASSWORD}],
        ["plan_limits", {"tier": "free", "limit_general": 1_000_000, "limit_order_create": 1_000_000}],
        ["customer", {"email": f"buyer-{portal.name.lower()}@example.com", "password": PASSWORD, "name": "Bench buyer",
                      "balance": balance, "scopes": SCOPES}],
    ]
    if stock:
        steps.append(["customer", {"email": "reseller-b@example.com", "password": PASSWORD, "name": "Portal B",
                                   "balance": balance, "scopes": SCOPES}])
        steps.append(["stock", {"type": "isp", "country": "US", "count": stock}])
    answers = portal.call("batch", steps=steps)
    return {"buyer": answers[2], "reseller": answers[3] if stock else None}


def place_and_wait(portal: PortalProcess, key: str, count: int, clients: int) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    todo = iter(range(count))

    def client() -> None:
        with httpx.Client(base_url=portal.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                          trust_env=False) as http:
            while True:
                with lock:
                    if next(todo, None) is None:
                        return
                started = time.perf_counter()
                answer = http.post("/orders", json=BODY)
                if answer.status_code != 201:
                    with lock:
                        failures.append(f"POST {answer.status_code}: {answer.text[:200]}")
                    continue
                order_id = answer.json()["data"]["id"]
                status = answer.json()["data"]["status"]
                deadline = started + 120
                while status == "pending" and time.perf_counter() < deadline:
                    time.sleep(POLL_S)
                    status = http.get(f"/orders/{order_id}").json()["data"]["status"]
                with lock:
                    if status == "active":
                        latencies.append(time.perf_counter() - started)
                    else:
                        failures.append(f"{order_id}: {status}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "orders": len(latencies), "failed": len(failures), "first_failures": failures[:3],
        "seconds": round(wall, 2), "orders_per_s": round(len(latencies) / wall, 1) if wall else 0.0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="orders per run and portal")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    db_a = os.environ.get("BENCH_DB_A", "postgres://portal:portal@127.0.0.1:5432/portal_bench_a")
    db_b = os.environ.get("BENCH_DB_B", "postgres://portal:portal@127.0.0.1:5432/portal_bench_b")
    redis_a = os.environ.get("BENCH_REDIS_A", "redis://127.0.0.1:6379/13")
    redis_b = os.environ.get("BENCH_REDIS_B", "redis://127.0.0.1:6379/14")
    for url in (db_a, db_b, redis_a, redis_b):
        guard_loopback(url)
    for url in (db_a, db_b):
        ensure_database(url)

    total = args.orders * args.runs * 2 + 10
    root = Path(tempfile.mkdtemp(prefix="bench-reseller-"))
    env = {"LOG_LEVEL": "WARNING"}
    portal_a = PortalProcess("A", root / "a", database_url=db_a, redis_url=redis_a, env=env)
    portal_b = None
    try:
        portal_a.prepare()
        seeded_a = seed(portal_a, balance="1000000.00", stock=total)
        portal_a.start()
        portal_b = PortalProcess("B", root / "b", database_url=db_b, redis_url=redis_b, env={
            **env, "UPSTREAM_API_URL": portal_a.api_url, "UPSTREAM_API_KEY": seeded_a["reseller"]["key"],
            "ORDER_PROVIDER_ISP": "upstream"})
        portal_b.prepare()
        seeded_b = seed(portal_b, balance="1000000.00")
        portal_b.start()
        print(machine_line())
        print(f"{args.runs} runs of {args.orders} orders, {args.clients} clients; ISP, 1 IP, 30 days")
        results: dict[str, list[dict]] = {"A directly": [], "B through A": []}
        for run in range(1, args.runs + 1):
            for label, portal, key in (("A directly", portal_a, seeded_a["buyer"]["key"]),
                                       ("B through A", portal_b, seeded_b["buyer"]["key"])):
                figures = place_and_wait(portal, key, args.orders, args.clients)
                results[label].append(figures)
                print(f"run {run} {label:12}: {json.dumps(figures)}")
        for label, runs in results.items():
            print(f"{label:12}: median {statistics.median(r['orders_per_s'] for r in runs)} orders/s, "
                  f"p50 {statistics.median(r['p50_ms'] for r in runs if r['p50_ms'])} ms, "
                  f"p99 {statistics.median(r['p99_ms'] for r in runs if r['p99_ms'])} ms")
    finally:
        if portal_b is not None:
            portal_b.stop()
        portal_a.stop()


if __name__ == "__main__":
    main()

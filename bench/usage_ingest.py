"""Usage ingest through POST /webhooks/usage, and GET /stats over a year of usage.

    .venv/bin/python bench/usage_ingest.py [--raw 10000000] [--batches 100] [--senders 2]
                                           [--workers 2] [--stats-requests 200]

Needs PostgreSQL and Redis on 127.0.0.1 (BENCH_DATABASE_URL / BENCH_REDIS_URL, defaults in
bench/common.py; the database is BENCH_DATABASE_URL + "_usage"). One account with 50 sub-users
on one residential order.

1. Seed (kept between runs): `--raw` raw records spread evenly over every sub-user and hour of
   the 365 days before today (10,000,000 by default: about 23 per sub-user and hour), written
   by SQL, and the hourly (438,000 rows), daily (18,250) and per-order rollups summed from
   them, as ingest keeps them. Statistics read the rollups; the raw table weighs on the ingest
   (its unique index is what deduplication probes).
2. Ingest: `--batches` signed deliveries of 1,000 new records each (hours of the last two,
   as a provider sends recent usage), sent by `--senders` clients at once to gunicorn
   (`--workers` processes, the production configuration `portal.webserver`); records per
   second from the first request to the last answer, every record checked accepted; and the
   CPU seconds the server and the database's backends spent (load-independent: the ceiling
   on 2 idle cores). Then the same deliveries again: all duplicates.
3. Stats: `--stats-requests` GET /api/v1/stats of each kind, one after another on one kept-alive
   connection; p50 / p95 / max in ms. Target: p95 < 50 ms.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    BIN,
    ROOT,
    bench_account,
    bench_database_url,
    bench_env,
    bench_redis_url,
    ensure_database,
    flush_redis,
    free_port,
    guard_loopback,
    manage,
    process_tree,
    set_plan,
    stop,
    wait_http,
)

SUBUSERS = 50
EMAIL = "bench-usage@example.com"
SECRET = "demo-webhook-secret"  # the demo USAGE_WEBHOOK_SECRET the bench server runs with
BATCH = 1000

SETUP = """
import json
from decimal import Decimal
from django.utils import timezone
from accounts.models import Membership
from orders.models import Order
from orders.residential.models import SubUserProxy
account = Membership.objects.get(user__email=__EMAIL__).account
order = Order.objects.filter(account=account, type="residential").first()
if order is None:
    order = Order.objects.create(
        account=account, type="residential", quantity=Decimal(10**8), status="active", unit_price=Decimal("1"),
        subtotal=Decimal("1"), discount=Decimal("0"), total=Decimal("1"), activated_at=timezone.now(),
        traffic_gb=Decimal(10**8), provider="inventory",
    )
for i in range(__N__ - SubUserProxy.objects.filter(account=account).count()):
    SubUserProxy.objects.create(account=account, order=order, name=f"bench-{i}",
                                username=f"benchu{account.pk}x{i}", password="bench-password")
proxies = list(SubUserProxy.objects.filter(account=account).order_by("pk")[:__N__])
print(json.dumps({"account": account.pk, "order": order.pk,
                  "proxies": [[p.pk, p.username, p.public_id] for p in proxies]}))
"""


def setup(env: dict) -> dict:
    bench_account(env, EMAIL, "stats:read")  # creates the account on the first run
    set_plan(env, "free", limit_general=10**6)
    out = manage(env, "shell", "-c", SETUP.replace("__EMAIL__", repr(EMAIL)).replace("__N__", str(SUBUSERS)))
    return json.loads(out.strip().splitlines()[-1])


def seed(db_url: str, info: dict, raw: int) -> float:
    """A year of usage for the 50 sub-users: `raw` raw records spread evenly over every sub-user
    and hour of the 365 days before today (10 M is about 23 per sub-user and hour), written by
    SQL, and the hourly, daily and per-order rollups summed from them, as ingest would have
    kept them. Seconds taken."""
    import psycopg

    started = time.perf_counter()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=365)
    hours = 365 * 24
    buckets = SUBUSERS * hours
    with psycopg.connect(db_url, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM orders_usagerecord WHERE record_id LIKE 'seed-%'").fetchone()[0]
        hourly = conn.execute("SELECT count(*) FROM orders_usagehourly").fetchone()[0]
        if have == raw and hourly >= min(raw, buckets):
            print(f"seed: {have:,} raw records and {hourly:,} hourly rows present, kept")
            return 0.0
        conn.execute("TRUNCATE orders_usagerecord, orders_usagehourly, orders_usagedaily, orders_usagetotal")
        pks = ",".join(str(p[0]) for p in info["proxies"])
        chunk = 1_000_000
        for low in range(0, raw, chunk):
            high = min(raw, low + chunk) - 1
            conn.execute(
                "INSERT INTO orders_usagerecord (record_id, account_id, proxy_id, order_id, period_start,"
                " bytes_in, bytes_out, requests, source, received_at)"
                f" SELECT 'seed-' || n, {info['account']}, (ARRAY[{pks}])[1 + (n %% {buckets}) %% {SUBUSERS}],"
                f" {info['order']}, %s::timestamptz + ((n %% {buckets}) / {SUBUSERS}) * interval '1 hour',"
                " (random() * 1e7)::bigint, (random() * 1e6)::bigint, (random() * 100)::bigint, 'pull', now()"
                f" FROM generate_series({low}, {high}) AS n", (first,))
            print(f"  seeded {high + 1:,} raw records, {time.perf_counter() - started:.0f} s", flush=True)
        conn.execute(
            "INSERT INTO orders_usagehourly (account_id, proxy_id, period_start, bytes_in, bytes_out, requests)"
            " SELECT account_id, proxy_id, period_start, sum(bytes_in), sum(bytes_out), sum(requests)"
            " FROM orders_usagerecord GROUP BY 1, 2, 3")
        conn.execute(
            "INSERT INTO orders_usagedaily (account_id, proxy_id, period_start, bytes_in, bytes_out, requests)"
            " SELECT account_id, proxy_id, date_trunc('day', period_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',"
            " sum(bytes_in), sum(bytes_out), sum(requests) FROM orders_usagehourly GROUP BY 1, 2, 3")
        conn.execute(
            "INSERT INTO orders_usagetotal (account_id, proxy_id, order_id, bytes_in, bytes_out, requests)"
            " SELECT account_id, proxy_id, order_id, sum(bytes_in), sum(bytes_out), sum(requests)"
            " FROM orders_usagerecord GROUP BY 1, 2, 3")
        print(f"  rollups summed from the raw records, {time.perf_counter() - started:.0f} s", flush=True)
        for table in ("orders_usagerecord", "orders_usagehourly", "orders_usagedaily", "orders_usagetotal"):
            conn.execute(f"VACUUM ANALYZE {table}")
        counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed names
                  for t in ("orders_usagerecord", "orders_usagehourly", "orders_usagedaily")]
    took = time.perf_counter() - started
    print(f"seed: {counts[0]:,} raw, {counts[1]:,} hourly, {counts[2]:,} daily rows in {took:.0f} s", flush=True)
    return took


def bodies(info: dict, batches: int, run: str) -> list[tuple[bytes, str]]:
    rng = random.Random(run)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    out = []
    for b in range(batches):
        records = [{
            "id": f"ingest-{run}-{b}-{i}", "username": info["proxies"][rng.randrange(SUBUSERS)][1],
            "period_start": (now - timedelta(hours=rng.randrange(2), minutes=rng.randrange(60))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "bytes_in": rng.randrange(10**7), "bytes_out": rng.randrange(10**6), "requests": rng.randrange(100),
        } for i in range(BATCH)]
        raw = json.dumps({"records": records}).encode()
        out.append((raw, "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()))
    return out


def send_all(port: int, deliveries: list[tuple[bytes, str]], senders: int) -> tuple[float, list[dict]]:
    """Sends every delivery (`senders` clients at once); (seconds, answers' data)."""
    todo = list(enumerate(deliveries))
    answers: list[dict | None] = [None] * len(deliveries)
    lock = threading.Lock()

    def sender():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not todo:
                    break
                index, (raw, signature) = todo.pop(0)
            conn.request("POST", "/webhooks/usage", body=raw,
                         headers={"Content-Type": "application/json", "X-Signature": signature})
            response = conn.getresponse()
            body = json.loads(response.read())
            if response.status != 200:
                raise SystemExit(f"delivery {index}: HTTP {response.status} {body}")
            answers[index] = body["data"]
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, answers


def cpu_seconds(server_pid: int, database: str) -> float:
    """CPU seconds used so far by the bench server's processes and by the PostgreSQL backends
    connected to the bench database: what the work cost, whatever else the machine runs."""
    pids = set(process_tree(server_pid))
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("postgres: ") and f" {database} " in cmdline:
            pids.add(int(pid))
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def stats_latencies(port: int, key: str, path: str, requests: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status} {body[:300]!r}")
    conn.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", type=int, default=10_000_000, help="raw records to seed over the year")
    parser.add_argument("--batches", type=int, default=100, help="deliveries of 1,000 records to time")
    parser.add_argument("--senders", type=int, default=2, help="clients sending at once")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--stats-requests", type=int, default=200)
    args = parser.parse_args()

    db_url, redis_url = bench_database_url("usage"), bench_redis_url(11)
    for url in (db_url, redis_url):
        guard_loopback(url)
    ensure_database(db_url)
    flush_redis(redis_url)
    var = tempfile.mkdtemp(prefix="bench-usage-")
    env = bench_env(DATABASE_URL=db_url, REDIS_URL=redis_url, PORTAL_VAR_DIR=var,
                    PROMETHEUS_MULTIPROC_DIR=os.path.join(var, "prometheus"))
    print(f"load average at start: {os.getloadavg()[0]:.2f}; database {db_url}", flush=True)
    manage(env, "migrate", "--noinput")
    info = setup(env)
    key = bench_account(env, EMAIL, "stats:read")
    seed_s = seed(db_url, info, args.raw)

    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:portal.webserver", "portal.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--log-level", "warning", "--timeout", "120"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr,
    )
    try:
        wait_http(port)
        run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        stats_latencies(port, key, "/api/v1/stats", 5)  # warm both workers' imports and caches
        deliveries = bodies(info, args.batches, run)
        send_all(port, bodies(info, 4, run + "-warm"), args.senders)
        database = db_url.rsplit("/", 1)[1]
        cpu_before = cpu_seconds(server.pid, database)
        seconds, answers = send_all(port, deliveries, args.senders)
        cpu = cpu_seconds(server.pid, database) - cpu_before
        accepted = sum(a["accepted"] for a in answers)
        if accepted != args.batches * BATCH:
            raise SystemExit(f"accepted {accepted} of {args.batches * BATCH}")
        again_s, again = send_all(port, deliveries, args.senders)
        duplicates = sum(a["duplicates"] for a in again)
        print(f"ingest: {accepted:,} records in {seconds:.2f} s = {accepted / seconds:,.0f} records/s "
              f"({args.senders} senders, {args.workers} workers, batches of {BATCH}); load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        print(f"ingest CPU (gunicorn + the database's backends): {1000 * cpu / accepted * 1000:.1f} ms per "
              f"1,000 records = {accepted / cpu:,.0f} records per CPU second "
              f"(so at most {2 * accepted / cpu:,.0f} records/s on 2 idle cores)", flush=True)
        print(f"re-sent: {duplicates:,} duplicates in {again_s:.2f} s = {duplicates / again_s:,.0f} records/s, "
              f"accepted {sum(a['accepted'] for a in again)}", flush=True)

        today = datetime.now(UTC).date()
        one = info["proxies"][7][2]
        kinds = {
            "default (last 30 days, by day)": "/api/v1/stats",
            "a year by day (page of 1,000 of 18,300 rows)": f"/api/v1/stats?from={today - timedelta(days=365)}&to={today}",
            "30 days by hour (page of 1,000 of 36,000 rows)": "/api/v1/stats?group_by=hour",
            "one proxy, a year by day": f"/api/v1/stats?from={today - timedelta(days=365)}&to={today}&proxy_id={one}",
            "one proxy, 7 days by hour": f"/api/v1/stats?from={today - timedelta(days=6)}&to={today}&group_by=hour&proxy_id={one}",
            "a year by hour, last page": (f"/api/v1/stats?from={today - timedelta(days=365)}&to={today}"
                                          "&group_by=hour&page=439"),
        }
        for label, path in kinds.items():
            count = args.stats_requests if "last page" not in label else max(5, args.stats_requests // 10)
            cpu_before = cpu_seconds(server.pid, database)
            times = stats_latencies(port, key, path, count)
            cpu_ms = 1000 * (cpu_seconds(server.pid, database) - cpu_before) / count
            print(f"stats {label}: p50 {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms, "
                  f"max {max(times):.1f} ms ({len(times)} requests); server CPU {cpu_ms:.1f} ms a request",
                  flush=True)
        print(f"load average at the end: {os.getloadavg()[0]:.2f}; seeding took {seed_s:.0f} s")
    finally:
        stop(server)


if __name__ == "__main__":
    main()

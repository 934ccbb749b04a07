"""Exports and list pages of the public pool with 1,000,000 rows in PostgreSQL.

    .venv/bin/python bench/exports.py [--rows 1000000] [--runs 3] [--requests 100] [--reload]

1. Loads `--rows` verified public-pool rows (checker.models.PoolProxy) with COPY (psycopg 3),
   all live and checked within the last 20 hours (so the default `fresh_minutes=1440` export
   holds every row), with skewed protocols/countries/anonymity like a real pool; ANALYZE.
   Reloaded only when the table does not hold exactly these rows or they got stale.
2. `GET /api/v1/public-proxies/export?format=txt|csv|json` on gunicorn (2 workers, sync):
   rows per second from request to last byte (target > 100,000 rows/s) and the peak RSS
   of the gunicorn worker that served it (kernel high-water mark; target < 150 MB).
3. Filtered list pages `GET /api/v1/public-proxies?…` on the same rows: median and p95
   latency over `--requests` sequential keep-alive requests per query (target < 30 ms median),
   and the first request of each query apart: it counts `meta.total`, which the repeats
   take from the cache (per pool version, 30 s).

Needs PostgreSQL and Redis on 127.0.0.1 (BENCH_DATABASE_URL + "_exports", BENCH_REDIS_URL or
db 10). Connects only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    bench_account,
    bench_database_url,
    bench_env,
    bench_redis_url,
    ensure_database,
    flush_redis,
    free_port,
    guard_loopback,
    hwm_kb,
    machine_line,
    manage,
    median,
    process_tree,
    set_plan,
    start_gunicorn,
    stop,
)

SOURCE = "bench-exports"
PROTOCOLS = [("http", 50), ("https", 10), ("socks4", 15), ("socks5", 25)]
ANONYMITY = [("transparent", 30), ("anonymous", 30), ("elite", 40)]
COUNTRIES = ["US", "CN", "BR", "RU", "IN", "DE", "ID", "FR", "GB", "NL", "VN", "TH", "JP", "KR",
             "CA", "MX", "AR", "CO", "PL", "UA", "TR", "IR", "EG", "ZA", "NG", "KE", "BD", "PK",
             "PH", "SG", "HK", "TW", "AU", "ES", "IT", "SE", "FI", "CZ", "RO", "BG", "CL", "PE",
             "VE", "EC", "MY", "KZ", "HU", "AT", "CH", "BE"]
QUERIES = [
    "country=DE&protocol=socks5",
    "country=US&protocol=http",
    "protocol=socks4&anonymity=elite",
    "country=BR&anonymity=anonymous",
    "country=FR&max_latency_ms=500",
    "protocol=https&min_uptime=0.9",
    "country=JP&fresh_minutes=60",
    "anonymity=elite&max_latency_ms=200",
    "country=US&protocol=http&page=20",
]
UNFILTERED = ["", "page=100"]


def _weighted(pairs):
    values, weights = zip(*pairs, strict=True)
    return values, weights


# ----------------------------------------------------------------------------- data
def load_rows(db_url: str, rows: int, force: bool) -> str:
    import psycopg

    now = datetime.now(UTC)
    with psycopg.connect(db_url) as conn:
        count, oldest = conn.execute(
            "SELECT count(*) FILTER (WHERE source = %s), min(last_checked_at) FROM checker_poolproxy",
            (SOURCE,)).fetchone()
        total = conn.execute("SELECT count(*) FROM checker_poolproxy").fetchone()[0]
        if not force and count == rows == total and oldest and now - oldest < timedelta(hours=22):
            return f"kept the {rows:,} rows loaded at an earlier run"
        start = time.perf_counter()
        conn.execute("SET synchronous_commit = off")
        conn.execute("TRUNCATE checker_poolproxy RESTART IDENTITY")
        # Bulk load without the secondary indexes and the unique constraint, then rebuild them
        # (one sort per index instead of a million index insertions each).
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'checker_poolproxy'::regclass AND contype = 'u'").fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'checker_poolproxy' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'checker_poolproxy'::regclass)").fetchall()
        for name, _ in constraints:
            conn.execute(f'ALTER TABLE checker_poolproxy DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        rng = random.Random(42)
        protos, proto_w = _weighted(PROTOCOLS)
        anons, anon_w = _weighted(ANONYMITY)
        country_w = [1 / (i + 1) for i in range(len(COUNTRIES))]  # Zipf-like: US most
        columns = ("pool, proxy_norm, scheme, protocol, host, port, username, password, country, "
                   "anonymity, exit_ip, latency_ms, last_status, last_error, last_checked_at, history, "
                   "uptime_score, source, created_at")
        created = now.isoformat()
        histories = ["".join("1" if rng.random() < 0.85 else "0" for _ in range(20)) for _ in range(997)]
        histories = [(h, h.count("1") / 20) for h in histories]
        checked_at = [(now - timedelta(seconds=s)).isoformat() for s in range(0, 72_000, 7)]
        chunk = 50_000
        with conn.cursor() as cur, cur.copy(f"COPY checker_poolproxy ({columns}) FROM STDIN") as copy:
            for base in range(0, rows, chunk):
                n = min(chunk, rows - base)
                p = rng.choices(protos, proto_w, k=n)
                a = rng.choices(anons, anon_w, k=n)
                c = rng.choices(COUNTRIES, country_w, k=n)
                lines = []
                for i in range(n):
                    k = base + i
                    host = f"{10 + k // 16_581_375 % 200}.{k // 65_025 % 255}.{k // 255 % 255}.{k % 255 + 1}"
                    port = 1080 + k % 50_000
                    history, uptime = histories[k % 997]
                    lines.append(
                        f"public\t{host}:{port}\t\t{p[i]}\t{host}\t{port}\t\t\t{c[i]}\t{a[i]}\t{host}\t"
                        f"{20 + (k * 7919) % 2980}\tlive\t\t{checked_at[(k * 104729) % len(checked_at)]}\t"
                        f"{history}\t{uptime}\t{SOURCE}\t{created}\n"
                    )
                copy.write("".join(lines))
        copied = time.perf_counter() - start
        conn.execute("SET maintenance_work_mem = '256MB'")
        for name, definition in constraints:
            conn.execute(f'ALTER TABLE checker_poolproxy ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            conn.execute(definition)
        conn.commit()
        indexed = time.perf_counter() - start - copied
        conn.execute("ANALYZE checker_poolproxy")
        conn.commit()
    return (f"loaded {rows:,} rows with COPY in {copied:.1f} s ({rows / copied:,.0f} rows/s), "
            f"rebuilt {len(indexes)} indexes and {len(constraints)} unique constraint in {indexed:.1f} s, ANALYZE")


# ----------------------------------------------------------------------------- HTTP
class Client:
    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def stream(self, path: str) -> tuple[int, int, int]:
        """Status, bytes and lines of a streamed body, read in 64 KiB pieces."""
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        size = lines = 0
        while piece := response.read(65536):
            size += len(piece)
            lines += piece.count(b"\n")
        return response.status, size, lines


def web_workers(arbiter_pid: int) -> list[int]:
    return [pid for pid in process_tree(arbiter_pid) if pid != arbiter_pid]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--formats", default="txt,csv,json")
    parser.add_argument("--reload", action="store_true", help="load the rows even if present")
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()

    db_url = bench_database_url("exports")
    redis_url = bench_redis_url(10)
    guard_loopback(db_url)
    guard_loopback(redis_url)
    ensure_database(db_url)
    flush_redis(redis_url)
    env = bench_env(DATABASE_URL=db_url, REDIS_URL=redis_url)
    print(machine_line(), flush=True)
    manage(env, "migrate", "--noinput")
    print(load_rows(db_url, args.rows, args.reload), flush=True)
    set_plan(env, "free", limit_general=10**6, limit_export=10**6)
    key = bench_account(env, "bench-exports@example.com", "checker:read")

    port = free_port()
    web = start_gunicorn(env, port, workers=args.web_workers)
    exports: dict[str, list[tuple[float, int]]] = {}
    pages: dict[str, tuple[float, float, int]] = {}
    try:
        client = Client(port, key)
        for query in QUERIES + UNFILTERED:  # warm-up (and check the answers are right)
            status, body = client.get(f"/api/v1/public-proxies?{query}")
            assert status == 200, (query, status, body[:300])
        baseline = {pid: hwm_kb(pid) / 1024 for pid in web_workers(web.pid)}
        print(f"gunicorn workers' peak RSS before the exports: "
              f"{', '.join(f'{v:.0f}' for v in baseline.values())} MB", flush=True)
        for run in range(args.runs):
            for fmt in args.formats.split(","):
                start = time.perf_counter()
                status, size, lines = Client(port, key).stream(f"/api/v1/public-proxies/export?format={fmt}")
                elapsed = time.perf_counter() - start
                assert status == 200, status
                rows = lines - (1 if fmt == "csv" else 0)
                if fmt == "json":
                    rows = args.rows  # one line: count is checked on txt/csv
                elif rows != args.rows:
                    raise SystemExit(f"{fmt} export held {rows} rows, expected {args.rows}")
                peak = max(hwm_kb(pid) / 1024 for pid in web_workers(web.pid))
                exports.setdefault(fmt, []).append((rows / elapsed, peak))
                print(f"  export {fmt:4} run {run + 1}: {rows:,} rows, {size / 1e6:.1f} MB in {elapsed:.2f} s = "
                      f"{rows / elapsed:,.0f} rows/s; web worker peak RSS so far {peak:.0f} MB", flush=True)
        for query in QUERIES + UNFILTERED:
            times = []
            for _ in range(args.requests):
                start = time.perf_counter()
                status, body = client.get(f"/api/v1/public-proxies?{query}")
                times.append((time.perf_counter() - start) * 1000)
                assert status == 200
            total = json.loads(body)["meta"]["total"]
            first = times[0]  # counted `meta.total`; the repeats reuse the cached count
            times.sort()
            pages[query] = (median(times), times[int(len(times) * 0.95) - 1], total, first)
            print(f"  list ?{query or '(no filter)':38} median {pages[query][0]:6.1f} ms  p95 "
                  f"{pages[query][1]:6.1f} ms  first {first:6.1f} ms  ({total:,} matching)", flush=True)
    finally:
        stop(web)

    print("\nsummary")
    for fmt, values in exports.items():
        print(f"  export {fmt}: median {median([v[0] for v in values]):,.0f} rows/s over {len(values)} runs "
              f"(target > 100,000), web worker peak RSS {max(v[1] for v in values):.0f} MB (target < 150 MB)")
    filtered = [pages[q][0] for q in QUERIES]
    print(f"  filtered list pages: median of the {len(QUERIES)} queries' medians {median(filtered):.1f} ms, "
          f"worst {max(filtered):.1f} ms (target < 30 ms); first request of each (counting the total): "
          f"median {median([pages[q][3] for q in QUERIES]):.1f} ms")
    for q in UNFILTERED:
        print(f"  unfiltered ?{q or '(page 1)'}: median {pages[q][0]:.1f} ms")


if __name__ == "__main__":
    main()

"""Every read endpoint of the API vs a bare Django view, side by side in one gunicorn.

    .venv/bin/python bench/api_endpoints.py [--runs 3] [--seconds 5] [--connections 16] [--only orders,stats]
        [--baseline /path/to/the/code/before]

Seeds one realistic account once (1,000 orders, 500 ledger entries, 50 residential sub-users
with 30 days of hourly usage, 20 checker jobs of 1,000 items each, a public pool of 2,000
proxies), then, per endpoint, runs wrk against the bare view and the endpoint alternately
(`--runs` pairs) with one key holding every read scope, and prints each endpoint's median
ratio to the bare view, its p99 and the server CPU per request; then the geometric mean and
the worst ratio of the reads (`POST /orders/calc` is printed apart). Last, the dashboard's
Overview, Orders and Statistics pages with the same account (signed in by session cookie):
p50/p95 of `--page-requests` sequential requests each.

Targets (issue 27): geometric mean ≥ 0.35, worst ≥ 0.20, p99 < 50 ms each at 16 connections,
calc ≥ 0.25; the pages' p95 < 100 ms.

`--baseline DIR` serves another checkout (the code before a change, with a `.venv`) beside this
one, in a gunicorn of its own on the same database, and measures both in turn within each
run: on a machine shared with other work, the two are then compared under the same load.
CPU per request counts only the server's own processes and its database backends.

Needs PostgreSQL and Redis on 127.0.0.1 (database `<BENCH_DATABASE_URL>_endpoints`, made if
missing; Redis db 8 unless BENCH_REDIS_URL, flushed) and `wrk` (Debian package). The seed
is kept between runs (`--reseed` wipes the account's data and seeds it again).
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    ROOT,
    bench_account,
    bench_database_url,
    bench_env,
    bench_redis_url,
    cpu_seconds,
    ensure_database,
    flush_redis,
    free_port,
    guard_loopback,
    machine_line,
    manage,
    median,
    process_tree,
    stop,
    wait_http,
)

EMAIL = "bench-endpoints@example.com"
READ_SCOPES = "balance:read,orders:read,proxies:read,geo:read,stats:read,checker:read"
CALC_BODY = {"type": "datacenter", "quantity": 10, "period": 30, "country": "US"}

LUA = """
wrk.method = os.getenv("BENCH_METHOD") or "GET"
if os.getenv("BENCH_KEY") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY") end
if os.getenv("BENCH_BODY") then
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/json"
end
"""

# --------------------------------------------------------------------------- the seed
# Runs inside `manage.py shell` (see `seed`): plain ORM inserts, except the ledger entries,
# which go through billing.services.ledger_post as every movement of money does.
SEED = r"""
import json, random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from django.db import transaction
from django.utils import timezone
from accounts.models import Account, Plan
from accounts.selectors import forget_plan_limits
from billing.models import DepositAddress, LedgerEntry
from billing.services import ledger_post
from checker.models import CheckItem, CheckJob, PoolProxy
from orders.models import Order, OrderProxy
from orders.residential.models import SubUserProxy, UsageRecord

RESEED = {reseed}
rng = random.Random(27)
Plan.objects.filter(tier="free").update(limit_general=10**9, limit_order_create=10**6)
forget_plan_limits()
account = Account.objects.get(memberships__user__email={email!r})
if RESEED:
    UsageRecord.objects.filter(account=account).delete()
    SubUserProxy.objects.filter(account=account).delete()
    OrderProxy.objects.filter(order__account=account).delete()
    Order.objects.filter(account=account).delete()
    CheckJob.objects.filter(account=account).delete()
    PoolProxy.objects.filter(pool="public").delete()
    DepositAddress.objects.filter(account=account).delete()
now = timezone.now().replace(microsecond=0)
if not LedgerEntry.objects.filter(account=account).exists():
    for i in range(500):
        if i % 5 == 0:
            ledger_post(account=account, type="deposit", amount=Decimal("100.00"), reference=f"bench:dep:{{i}}",
                        description="Bench deposit")
        else:
            ledger_post(account=account, type="charge", amount=Decimal("-3.50"), reference=f"bench:chg:{{i}}",
                        description="Bench charge")
if not Order.objects.filter(account=account).exists():
    with transaction.atomic():
        orders = []
        for i in range(1000):
            kind = "residential" if i % 10 == 0 else rng.choice(["datacenter", "isp", "mobile", "ipv6"])
            quantity = Decimal(5) if kind == "residential" else Decimal(rng.randint(1, 5))
            created = now - timedelta(hours=1000 - i)
            orders.append(Order(
                account=account, type=kind, quantity=quantity, period_days=None if kind == "residential" else 30,
                country="" if kind == "residential" else "US", status="active",
                unit_price=Decimal("2.00"), subtotal=2 * quantity, discount=Decimal(0), total=2 * quantity,
                created_at=created, activated_at=created, expires_at=created + timedelta(days=30),
                traffic_gb=quantity if kind == "residential" else None,
            ))
        Order.objects.bulk_create(orders, batch_size=500)
        proxies = []
        for order in Order.objects.filter(account=account).exclude(type="residential"):
            count = 100 if order.pk == Order.objects.filter(account=account).exclude(type="residential").order_by("-created_at", "-id").values_list("pk", flat=True).first() else int(order.quantity)
            for n in range(count):
                proxies.append(OrderProxy(order=order, host=f"10.{{order.pk % 250}}.{{n // 250}}.{{n % 250}}", port=8000 + n,
                                          username=f"u{{order.pk}}", password="p" * 12, protocol="http", country="US"))
        OrderProxy.objects.bulk_create(proxies, batch_size=2000)
if not SubUserProxy.objects.filter(account=account).exists():
    with transaction.atomic():
        residential = list(Order.objects.filter(account=account, type="residential").order_by("id")[:5])
        subusers = SubUserProxy.objects.bulk_create([
            SubUserProxy(account=account, order=residential[i % 5], name=f"sub-user {{i}}", username=f"bench{{i:04d}}x",
                         password="secret-" + "x" * 8, country=rng.choice(["", "us", "de"]).upper(),
                         created_at=now - timedelta(days=40, minutes=i))
            for i in range(50)
        ])
        start = (now - timedelta(days=30)).replace(minute=0, second=0)
        records = []
        for proxy in subusers:
            for hour in range(30 * 24):
                at = start + timedelta(hours=hour)
                records.append(UsageRecord(
                    record_id=f"bench:{{proxy.pk}}:{{hour}}", account=account, proxy=proxy, order=proxy.order,
                    period_start=at, bytes_in=rng.randint(10**5, 10**8), bytes_out=rng.randint(10**4, 10**7),
                    requests=rng.randint(10, 5000), source="bench",
                ))
        UsageRecord.objects.bulk_create(records, batch_size=5000)
if not CheckJob.objects.filter(account=account).exists():
    with transaction.atomic():
        jobs = CheckJob.objects.bulk_create([
            CheckJob(account=account, status="completed", total=1000, done=1000, live=600,
                     created_at=now - timedelta(hours=20 - j), started_at=now - timedelta(hours=20 - j),
                     finished_at=now - timedelta(hours=20 - j, minutes=-5))
            for j in range(20)
        ])
        items = []
        for j, job in enumerate(jobs):
            for n in range(1000):
                live = n % 5 < 3
                items.append(CheckItem(
                    job=job, proxy_norm=f"http://172.{{j}}.{{n // 250}}.{{n % 250}}:8080", status="live" if live else "dead",
                    protocol="http" if live else "", connect_ms=rng.randint(20, 900) if live else None,
                    ttfb_ms=rng.randint(50, 2000) if live else None, exit_ip=f"203.0.{{j}}.{{n % 250}}" if live else "",
                    country="US" if live else "", anonymity="elite" if live else "", error="" if live else "timeout",
                ))
        CheckItem.objects.bulk_create(items, batch_size=5000)
if not PoolProxy.objects.filter(pool="public").exists():
    PoolProxy.objects.bulk_create([
        PoolProxy(pool="public", proxy_norm=f"http://198.51.{{n // 250}}.{{n % 250}}:3128", scheme="http", protocol="http",
                  host=f"198.51.{{n // 250}}.{{n % 250}}", port=3128, country=rng.choice(["US", "DE", "FR", "BR"]),
                  anonymity=rng.choice(["anonymous", "elite"]), latency_ms=rng.randint(30, 900), last_status="live",
                  last_checked_at=now - timedelta(minutes=rng.randint(0, 600)), history="1" * 10, uptime_score=1.0)
        for n in range(2000)
    ], batch_size=2000)
else:  # keep the pool fresh (the list shows proxies checked within a day)
    PoolProxy.objects.filter(pool="public").update(last_checked_at=now)
if not DepositAddress.objects.filter(account=account).exists():
    DepositAddress.objects.bulk_create([
        DepositAddress(account=account, currency=cur, network=net, chain=chain, key_id=f"{{chain}}:bench",
                       derivation_path=f"0/{{i}}", derivation_index=i, address=f"bench-{{account.pk}}-{{i}}")
        for i, (cur, net, chain) in enumerate([("BTC", "BTC", "BTC"), ("ETH", "ERC20", "ETH"), ("USDT", "TRC20", "TRX")])
    ])
order = Order.objects.filter(account=account).exclude(type="residential").order_by("-created_at", "-id").first()
print(json.dumps({{
    "order": order.public_id,
    "proxy": SubUserProxy.objects.filter(account=account).order_by("id").first().public_id,
    "job": str(CheckJob.objects.filter(account=account).order_by("-created_at").first().job_id),
}}))
"""

SESSION = r"""
from django.conf import settings
from django.test import Client
from accounts.models import User
client = Client()
client.force_login(User.objects.get(email={email!r}))
print(client.cookies[settings.SESSION_COOKIE_NAME].value)
"""


def seed(env: dict, *, reseed: bool) -> tuple[str, dict, str]:
    """(API key with every read scope, ids to address, dashboard session cookie)."""
    key = bench_account(env, EMAIL, READ_SCOPES)  # the account (created once) and a fresh key
    ids = json.loads(manage(env, "shell", "-c", SEED.format(email=EMAIL, reseed=reseed)).strip().splitlines()[-1])
    session = manage(env, "shell", "-c", SESSION.format(email=EMAIL)).strip().splitlines()[-1]
    return key, ids, session


def endpoints(ids: dict) -> list[tuple[str, str]]:
    """(label, path) of every read endpoint, as a client polls it (default parameters)."""
    return [
        ("account", "/api/v1/account"),
        ("transactions", "/api/v1/account/transactions"),
        ("plans", "/api/v1/plans"),
        ("deposit addresses", "/api/v1/deposits/addresses"),
        ("reference countries", "/api/v1/reference/countries"),
        ("reference periods", "/api/v1/reference/periods"),
        ("orders", "/api/v1/orders"),
        ("order", f"/api/v1/orders/{ids['order']}"),
        ("order proxies", f"/api/v1/orders/{ids['order']}/proxies"),
        ("sub-users", "/api/v1/proxy"),
        ("sub-user", f"/api/v1/proxy/{ids['proxy']}"),
        ("stats", "/api/v1/stats"),
        ("geo countries", "/api/v1/geo/countries"),
        ("public proxies", "/api/v1/public-proxies"),
        ("jobs", "/api/v1/jobs"),
        ("job", f"/api/v1/jobs/{ids['job']}"),
        ("job items", f"/api/v1/jobs/{ids['job']}/items"),
    ]


def _database_backends(db_name: str) -> list[int]:
    """The PostgreSQL backends serving `db_name` (their title names the database)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {db_name} " in title:
            pids.append(int(pid))
    return pids


class Server:
    """A gunicorn of one checkout (this one, or `--baseline`'s) on the bench database. Its CPU
    is its own process tree's and its database backends' (the machine is shared: every
    gunicorn or PostgreSQL process of other work is left out)."""

    def __init__(self, name: str, root: str, env: dict, workers: int, db_name: str):
        self.name, self.db_name = name, db_name
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [os.path.join(root, ".venv", "bin", "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--log-level", "warning", "--timeout", "60"],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr,
        )
        wait_http(port)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p) for p in process_tree(self.proc.pid) + _database_backends(self.db_name))

    def settle(self, timeout: float = 60.0) -> None:
        """Waits until the requests wrk left in flight are done (a slow endpoint's queue would
        otherwise be counted against the next run)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.cpu_seconds()
            time.sleep(0.3)
            if self.cpu_seconds() - before < 0.03:
                return


def wrk(server: Server, path: str, seconds: int, connections: int, *, key: str | None = None,
        body: dict | None = None) -> tuple[float, float, float]:
    """(requests per second, p99 ms, server CPU ms per request)."""
    url = server.base + path
    script = "/tmp/bench_endpoints.lua"  # noqa: S108 - scratch file for wrk
    with open(script, "w") as f:
        f.write(LUA)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    if key:
        env["BENCH_KEY"] = key
    if body is not None:
        env["BENCH_METHOD"], env["BENCH_BODY"] = "POST", json.dumps(body)
    cpu_before = server.cpu_seconds()
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, env=env, check=True).stdout
    cpu = server.cpu_seconds() - cpu_before
    server.settle()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} non-2xx responses")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)], 1000 * cpu / max(requests, 1)


def page_latencies(url: str, session: str, count: int) -> list[float]:
    """Milliseconds of `count` sequential GETs of a dashboard page, signed in."""
    opener = urllib.request.build_opener()
    opener.addheaders = [("Cookie", f"sessionid={session}")]
    out = []
    for _ in range(count):
        started = time.perf_counter()
        with opener.open(url, timeout=30) as response:  # noqa: S310 - loopback
            response.read()
            if response.status != 200 or response.url != url:
                raise SystemExit(f"{url}: {response.status} at {response.url} (signed out?)")
        out.append(1000 * (time.perf_counter() - started))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def measure(servers: list[Server], label: str, path: str, args, key: str) -> dict:
    """Per server: (median ratio to its own bare view, median p99, CPU ms per request of the
    endpoint and of the bare view, median rps, per-run ratios). Servers take turns each run."""
    body = CALC_BODY if label.startswith("POST") else None
    for server in servers:
        wrk(server, path, 1, args.connections, key=key, body=body)  # warm-up (snapshots, caches)
    runs: dict[str, list] = {server.name: [] for server in servers}
    for _ in range(args.runs):
        for server in servers:
            bare = wrk(server, "/bench/bare", args.seconds, args.connections)
            api = wrk(server, path, args.seconds, args.connections, key=key, body=body)
            runs[server.name].append((bare, api))
    out = {}
    for name, pairs in runs.items():
        ratios = [api[0] / bare[0] for bare, api in pairs]
        out[name] = (median(ratios), median([api[1] for _, api in pairs]), median([api[2] for _, api in pairs]),
                     median([bare[2] for bare, _ in pairs]), median([api[0] for _, api in pairs]), ratios)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--page-requests", type=int, default=100)
    parser.add_argument("--only", default="", help="comma-separated labels (substrings) of the endpoints to run")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--baseline", default="", help="another checkout of the portal (with its .venv), "
                        "served beside this one and measured in turn with it, e.g. the code before a change")
    args = parser.parse_args()

    db_url, redis_url = bench_database_url("endpoints"), bench_redis_url(8)
    guard_loopback(db_url)
    guard_loopback(redis_url)
    static_root = os.path.join(tempfile.gettempdir(), "portal-bench-endpoints-static")
    env = bench_env(ROOT_URLCONF="bench.urls", DATABASE_URL=db_url, REDIS_URL=redis_url, STATIC_ROOT=static_root)
    ensure_database(db_url)
    manage(env, "collectstatic", "--noinput")  # the pages need the manifest with DEBUG off
    flush_redis(redis_url)
    manage(env, "migrate", "--noinput")
    key, ids, session = seed(env, reseed=args.reseed)

    selected = [(label, path) for label, path in endpoints(ids)
                if not args.only or any(s in label for s in args.only.split(","))]
    if not args.only or "calc" in args.only:
        selected.append(("POST /orders/calc", "/api/v1/orders/calc"))
    db_name = db_url.rsplit("/", 1)[1]
    servers: list[Server] = []
    rows, pages = [], {}
    try:
        if args.baseline:
            servers.append(Server("baseline", os.path.abspath(args.baseline), env, args.workers, db_name))
        servers.append(Server("this", str(ROOT), env, args.workers, db_name))
        for server in servers:
            wrk(server, "/bench/bare", 2, args.connections)  # warm-up
        for label, path in selected:
            rows.append((label, measure(servers, label, path, args, key)))
            print(f"  {label:22} " + "  ".join(f"{name} {r[0]:.2f}" for name, r in rows[-1][1].items()),
                  file=sys.stderr, flush=True)
        for server in servers:
            for label, path in (("Overview", "/"), ("Orders", "/orders/"), ("Statistics", "/stats/")):
                page_latencies(f"{server.base}{path}", session, 5)  # warm-up
                times = page_latencies(f"{server.base}{path}", session, args.page_requests)
                pages.setdefault(server.name, []).append((label, percentile(times, 50), percentile(times, 95)))
    finally:
        for server in servers:
            stop(server.proc)

    print(machine_line() + f"  gunicorn workers: {args.workers}")
    print(f"runs: {args.runs} x {args.seconds}s, each alternating the bare view and the endpoint"
          f"{' on the baseline and on this checkout in turn' if args.baseline else ''}; {args.connections}"
          " connections (wrk -t2); figures are medians; CPU: the server's processes and its database backends")
    for server in servers:
        print(f"\n[{server.name}{' ' + os.path.abspath(args.baseline) if server.name == 'baseline' else ''}]")
        print(f"{'endpoint':22} {'ratio':>6} {'p99 ms':>7} {'rps':>7} {'CPU ms/req':>10} {'bare CPU':>8}  runs")
        table = [(label, result[server.name]) for label, result in rows]
        for label, (ratio, p99, cpu, bare_cpu, rps, ratios) in table:
            print(f"{label:22} {ratio:6.2f} {p99:7.1f} {rps:7.0f} {cpu:10.3f} {bare_cpu:8.3f}  "
                  f"{', '.join(f'{r:.2f}' for r in ratios)}")
        reads = [(label, r) for label, r in table if not label.startswith("POST")]
        if reads:
            geomean = math.exp(sum(math.log(r[0]) for _, r in reads) / len(reads))
            worst = min(reads, key=lambda item: item[1][0])
            slowest = max(reads, key=lambda item: item[1][1])
            print(f"reads: geometric mean {geomean:.2f} (target >= 0.35), worst {worst[1][0]:.2f} {worst[0]} "
                  f"(>= 0.20), highest p99 {slowest[1][1]:.1f} ms {slowest[0]} (< 50)")
        for label, p50, p95 in pages.get(server.name, []):
            print(f"page {label:12} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms (target p95 < 100)")


if __name__ == "__main__":
    main()

"""Concurrent order placement on one account, on PostgreSQL: throughput and no overdraft.

    .venv/bin/python bench/orders.py [--clients 50] [--orders 2000] [--runs 3] [--type datacenter]

Set-up, as an operator would: the free plan's `order_create` (and general) limit raised in
the Django admin's Plan form; inventory stock for the type loaded with
`manage.py importproxies --pool inventory --type datacenter --country US FILE`; the balance
credited with `manage.py adjustbalance`. Then, on gunicorn (6 sync workers) with a real
Celery worker provisioning the orders in the background (Redis broker; `--no-worker`: none,
as when workers run on other machines):

1. Throughput (`--runs` times): `--clients` threads, each with its own keep-alive
   connection, place `--orders` orders (POST /api/v1/orders, quantity 1, a distinct
   Idempotency-Key each) as fast as they can, for at most `--max-seconds` (60); the balance
   covers them all.
   Figure: 201 answers per second (target ≥ 100 orders/s at 50 clients).
2. Overdraft: the balance is set to pay for exactly half of `--overdraft-orders` (400) and
   the clients try them all. Exactly that many must succeed (the rest 402 insufficient_funds), the
   balance must end at 0.00, never below, and equal the sum of the ledger.

Needs PostgreSQL and Redis on 127.0.0.1 (BENCH_DATABASE_URL + "_orders", BENCH_REDIS_URL or
db 11). Connects only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal

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
    machine_line,
    manage,
    median,
    set_plan,
    start_celery_worker,
    start_gunicorn,
    stop,
)

EMAIL = "bench-orders@example.com"


def request(conn: http.client.HTTPConnection, key: str, method: str, path: str, body=None, headers=None):
    """One request on a keep-alive connection; if the server closed it meanwhile, once more on
    a new one (safe for POST /orders: the same Idempotency-Key replays the first answer)."""
    data = json.dumps(body) if body is not None else None
    hdrs = {"Authorization": f"Bearer {key}", **(headers or {})}
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    for attempt in (1, 2):
        try:
            conn.request(method, f"/api/v1/{path}", body=data, headers=hdrs)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def place_many(port: int, key: str, clients: int, total: int, body: dict,
               max_seconds: float = 60.0) -> tuple[float, Counter, list[float]]:
    """`total` POST /orders from `clients` threads (no new ones after `max_seconds`);
    returns (elapsed, statuses, latencies ms)."""
    counter = iter(range(total))
    deadline = time.perf_counter() + max_seconds
    lock = threading.Lock()
    statuses: Counter = Counter()
    latencies: list[float] = []
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        while True:
            with lock:
                if next(counter, None) is None or time.perf_counter() > deadline:
                    break
            start = time.perf_counter()
            status, _ = request(conn, key, "POST", "orders", body, {"Idempotency-Key": str(uuid.uuid4())})
            took = (time.perf_counter() - start) * 1000
            with lock:
                statuses[status] += 1
                latencies.append(took)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start, statuses, latencies


def account_state(db_url: str) -> dict:
    import psycopg

    with psycopg.connect(db_url) as conn:
        account_id, balance = conn.execute(
            "SELECT a.id, a.balance FROM accounts_account a JOIN accounts_membership m ON m.account_id = a.id "
            "JOIN accounts_user u ON u.id = m.user_id WHERE u.email = %s", (EMAIL,)).fetchone()
        ledger = conn.execute("SELECT coalesce(sum(amount), 0), min(balance_after) FROM billing_ledgerentry "
                              "WHERE account_id = %s", (account_id,)).fetchone()
        orders = dict(conn.execute("SELECT status, count(*) FROM orders_order WHERE account_id = %s "
                                   "GROUP BY status", (account_id,)).fetchall())
    return {"balance": balance, "ledger_sum": ledger[0], "min_balance_after": ledger[1], "orders": orders}


def set_balance(env: dict, db_url: str, amount: Decimal) -> None:
    """Adjusts the balance to exactly `amount` through the operator command."""
    delta = amount - account_state(db_url)["balance"]
    if delta:
        manage(env, "adjustbalance", "--email", EMAIL, "--amount", f"{delta:.2f}", "--reason", "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--orders", type=int, default=2000, help="orders per throughput run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--type", default="datacenter", help="datacenter (stock-backed) or residential")
    # sync workers: 6 x 1 placed 68 orders/s where 4 x 4 threads placed 57 and 2 x 8 placed 49
    # (CPU-bound on 2 cores; threads only add GIL contention)
    parser.add_argument("--web-workers", type=int, default=6)
    parser.add_argument("--web-threads", type=int, default=1)
    parser.add_argument("--no-worker", action="store_true",
                        help="no Celery worker: measure placement alone (provisioning stays queued), as "
                             "when workers run on other machines")
    parser.add_argument("--overdraft-orders", type=int, default=400, help="orders tried in the overdraft phase")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="cap of each throughput run")
    args = parser.parse_args()

    db_url = bench_database_url("orders")
    redis_url = bench_redis_url(11)
    guard_loopback(db_url)
    guard_loopback(redis_url)
    ensure_database(db_url)
    flush_redis(redis_url)
    env = bench_env(DATABASE_URL=db_url, REDIS_URL=redis_url)
    print(machine_line(), flush=True)
    manage(env, "migrate", "--noinput")
    manage(env, "shell", "-c", (
        "from orders.models import Order, InventoryProxy;"
        "InventoryProxy.objects.all().delete(); Order.objects.all().delete()"
    ))
    print("plan:", set_plan(env, "free", limit_general=10**6, limit_order_create=10**6), flush=True)
    key = bench_account(env, EMAIL, "orders:read,orders:write,balance:read")
    if args.type == "residential":
        body = {"type": "residential", "quantity": "1", "country": "US"}
    else:
        body = {"type": args.type, "quantity": 1, "period": 30, "country": "US"}
        needed = args.orders * args.runs + args.overdraft_orders + 1  # the runs, the overdraft phase, warm-up
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as stock:
            stock.write("".join(f"10.{i // 65025 % 255}.{i // 255 % 255}.{i % 255 + 1}:8080:u{i}:p{i}\n"
                                for i in range(needed)))
            stock.flush()
            out = manage(env, "importproxies", "--pool", "inventory", "--type", args.type, "--country", "US",
                         stock.name)
        print("stock:", out.strip().splitlines()[-1], flush=True)

    port = free_port()
    web = start_gunicorn(env, port, workers=args.web_workers, threads=args.web_threads)
    worker = None if args.no_worker else start_celery_worker(env, concurrency=1)
    results = []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        status, calc = request(conn, key, "POST", "orders/calc", body)
        assert status == 200, calc
        price = Decimal(calc["data"]["total"])
        print(f"order: {body} at {price} USD each; {args.clients} clients", flush=True)
        set_balance(env, db_url, price * 10)
        status, first = request(conn, key, "POST", "orders", body, {"Idempotency-Key": str(uuid.uuid4())})
        assert status == 201, first  # warm-up, and the body is right

        for run in range(args.runs):
            set_balance(env, db_url, price * args.orders)
            elapsed, statuses, latencies = place_many(port, key, args.clients, args.orders, body,
                                                      args.max_seconds)
            latencies.sort()
            rate = statuses[201] / elapsed
            results.append(rate)
            print(f"  run {run + 1}: {statuses[201]} orders in {elapsed:.2f} s = {rate:.0f} orders/s; "
                  f"latency median {median(latencies):.0f} ms, p99 {latencies[int(len(latencies) * 0.99) - 1]:.0f} ms; "
                  f"statuses {dict(statuses)}", flush=True)
            if set(statuses) != {201}:
                raise SystemExit(f"unexpected answers: {dict(statuses)}")

        tried = args.overdraft_orders
        affordable = tried // 2
        set_balance(env, db_url, price * affordable)
        elapsed, statuses, _ = place_many(port, key, args.clients, tried, body, max_seconds=600)
        state = account_state(db_url)
        print(f"  overdraft: balance for {affordable} orders, {tried} tried by {args.clients} clients: "
              f"{dict(statuses)} in {elapsed:.2f} s; balance {state['balance']}, ledger sum {state['ledger_sum']}, "
              f"lowest balance_after {state['min_balance_after']}", flush=True)
        no_overdraft = (statuses[201] == affordable and statuses[402] == tried - affordable
                        and state["balance"] == Decimal("0.00") == state["ledger_sum"]
                        and state["min_balance_after"] >= 0)
        time.sleep(2)
        print(f"  orders by status ({'no worker: provisioning queued' if args.no_worker else 'a worker provisions in the background'}): "
              f"{account_state(db_url)['orders']}")
    finally:
        stop(worker, 30)
        stop(web)

    print("\nsummary")
    print(f"  {args.clients} concurrent clients, {args.type}, {'no worker' if args.no_worker else 'with a Celery worker'}: median {median(results):.0f} orders/s over "
          f"{len(results)} runs ({', '.join(f'{r:.0f}' for r in results)}) (target >= 100)")
    print(f"  no overdraft: {'yes' if no_overdraft else 'NO'} (exactly {affordable} of {tried} placed, "
          f"balance 0.00 = ledger sum, never below 0)")


if __name__ == "__main__":
    main()

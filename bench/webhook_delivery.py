"""Webhook delivery throughput, and what the outbox adds to placing orders, on PostgreSQL/Redis.

    .venv/bin/python bench/webhook_delivery.py [--events 1000] [--orders 200]
        [--database-url URL] [--redis-url URL]

1. Delivery: `--events` events are written to the outbox with no worker running (as if the
   broker had been down), then ONE Celery worker (prefork, concurrency 1, as deployed) is
   started and the beat's sweep (`dispatches_redrive`) hands them all over at once; the
   figure is events delivered per second to a receiver on 127.0.0.1 (http.server, answering
   200 at once), each signed, each with its claim, POST and attempt row.
2. Orders: `--orders` datacenter orders are placed through `POST /api/v1/orders` (in
   process, one client, one after the other; rate limits off) and provisioned by the worker,
   first with no webhook endpoint, then with one subscribed to `order.activated`. Figures:
   placements per second (the request), and orders active per second (placed, provisioned,
   and with an endpoint their event written in the activation's transaction and delivered).

Needs PostgreSQL and Redis on 127.0.0.1 (default: BENCH_DATABASE_URL + "_webhooks",
BENCH_REDIS_URL or db 12; the Redis db is flushed). Connects only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    bench_database_url,
    bench_env,
    bench_redis_url,
    ensure_database,
    flush_redis,
    guard_loopback,
    machine_line,
    manage,
    start_celery_worker,
    stop,
)


class Receiver:
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def wait_for(condition, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--database-url", default=bench_database_url("webhooks"))
    parser.add_argument("--redis-url", default=bench_redis_url(12))
    args = parser.parse_args()
    guard_loopback(args.database_url)
    guard_loopback(args.redis_url)

    env = bench_env(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, WEBHOOKS_ALLOW_HTTP="1",
                    WEBHOOKS_ALLOW_PRIVATE="1", RATELIMIT_ENABLE="0")
    ensure_database(args.database_url)
    flush_redis(args.redis_url)
    manage(env, "migrate", "--noinput")
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from decimal import Decimal

    from django.db import transaction
    from django.test import Client

    from accounts.services import user_create_with_account
    from apikeys.services import apikey_create
    from billing.services import ledger_post
    from events import services
    from events.models import Dispatch, DispatchState, Endpoint
    from orders.models import InventoryProxy, Order, OrderStatus

    stamp = int(time.time())
    user, account = user_create_with_account(email=f"bench-webhooks-{stamp}@example.com",
                                             password="bench-password-1", name="Bench webhooks")
    receiver = Receiver()
    print(machine_line())
    worker = None
    try:
        # --- 1. delivery throughput -------------------------------------------------------
        endpoint = services.endpoint_create(account=account, url=receiver.url, events=["job.completed"])
        enqueue = services._enqueue
        services._enqueue = lambda ids, countdown=0: None  # no worker yet: the outbox only
        data = {"job_id": "00000000-0000-0000-0000-000000000000", "status": "completed", "total": 1}
        for _ in range(args.events):
            with transaction.atomic():
                services.event_emit(account=account, type="job.completed", data=data)
        services._enqueue = enqueue
        worker = start_celery_worker(env)
        time.sleep(3)  # the worker connects to the broker
        started = time.perf_counter()
        queued = 0
        while queued < args.events:
            queued += services.dispatches_redrive(batch=args.events)
        done = wait_for(lambda: receiver.count >= args.events, 600)
        elapsed = time.perf_counter() - started
        delivered = Dispatch.objects.filter(endpoint=endpoint, state=DispatchState.DELIVERED).count()
        print(f"delivery: {args.events} events, {delivered} delivered in {elapsed:.1f} s by one worker: "
              f"{delivered / elapsed:.0f} events/s{'' if done else '  (TIMED OUT)'}")
        Endpoint.objects.filter(pk=endpoint.pk).delete()

        # --- 2. POST /orders with and without an endpoint -----------------------------------
        _, key = apikey_create(account=account, name="bench", scopes=["orders:read", "orders:write"],
                               expiration="never", created_by=user)
        ledger_post(account=account, type="deposit", amount=Decimal("100000"), reference=f"bench-fund:{stamp}",
                    description="Bench funding")
        client = Client(HTTP_HOST="127.0.0.1")
        headers = {"Authorization": f"Bearer {key}"}
        body = json.dumps({"type": "datacenter", "quantity": 1, "period": 30, "country": "US"})
        results = {}
        for number, label in enumerate(("without an endpoint", "with an endpoint")):
            if label == "with an endpoint":
                services.endpoint_create(account=account, url=receiver.url, events=["order.activated"])
            InventoryProxy.objects.bulk_create(
                InventoryProxy(type="datacenter", country="US", host=f"10.{200 + number}.{i // 250}.{i % 250}",
                               port=20000 + stamp % 1000, username=f"b{i}", password="p", protocol="http")
                for i in range(args.orders)
            )
            before = receiver.count
            started = time.perf_counter()
            placed = []
            for _ in range(args.orders):
                response = client.post("/api/v1/orders", data=body, content_type="application/json", headers=headers)
                assert response.status_code == 201, response.content[:300]
                placed.append(json.loads(response.content)["data"]["id"])
            placing = time.perf_counter() - started
            active = wait_for(lambda ids=placed: Order.objects.filter(
                public_id__in=ids, status=OrderStatus.ACTIVE).count() == len(ids), 600)
            if label == "with an endpoint":
                wait_for(lambda ids=placed, start=before: receiver.count - start >= len(ids), 600)
            total = time.perf_counter() - started
            results[label] = (len(placed) / placing, len(placed) / total)
            print(f"orders {label}: POST /orders {results[label][0]:.0f}/s; placed and active "
                  f"{results[label][1]:.0f}/s{'' if active else '  (TIMED OUT)'}; "
                  f"events delivered {receiver.count - before}")
        (post0, all0), (post1, all1) = results.values()
        print(f"outbox cost: POST /orders {100 * (post0 - post1) / post0:+.1f} % slower, "
              f"placed-to-active {100 * (all0 - all1) / all0:+.1f} % slower with an endpoint")
    finally:
        stop(worker)
        receiver.server.shutdown()


if __name__ == "__main__":
    main()

"""Money invariants under concurrency, on PostgreSQL with real threads (one connection each).

Several workers mix every money-moving operation that exists on a few shared accounts:
deposits, charges and refunds straight through the ledger, orders placed (and provisioned),
extended, failed and cancelled, deposit notifications delivered several times at once,
premium subscriptions. Operations whose service has not landed are left out (and named in
the figures). Afterwards, for every account:

- the cached balance equals the sum of its ledger entries, and is never negative;
- the entries, in posting order, carry a running `balance_after` that matches their sum;
- every order is charged exactly once, refunded at most once, never refunded more than it
  paid, and a failed order nets to zero;
- every deposit output is credited at most once; no stock proxy is held by two orders.
"""

import importlib
import os
import random
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from accounts.models import Account
from accounts.services import user_create_with_account
from api.errors import http_error
from billing.models import LedgerEntry
from billing.services import ledger_post
from core.errors import PortalError
from tests.conftest import PASSWORD
from tests.security.conftest import ensure_seed_data

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL)"),
    pytest.mark.django_db(transaction=True),
]

WORKERS = int(os.environ.get("MONEY_WORKERS", "6"))
OPS_PER_WORKER = int(os.environ.get("MONEY_OPS", "60"))
FIGURES: Counter = Counter()


def _optional(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


class World:
    """The shared accounts and what the workers may act on."""

    def __init__(self, accounts):
        self.account_ids = [a.pk for a in accounts]
        self.lock = threading.Lock()
        self.seq = 0
        self.txids = [f"{i:064x}" for i in range(1, 9)]  # few outputs: deliveries collide
        self.addresses = {}
        self.errors: list[str] = []

    def next(self) -> str:
        with self.lock:
            self.seq += 1
            return f"{os.getpid()}-{self.seq}"


def op_deposit(world, rng, account):
    ledger_post(account=account, type="deposit", amount=Decimal(rng.randint(1, 40)),
                reference=f"sec-money:dep:{world.next()}", description="concurrent deposit")


def op_charge(world, rng, account):
    ledger_post(account=account, type="charge", amount=-Decimal(rng.randint(1, 60)),
                reference=f"sec-money:chg:{world.next()}", description="concurrent charge")


def op_refund(world, rng, account):
    ledger_post(account=account, type="refund", amount=Decimal(rng.randint(1, 5)),
                reference=f"sec-money:ref:{world.next()}", description="concurrent refund")


def op_order(world, rng, account):
    order_place = _optional("orders.services", "order_place")
    order_place(account=account, type="datacenter", quantity=rng.randint(1, 2), period=30, country="DE")


def _some_order(account, statuses):
    from orders.models import Order

    return Order.objects.filter(account=account, status__in=statuses).order_by("?").first()


def op_extend(world, rng, account):
    order_extend = _optional("orders.services", "order_extend")
    order = _some_order(account, ["active"])
    if order is not None:
        order_extend(account=account, order_id=order.public_id, period=7)


def op_cancel(world, rng, account):
    order_cancel = _optional("orders.services", "order_cancel")
    order = _some_order(account, ["pending", "active"])
    if order is not None:
        order_cancel(order=order, refund=rng.choice(["full", "prorata", "none"]))


def op_fail(world, rng, account):
    order_fail = _optional("orders.services", "order_fail")
    order = _some_order(account, ["pending", "active"])
    if order is not None:
        order_fail(order=order, reason="provider failure (security suite)")


def op_deposit_webhook(world, rng, account):
    apply = _optional("billing.services", "deposit_notification_apply")
    address = world.addresses[account.pk]
    txid = rng.choice(world.txids)
    apply(currency="BTC", network="BTC", address=address, txid=f"{account.pk:04d}{txid[4:]}", vout=0,
          amount=Decimal("0.001"), amount_usd=Decimal("25.00"), confirmations=6)


def op_premium(world, rng, account):
    _optional("billing.services", "premium_purchase")(account=account)


OPERATIONS = {
    "deposit": (op_deposit, None),
    "charge": (op_charge, None),
    "refund": (op_refund, None),
    "order": (op_order, ("orders.services", "order_place")),
    "extend": (op_extend, ("orders.services", "order_extend")),
    "cancel": (op_cancel, ("orders.services", "order_cancel")),
    "fail": (op_fail, ("orders.services", "order_fail")),
    "deposit_webhook": (op_deposit_webhook, ("billing.services", "deposit_notification_apply")),
    "premium": (op_premium, ("billing.services", "premium_purchase")),
}


def _available_operations():
    return {name: fn for name, (fn, need) in OPERATIONS.items() if need is None or _optional(*need)}


def _worker(world, ops, seed):
    rng = random.Random(seed)
    names = sorted(ops)
    try:
        for _ in range(OPS_PER_WORKER):
            name = rng.choice(names)
            account = Account.objects.get(pk=rng.choice(world.account_ids))
            try:
                ops[name](world, rng, account)
                FIGURES[f"{name}:done"] += 1
            except PortalError as exc:  # refused by the domain (funds, stock, state): fine
                FIGURES[f"{name}:refused:{http_error(exc)[1]}"] += 1
            except Exception as exc:  # noqa: BLE001 - anything else is a bug (deadlock, 500…)
                world.errors.append(f"{name}: {exc.__class__.__name__}: {exc}")
    finally:
        connection.close()


def _setup_world():
    ensure_seed_data()
    accounts = []
    for i in range(3):
        _, account = user_create_with_account(email=f"money{i}@security.example", password=PASSWORD,
                                              name=f"Money {i}")
        ledger_post(account=account, type="deposit", amount=Decimal("300.00"),
                    reference=f"sec-money:seed:{account.pk}", description="seed")
        accounts.append(account)
    world = World(accounts)
    create_address = _optional("billing.services", "deposit_address_create")
    if create_address:
        for account in accounts:
            world.addresses[account.pk] = create_address(account=account, currency="BTC").address
    try:
        from orders.models import InventoryProxy

        InventoryProxy.objects.bulk_create(
            InventoryProxy(type="datacenter", country="DE", host=f"10.77.{i // 250}.{i % 250}", port=3128,
                           username=f"sec{i}", password="p", protocol="http")
            for i in range(60)
        )
    except ImportError:
        pass
    return world


def assert_money_invariants(account_ids=None) -> dict:
    """The invariants of the module docstring, over every account (or those given)."""
    accounts = Account.objects.all() if account_ids is None else Account.objects.filter(pk__in=account_ids)
    checked = Counter()
    for account in accounts:
        running = Decimal("0.00")
        for entry in LedgerEntry.objects.filter(account=account).order_by("id"):
            running += entry.amount
            assert entry.balance_after == running, f"{account}: {entry.public_id} balance_after breaks the chain"
            assert entry.balance_after >= 0
            checked["entries"] += 1
        assert account.balance == running, f"{account}: cached balance {account.balance} != ledger sum {running}"
        assert account.balance >= 0
        checked["accounts"] += 1
    try:
        from orders.models import Order, OrderProxy
    except ImportError:
        return checked
    orders = Order.objects.all() if account_ids is None else Order.objects.filter(account_id__in=account_ids)
    for order in orders:
        prefix = f"order:{order.public_id}:"
        entries = LedgerEntry.objects.filter(account_id=order.account_id, reference__startswith=prefix)
        charges = entries.filter(reference=f"{prefix}charge")
        assert charges.count() == 1, f"{order.public_id} ({order.status}) charged {charges.count()} times"
        assert charges.get().amount == -order.total
        assert entries.filter(type="refund").count() <= 1, f"{order.public_id} refunded twice"
        net = entries.aggregate(s=Sum("amount"))["s"]
        assert net <= 0, f"{order.public_id} was refunded more than it paid ({net})"
        if order.status == "failed":
            assert net == 0, f"failed order {order.public_id} is not refunded in full ({net})"
        checked["orders"] += 1
    held = OrderProxy.objects.filter(released_at__isnull=True, inventory__isnull=False)
    duplicates = held.values("inventory_id").annotate(n=Sum(1)).filter(n__gt=1)
    assert not duplicates.exists(), f"stock held by two orders: {list(duplicates)}"
    return checked


def test_concurrent_money_operations_keep_every_invariant():
    world = _setup_world()
    ops = _available_operations()
    missing = sorted(set(OPERATIONS) - set(ops))
    threads = [threading.Thread(target=_worker, args=(world, ops, 1000 + i)) for i in range(WORKERS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a worker hung (deadlock?)"
    assert not world.errors, "\n".join(world.errors[:20])

    checked = assert_money_invariants(world.account_ids)
    done = sum(v for k, v in FIGURES.items() if k.endswith(":done"))
    print(
        f"\n[money] workers={WORKERS} operations={WORKERS * OPS_PER_WORKER} done={done} "
        f"refused={WORKERS * OPS_PER_WORKER - done} accounts={checked['accounts']} "
        f"entries={checked['entries']} orders={checked['orders']} not-yet-available={missing} "
        f"seconds={time.monotonic() - started:.1f} detail={dict(sorted(FIGURES.items()))}"
    )
    assert done > WORKERS * OPS_PER_WORKER // 3, f"too few operations went through: {dict(FIGURES)}"
    if "deposit_webhook" in ops:
        from billing.models import Deposit

        # Each output delivered many times at once: credited exactly once, by one entry.
        credited = Deposit.objects.filter(account_id__in=world.account_ids, status="credited")
        entries = LedgerEntry.objects.filter(account_id__in=world.account_ids, reference__startswith="deposit:")
        assert entries.count() == credited.count()
        for deposit in credited:
            assert entries.filter(reference=deposit.ledger_reference, amount=deposit.amount_usd).count() == 1


def process_main(spec_json: str) -> None:
    """Entry point of a worker process (see the multi-process test): same operations, own PID."""
    import json

    spec = json.loads(spec_json)
    world = World(Account.objects.filter(pk__in=spec["accounts"]))
    world.addresses = {int(k): v for k, v in spec["addresses"].items()}
    _worker(world, _available_operations(), spec["seed"])
    print(json.dumps({"errors": world.errors, "figures": dict(FIGURES)}))


def test_money_invariants_hold_across_processes():
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tests.security.test_faults import server_env

    world = _setup_world()
    spec = {"accounts": world.account_ids, "addresses": world.addresses}
    code = ("import django; django.setup(); from tests.security.test_money_invariants import process_main; "
            "import sys; process_main(sys.argv[1])")
    env = server_env(DJANGO_SETTINGS_MODULE="portal.settings", CELERY_TASK_ALWAYS_EAGER="1", LOG_LEVEL="ERROR")
    procs = [
        subprocess.Popen([sys.executable, "-c", code, json.dumps({**spec, "seed": 500 + i})],
                         cwd=Path(__file__).resolve().parents[2], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    # ...while threads of this process work on the same accounts.
    threads = [threading.Thread(target=_worker, args=(world, _available_operations(), 900 + i)) for i in range(2)]
    for thread in threads:
        thread.start()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for thread in threads:
        thread.join(timeout=240)
    done = 0
    for (out, err), proc in zip(outputs, procs, strict=True):
        assert proc.returncode == 0, err[-2000:]
        result = json.loads(out.strip().splitlines()[-1])
        assert not result["errors"], result["errors"][:10]
        done += sum(v for k, v in result["figures"].items() if k.endswith(":done"))
    assert not world.errors, world.errors[:10]
    checked = assert_money_invariants(world.account_ids)
    print(f"\n[money/processes] processes=3 threads=2 process-ops-done={done} entries={checked['entries']} "
          f"orders={checked['orders']}")
    assert done > 0

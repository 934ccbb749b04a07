"""Orders test helpers: funding through the ledger, stock."""

import importlib
import itertools
import threading
from decimal import Decimal

import pytest
from django.conf import settings

from billing.models import LedgerEntry
from billing.services import ledger_post
from orders.models import InventoryProxy

requires_postgres = pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL)")

_counter = itertools.count()


def ensure_catalogue() -> None:
    """Reinstalls the default catalogue of migration 0002 (transactional tests flush it away)."""
    from django.apps import apps

    from orders.models import ProxyType

    if not ProxyType.objects.exists():
        importlib.import_module("orders.migrations.0002_default_catalogue").install(apps, None)


def fund(account, amount) -> None:
    ledger_post(
        account=account, type="deposit", amount=Decimal(str(amount)),
        reference=f"test-fund:{account.pk}:{next(_counter)}:{threading.get_ident()}", description="Test funding",
    )


def add_stock(type_code="datacenter", country="DE", count=5, start=1):
    rows = [
        InventoryProxy(
            type=type_code, country=country, host=f"10.{start // 250}.{start % 250}.{i}", port=8000 + i,
            username=f"u{i}", password=f"p{i}", protocol="http",
        )
        for i in range(count)
    ]
    return InventoryProxy.objects.bulk_create(rows)


def free_stock(type_code="datacenter", country="DE") -> int:
    return InventoryProxy.objects.filter(type=type_code, country=country, status="available").count()


def balance(account) -> Decimal:
    account.refresh_from_db()
    return account.balance


def charges(account):
    return LedgerEntry.objects.filter(account=account, type="charge")


@pytest.fixture
def order_key(account, make_key):
    return make_key(account, scopes=["orders:read", "orders:write"])


class OnCommitClient:
    """An ApiClient whose requests run their on-commit callbacks (provisioning), as in production."""

    def __init__(self, client, capture):
        self.client = client
        self.capture = capture

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(*args, **kwargs):
            with self.capture(execute=True):
                return method(*args, **kwargs)

        return call


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    """committing(client) → the client, running on-commit callbacks after each request."""
    return lambda client: OnCommitClient(client, django_capture_on_commit_callbacks)


@pytest.fixture
def client_for(api, order_key, committing):
    return committing(api(order_key))

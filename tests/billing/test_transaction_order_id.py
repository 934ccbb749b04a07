"""Transactions name the order they pay for or refund (`order_id`), or null."""

import importlib
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from billing.models import LedgerEntry
from billing.services import ledger_post
from orders.services import order_cancel
from tests.conftest import _migration_apps, dashboard_client
from tests.orders.conftest import OnCommitClient, add_stock, fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    return lambda client: OnCommitClient(client, django_capture_on_commit_callbacks)


def _place(client, quantity=2):
    response = client.post("orders", {"type": "datacenter", "quantity": quantity, "period": 30, "country": "DE"})
    assert response.status_code == 201, response.json_body
    return response.json_body["data"]["id"]


def test_transactions_carry_the_order_id_of_charges_extensions_and_refunds(account, api, make_key, committing):
    key = make_key(account, scopes=["orders:read", "orders:write", "balance:read"])
    fund(account, "100")
    add_stock("datacenter", "DE", 4)
    order_id = _place(committing(api(key)))
    assert api(key).post(f"orders/{order_id}/extend", {"period": 30}).status_code == 200
    from orders.models import Order

    order_cancel(order=Order.objects.get(public_id=order_id), refund="full")
    items = api(key).get("account/transactions").json_body["data"]
    by_type = {}
    for item in items:
        assert "order_id" in item and "reference" in item
        by_type.setdefault(item["type"], []).append(item["order_id"])
    assert by_type["charge"] == [order_id, order_id]
    assert by_type["refund"] == [order_id]
    assert by_type["deposit"] == [None]


def test_the_billing_page_links_a_transaction_to_its_order(owner, account, api, make_key, committing):
    key = make_key(account, scopes=["orders:read", "orders:write"])
    fund(account, "50")
    add_stock("datacenter", "DE", 2)
    order_id = _place(committing(api(key)), quantity=1)
    page = dashboard_client(owner, account).get("/billing/")
    assert page.status_code == 200
    assert f'href="/orders/{order_id}/"' in page.content.decode()


class _Editor:
    """The part of a schema editor the migration's function uses, inside the test's transaction."""

    connection = connection

    def execute(self, sql, params=None):
        with connection.cursor() as cursor:
            cursor.execute(sql)


def test_migration_backfills_order_ids_from_references(account):
    fund(account, "10")
    ledger_post(account=account, type="charge", amount=Decimal("-1"), reference="order:ord_abc123:charge",
                description="old charge")
    ledger_post(account=account, type="charge", amount=Decimal("-1"), reference="order:ord_abc123:extend:1",
                description="old extension")
    ledger_post(account=account, type="adjustment", amount=Decimal("1"), reference="adjustment:xyz",
                description="not an order")
    if connection.vendor == "postgresql":  # as in a migration: no trigger event of this transaction pending
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    module = "billing.migrations.0007_ledger_order_id"
    importlib.import_module(module).backfill(_migration_apps(module), _Editor())
    found = dict(LedgerEntry.objects.filter(account=account).values_list("reference", "order_public_id"))
    assert found["order:ord_abc123:charge"] == "ord_abc123"
    assert found["order:ord_abc123:extend:1"] == "ord_abc123"
    assert found["adjustment:xyz"] is None


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="the trigger is PostgreSQL's")
def test_the_database_refuses_to_change_an_entrys_order_id(account):
    fund(account, "10")
    entry = LedgerEntry.objects.filter(account=account).get()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE billing_ledgerentry SET order_public_id = 'ord_x' WHERE id = %s", [entry.pk])

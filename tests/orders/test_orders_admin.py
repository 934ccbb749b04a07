from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import AuditLogEntry, User
from billing.models import LedgerEntry
from orders import services
from orders.models import InventoryProxy, Order

from .conftest import add_stock, balance, fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(db):
    user = User.objects.create_superuser(email="ops@example.com", password="ops-Password-123")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model", ["proxytype", "period", "country", "pricerule", "order", "inventoryproxy"]
)
def test_admin_pages_load(operator_client, account, model):
    fund(account, "10")
    services.order_place(account=account, type="residential", quantity=1)
    assert operator_client.get(f"/admin/orders/{model}/").status_code == 200
    assert operator_client.get(f"/admin/orders/{model}/?q=a").status_code == 200


def test_cancel_and_refund_action(operator_client, account, django_capture_on_commit_callbacks):
    fund(account, "10")
    add_stock("datacenter", "DE", 1)
    with django_capture_on_commit_callbacks(execute=True):
        order = services.order_place(account=account, type="datacenter", quantity=1, period=30, country="DE")
    assert balance(account) == Decimal("8.50")
    form = operator_client.post("/admin/orders/order/", {"action": "cancel_and_refund", "_selected_action": [order.pk]})
    assert form.status_code == 200 and b"Cancel and refund orders" in form.content
    done = operator_client.post("/admin/orders/order/", {
        "action": "cancel_and_refund", "_selected_action": [order.pk], "apply": "1", "refund": "full",
        "reason": "customer asked",
    })
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == "cancelled" and order.failure_reason == "customer asked"
    assert balance(account) == Decimal("10.00")
    assert LedgerEntry.objects.filter(reference=f"order:{order.public_id}:refund", type="refund").count() == 1
    assert InventoryProxy.objects.get().status == "available"
    assert AuditLogEntry.objects.filter(account=account, action="order.cancelled", target=order.public_id).exists()
    # a second cancellation is refused and refunds nothing more
    operator_client.post("/admin/orders/order/", {
        "action": "cancel_and_refund", "_selected_action": [order.pk], "apply": "1", "refund": "full", "reason": "x",
    })
    assert balance(account) == Decimal("10.00")


def test_stock_upload_page(operator_client):
    page = operator_client.get("/admin/orders/inventoryproxy/upload/")
    assert page.status_code == 200
    response = operator_client.post("/admin/orders/inventoryproxy/upload/", {
        "type": "isp", "country": "us", "text": "198.51.100.1:8080\n198.51.100.2:8080:u:p\nbad line\n",
    })
    assert response.status_code == 302
    assert set(InventoryProxy.objects.values_list("type", "country")) == {("isp", "US")}
    assert InventoryProxy.objects.count() == 2
    assert not Order.objects.exists()

"""The operator console (/console/): staff see the business across accounts; customers and
visitors do not; low-stock thresholds e-mail the staff once per crossing."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import User
from billing.selectors import revenue_by_day, top_spenders
from billing.services import deposit_address_create, deposit_notification_apply, ledger_post
from orders.models import (
    InventoryProxy,
    Order,
    StockThreshold,
    UpstreamBalanceCheck,
    UpstreamCallFailure,
)
from orders.selectors import stock_levels
from orders.services import stock_thresholds_check
from orders.tasks import check_stock_thresholds
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return User.objects.create_user(email="ops@example.com", password=PASSWORD, is_staff=True)


def post(account, type, amount, ref):  # noqa: A002
    ledger_post(account=account, type=type, amount=Decimal(amount), reference=ref, description=ref)


def order(account, status, reason="", country="DE"):
    return Order.objects.create(
        account=account, type="datacenter", quantity=Decimal(1), period_days=30, country=country, status=status,
        unit_price=Decimal("1.50"), subtotal=Decimal("1.50"), discount=Decimal(0), total=Decimal("1.50"),
        failure_reason=reason, ended_at=timezone.now() if status == "failed" else None,
    )


def stock(type_code, country, count, start=1, **extra):
    InventoryProxy.objects.bulk_create([
        InventoryProxy(type=type_code, country=country, host=f"203.0.{start}.{i}", port=8000, **extra)
        for i in range(count)
    ])


@pytest.fixture
def seeded(account, outsider_account):
    """Acme spends 14.50 net (charge 10, subscription 9, refund 4.50) and Other Co 3.00: 17.50 in
    all; deposits and adjustments move balances but are not revenue."""
    post(account, "deposit", "100", "seed:a")
    post(outsider_account, "deposit", "50", "seed:b")
    post(account, "charge", "-10", "seed:a:charge")
    post(account, "subscription", "-9", "seed:a:plan")
    post(account, "refund", "4.50", "seed:a:refund")
    post(account, "adjustment", "-20", "seed:a:adjust")
    post(outsider_account, "charge", "-3", "seed:b:charge")
    order(account, "active")
    order(account, "active")
    order(outsider_account, "expired")
    order(account, "failed", reason="Not enough proxies in stock for this order.")
    UpstreamCallFailure.objects.create(operation="place_order", upstream_status=402, error_type="insufficient_funds",
                                       message="Your balance is lower than the price.")
    stock("datacenter", "DE", 3)
    stock("datacenter", "US", 2, start=2)
    stock("isp", "GB", 1, start=3, status="disabled")
    StockThreshold.objects.create(type="datacenter", country="DE", minimum=5)
    StockThreshold.objects.create(type="isp", country="", minimum=1)
    address = deposit_address_create(account=account, currency="BTC")
    deposit_notification_apply(currency="BTC", network="BTC", address=address.address, txid="ef" * 32, vout=1,
                               amount=Decimal("0.002"), amount_usd=Decimal("130"), confirmations=1)
    UpstreamBalanceCheck.objects.create(balance=Decimal("12.34"), currency="USD")
    return account


def test_revenue_per_day_is_sales_net_of_refunds_on_the_day_they_happened(seeded):
    today = timezone.localdate()
    days = revenue_by_day(days=30)
    assert len(days) == 30 and days[-1] == (today, Decimal("17.50")) and days[0][0] == today - timedelta(days=29)
    assert all(amount == 0 for _, amount in days[:-1])
    later = revenue_by_day(days=30, now=timezone.now() + timedelta(days=5))
    assert later[-6] == (today, Decimal("17.50")) and later[-1][1] == 0
    assert all(amount == 0 for _, amount in revenue_by_day(days=30, now=timezone.now() + timedelta(days=30)))


def test_top_spenders_and_stock_levels(seeded, outsider_account):
    assert [(r["account"].name, r["spent"]) for r in top_spenders()] == [("Acme", Decimal("14.50")), ("Other Co", Decimal("3.00"))]
    rows = {(r["type"], r["country"]): r for r in stock_levels()}
    assert rows[("datacenter", "DE")] == {"type": "datacenter", "country": "DE", "free": 3, "resting": 0,
                                               "allocated": 0, "disabled": 0, "threshold": 5, "low": True}
    assert rows[("datacenter", "US")]["threshold"] is None and not rows[("datacenter", "US")]["low"]
    assert (rows[("isp", "")]["free"], rows[("isp", "")]["disabled"], rows[("isp", "")]["low"]) == (0, 1, True)


def test_staff_see_the_figures_of_every_account(client, staff, seeded):
    client.force_login(staff)
    response = client.get("/console/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="stat" data-testid="revenue-total">17.50 USD</span>' in html
    chart = json.loads(html.split('id="revenue-chart-data" type="application/json">')[1].split("</script>")[0])
    assert len(chart["labels"]) == 30 and chart["data"][-1] == 17.5 and sum(chart["data"]) == 17.5
    statuses = {r["status"]: (r["all_time"], r["recent"]) for r in response.context["figures"]["orders_by_status"]}
    assert statuses == {"pending": (0, 0), "active": (2, 2), "expired": (1, 1), "cancelled": (0, 0), "failed": (1, 1)}
    assert "Not enough proxies in stock for this order." in html
    assert "HTTP 402 · insufficient_funds" in html
    assert "0.002 BTC (BTC)" in html and "130.00 USD" in html and ">1/2<" in html
    assert html.index("Acme") < html.index("Other Co")
    assert '<span class="stat" data-testid="upstream-balance">12.34 USD</span>' in html
    assert "vendor/chartjs/chart.umd.js" in html and "js/console.js" in html


def test_console_is_linked_from_the_admin_index(client, staff):
    client.force_login(staff)
    assert 'href="/console/"' in client.get("/admin/").content.decode()


def test_customers_are_refused_and_visitors_sent_to_sign_in(client, owner, seeded):
    visitor = client.get("/console/")
    assert visitor.status_code == 302 and visitor["Location"].startswith("/admin/login/")
    client.force_login(owner)
    response = client.get("/console/", follow=True)
    assert response.status_code == 403
    assert "revenue-total" not in response.content.decode()


def test_low_stock_mails_the_staff_once_until_it_recovers(staff, mailoutbox, django_capture_on_commit_callbacks):
    stock("datacenter", "DE", 3)
    StockThreshold.objects.create(type="datacenter", country="DE", minimum=5)
    with django_capture_on_commit_callbacks(execute=True):
        assert stock_thresholds_check() == {"low": ["datacenter DE"], "recovered": []}
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ops@example.com"]
    assert "Low stock: datacenter DE (3 left)" in mailoutbox[0].subject
    assert "datacenter DE: 3 can be sold, threshold 5" in mailoutbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        assert check_stock_thresholds.delay().get() == {"low": [], "recovered": []}  # still low: no second e-mail
    assert len(mailoutbox) == 1
    stock("datacenter", "DE", 2, start=9)
    with django_capture_on_commit_callbacks(execute=True):
        assert stock_thresholds_check() == {"low": [], "recovered": ["datacenter DE"]}
    assert StockThreshold.objects.get().alerted_at is None and len(mailoutbox) == 1
    InventoryProxy.objects.filter(host__startswith="203.0.9.").update(status="disabled")
    with django_capture_on_commit_callbacks(execute=True):
        stock_thresholds_check()
    assert len(mailoutbox) == 2  # below again after recovering: told again


def test_stock_thresholds_are_set_in_the_admin(client, staff):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    response = client.post("/admin/orders/stockthreshold/add/", {"type": "isp", "country": "us", "minimum": "10"})
    assert response.status_code == 302
    assert StockThreshold.objects.get().country == "US"
    assert client.get("/admin/orders/stockthreshold/").status_code == 200

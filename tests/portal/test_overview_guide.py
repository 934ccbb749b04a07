"""Overview: the getting-started checklist, the alerts and the 30-day traffic chart."""

from datetime import UTC, timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import Membership, Role, User
from apikeys.models import ApiKey
from apikeys.services import apikey_revoke
from billing.models import Deposit, DepositAddress
from billing.services import ledger_post
from orders.models import Order, OrderStatus
from orders.residential import services as residential
from portal.overview import alerts, checklist, overview_summary, traffic_chart
from tests.conftest import PASSWORD, dashboard_client
from tests.orders.residential.subuser_fixtures import (
    datacenter_order,
    deliver,
    record,
    residential_order,
)

ALL_RIGHTS = {"operate": True, "manage_keys": True}


def _steps(account, user):
    return {s.key: s.done for s in checklist(account=account, user=user, role_can=ALL_RIGHTS)}


def test_checklist_ticks_off_each_step_as_it_is_done(owner, account, make_key):
    EmailAddress.objects.filter(user=owner).update(verified=False)
    assert _steps(account, owner) == dict.fromkeys(
        ("verify_email", "top_up", "first_order", "first_key", "first_subuser"), False
    )
    EmailAddress.objects.filter(user=owner).update(verified=True)
    ledger_post(account=account, type="deposit", amount=Decimal("20"), reference="t-1", description="top-up")
    assert _steps(account, owner)["verify_email"] and _steps(account, owner)["top_up"]

    order = residential_order(account, gb="5")
    make_key(account, scopes=["geo:read"])
    proxy = residential.subuser_create(account=account, order_id=order.public_id, name="first")
    assert all(_steps(account, owner).values())
    # A revoked key or a deleted sub-user does not un-tick a step: it was taken.
    apikey_revoke(account=account, key_id=ApiKey.objects.get().public_id, revoked_by=owner)
    residential.subuser_delete(account=account, public_id=proxy.public_id)
    assert all(_steps(account, owner).values())


def test_an_operators_credit_counts_as_a_top_up_but_a_debit_does_not(owner, account):
    ledger_post(account=account, type="adjustment", amount=Decimal("5"), reference="t-1", description="gift")
    assert _steps(account, owner)["top_up"]


def test_the_checklist_disappears_once_every_step_is_done(owner, account, make_key):
    summary = overview_summary(account=account, user=owner, role_can=ALL_RIGHTS)
    assert summary["checklist"] and summary["checklist_done"] == 1  # the e-mail is verified
    ledger_post(account=account, type="deposit", amount=Decimal("20"), reference="t-1", description="top-up")
    order = residential_order(account, gb="5")
    make_key(account)
    residential.subuser_create(account=account, order_id=order.public_id, name="first")
    summary = overview_summary(account=account, user=owner, role_can=ALL_RIGHTS)
    assert summary["checklist"] == [] and summary["checklist_done"] == 5
    html = dashboard_client(owner, account).get("/").content.decode()
    assert "Getting started" not in html


def test_the_page_shows_open_steps_with_links_and_done_steps_ticked(owner, account):
    html = dashboard_client(owner, account).get("/").content.decode()
    assert "Getting started" in html and "1 of 5 steps done" in html
    assert 'data-step="verify_email" data-done="true"' in html
    assert 'data-step="top_up" data-done="false"' in html
    assert 'href="/keys/?create=1">Create API key</a>' in html


def test_a_viewer_sees_the_steps_without_links_to_what_the_role_cannot_do(account):
    viewer = User.objects.create_user(email="viewer@example.com", password=PASSWORD)
    Membership.objects.create(user=viewer, account=account, role=Role.VIEWER)
    html = dashboard_client(viewer, account).get("/").content.decode()
    assert "Create an API key" in html
    assert "/keys/" not in html and "?create=1" not in html


def test_chart_has_every_day_of_the_last_30_with_zeros(owner, account):
    order = residential_order(account, gb="100")
    proxy = residential.subuser_create(account=account, order_id=order.public_id, name="alpha")
    today = timezone.now().astimezone(UTC).date()
    two_days_ago = (today - timedelta(days=2)).isoformat()
    deliver([
        record(proxy.username, 1_500_000_000, 500_000_000, period_start=f"{two_days_ago}T10:00:00Z"),
        record(proxy.username, 40_000_000, 0, period_start=f"{today.isoformat()}T00:30:00Z"),
        record(proxy.username, 7, 7, period_start=f"{(today - timedelta(days=40)).isoformat()}T10:00:00Z"),
    ])
    chart = traffic_chart(account=account, today=today)
    assert len(chart["labels"]) == 30
    assert chart["labels"][0] == (today - timedelta(days=29)).isoformat() and chart["labels"][-1] == today.isoformat()
    data = chart["datasets"][0]["data"]
    assert data[-3] == 2.0 and data[-1] == 0.04
    assert data.count(0) == 28
    assert chart["total_bytes"] == 2_040_000_000 and chart["total_gb"] == "2.04"


def test_chart_of_an_account_without_traffic_is_thirty_zeros(owner, account):
    chart = traffic_chart(account=account)
    assert chart["datasets"][0]["data"] == [0] * 30


def test_alert_for_orders_expiring_within_seven_days(account):
    now = timezone.now()
    soon = datacenter_order(account)
    Order.objects.filter(pk=soon.pk).update(expires_at=now + timedelta(days=3, hours=2))
    later = datacenter_order(account)
    Order.objects.filter(pk=later.pk).update(expires_at=now + timedelta(days=8))
    found = [a for a in alerts(account=account, active_orders=2, now=now) if a.kind == "expiring"]
    assert len(found) == 1
    assert soon.public_id in found[0].message and "expires in 3 days" in found[0].message
    assert found[0].url == f"/orders/{soon.public_id}/"


def test_alert_for_residential_traffic_under_ten_percent(account):
    low = residential_order(account, gb="10")
    Order.objects.filter(pk=low.pk).update(traffic_used_gb=Decimal("9.5"))
    fine = residential_order(account, gb="10")
    Order.objects.filter(pk=fine.pk).update(traffic_used_gb=Decimal("8.9"))
    found = [a for a in alerts(account=account, active_orders=2) if a.kind == "low_traffic"]
    assert len(found) == 1
    assert low.public_id in found[0].message and "0.50 GB of 10.00 GB" in found[0].message and "(5.0 %)" in found[0].message


def test_alert_for_pending_deposits_with_confirmations_and_amount(account, settings):
    settings.DEPOSIT_CONFIRMATIONS = {**settings.DEPOSIT_CONFIRMATIONS, "TRX": 20}
    address = DepositAddress.objects.create(
        account=account, currency="USDT", network="TRC20", chain="TRX", key_id="k", derivation_path="0/0",
        derivation_index=0, address="TXyz",
    )
    Deposit.objects.create(
        account=account, address=address, currency="USDT", network="TRC20", txid="ab", vout=0,
        amount=Decimal("1250.5"), amount_usd=Decimal("1250.50"), confirmations=3,
    )
    found = [a for a in alerts(account=account, active_orders=0) if a.kind == "pending_deposit"]
    assert len(found) == 1
    assert "3 of 20 confirmations" in found[0].message
    assert "1,250.5 USDT" in found[0].message and "1250.50 USD" in found[0].message


def test_low_balance_alert_uses_the_accounts_threshold(account):
    ledger_post(account=account, type="deposit", amount=Decimal("4"), reference="t-1", description="top-up")
    account.refresh_from_db()
    account.low_balance_threshold = Decimal("10.00")
    found = alerts(account=account, active_orders=0)
    assert found[0].kind == "low_balance" and "4.00 USD, under the 10.00 USD" in found[0].message
    account.low_balance_threshold = Decimal("3.00")
    assert not [a for a in alerts(account=account, active_orders=0) if a.kind == "low_balance"]


def test_empty_balance_with_active_orders_is_an_alert_without_a_threshold(account):
    account.low_balance_threshold = None
    assert alerts(account=account, active_orders=1)[0].kind == "low_balance"
    assert not alerts(account=account, active_orders=0)


def test_overview_page_shows_alerts_and_quick_actions(owner, account):
    order = datacenter_order(account)
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() + timedelta(days=1, hours=1))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ACTIVE
    html = dashboard_client(owner, account).get("/").content.decode()
    assert 'data-alert="expiring"' in html and order.public_id in html
    assert 'data-alert="low_balance"' in html
    for action in ("New order", "Top up", "Create API key", "API documentation"):
        assert action in html
    assert 'id="overview-traffic-data"' in html

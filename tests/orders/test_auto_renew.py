"""Auto-renew: PATCH /orders/{id}, the renewal a day before expiry (exactly once per period),
a short balance told once and retried hourly, and the expiry notices at 7 days and 1 day."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from billing.models import LedgerEntry
from orders import pricing
from orders.models import Order, PriceRule
from orders.services import order_extend, order_renew, orders_send_expiry_reminders
from orders.tasks import renew_orders
from tests.events import conftest as webhook_fixtures
from tests.events.conftest import ALL_EVENTS
from tests.orders.conftest import OnCommitClient, add_stock, balance, fund

pytestmark = pytest.mark.django_db

receiver, webhook_settings = webhook_fixtures.receiver, webhook_fixtures.webhook_settings  # fixtures

EVENTS = [*ALL_EVENTS, "order.renewed", "order.renewal_failed"]


@pytest.fixture
def orders_api(api, account, make_key, django_capture_on_commit_callbacks):
    return OnCommitClient(api(make_key(account, scopes=["orders:read", "orders:write"])),
                          django_capture_on_commit_callbacks)


@pytest.fixture
def hook(account, receiver):
    from events.services import endpoint_create

    endpoint = endpoint_create(account=account, url=receiver.url, events=EVENTS)
    receiver.secret = endpoint.secret
    return endpoint


def _active_order(account, orders_api, *, quantity=2, period=30, funds=100) -> Order:
    fund(account, funds)
    add_stock(count=quantity + 1)
    placed = orders_api.post("orders", {"type": "datacenter", "quantity": quantity, "period": period, "country": "DE"})
    assert placed.status_code == 201, placed.json_body
    order = Order.objects.get(public_id=placed.json_body["data"]["id"])
    assert order.status == "active"
    return order


def _expiring_in(order, hours: float) -> Order:
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() + timedelta(hours=hours))
    order.refresh_from_db()
    return order


def _charges(order) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(order_public_id=order.public_id, type="charge").order_by("id"))


# --- PATCH /orders/{id} ----------------------------------------------------------------------------


def test_patch_turns_auto_renew_on_and_off_and_get_shows_it(account, orders_api):
    order = _active_order(account, orders_api)
    assert orders_api.get(f"orders/{order.public_id}").json_body["data"]["auto_renew"] is False
    on = orders_api.patch(f"orders/{order.public_id}", {"auto_renew": True})
    assert on.status_code == 200, on.json_body
    assert on.json_body["data"]["auto_renew"] is True and on.json_body["data"]["id"] == order.public_id
    assert orders_api.get(f"orders/{order.public_id}").json_body["data"]["auto_renew"] is True
    assert orders_api.get("orders").json_body["data"][0]["auto_renew"] is True
    off = orders_api.patch(f"orders/{order.public_id}", {"auto_renew": False})
    assert off.status_code == 200 and off.json_body["data"]["auto_renew"] is False


@pytest.mark.parametrize("body", [{}, {"auto_renew": "yes"}, {"auto_renew": 1}, {"auto_renew": None}])
def test_patch_refuses_anything_but_a_boolean(account, orders_api, body):
    order = _active_order(account, orders_api)
    response = orders_api.patch(f"orders/{order.public_id}", body)
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"
    assert "auto_renew" in response.json_body["meta"]["fields"]
    assert Order.objects.get(pk=order.pk).auto_renew is False


def test_patch_refuses_a_non_object_body(account, orders_api):
    order = _active_order(account, orders_api)
    response = orders_api.patch(f"orders/{order.public_id}", [True])
    assert response.status_code == 400 and response.json_body["error_type"] in {"bad_request", "validation_error"}


def test_residential_and_ended_orders_do_not_renew(account, orders_api):
    fund(account, 100)
    residential = orders_api.post("orders", {"type": "residential", "quantity": 1}).json_body["data"]
    refused = orders_api.patch(f"orders/{residential['id']}", {"auto_renew": True})
    assert refused.status_code == 409 and refused.json_body["error_type"] == "conflict"
    assert "traffic" in refused.json_body["error"]
    order = _active_order(account, orders_api)
    Order.objects.filter(pk=order.pk).update(status="expired")
    refused = orders_api.patch(f"orders/{order.public_id}", {"auto_renew": True})
    assert refused.status_code == 409 and "expired" in refused.json_body["error"]
    assert orders_api.patch(f"orders/{order.public_id}", {"auto_renew": False}).status_code == 200


def test_patch_needs_orders_write_and_sees_only_the_tenants_orders(account, outsider_account, orders_api, api, make_key):
    order = _active_order(account, orders_api)
    reader = api(make_key(account, scopes=["orders:read"]))
    refused = reader.patch(f"orders/{order.public_id}", {"auto_renew": True})
    assert refused.status_code == 403 and refused.json_body["error_type"] == "insufficient_scope"
    stranger = api(make_key(outsider_account, scopes=["orders:read", "orders:write"]))
    assert stranger.patch(f"orders/{order.public_id}", {"auto_renew": True}).status_code == 404
    assert Order.objects.get(pk=order.pk).auto_renew is False


# --- the renewal ---------------------------------------------------------------------------------


def test_due_order_is_renewed_once_for_its_period_at_todays_price(
    account, orders_api, hook, receiver, django_capture_on_commit_callbacks,
):
    order = _active_order(account, orders_api)
    orders_api.patch(f"orders/{order.public_id}", {"auto_renew": True})
    PriceRule.objects.filter(proxy_type__code="datacenter").update(unit_price=Decimal("2.00"))
    expected = pricing.quote(type="datacenter", quantity=2, period=30, country="DE").total
    order = _expiring_in(order, 20)
    old_expiry, before = order.expires_at, balance(account)
    with django_capture_on_commit_callbacks(execute=True):
        assert renew_orders() == {"renewed": 1}
        assert renew_orders() == {}  # no longer due: a second beat renews nothing
        assert order_renew(order_pk=order.pk) == "not_due"  # nor does a retried task
    order.refresh_from_db()
    assert order.expires_at == old_expiry + timedelta(days=30)
    assert order.status == "active" and order.extension_count == 1
    renewal = _charges(order)[-1]
    assert len(_charges(order)) == 2 and renewal.amount == -expected
    assert renewal.description.startswith("Renewal by 30 days")
    assert balance(account) == before - expected
    renewed = [e for e in receiver.events() if e["type"] == "order.renewed"]
    assert len(renewed) == 1
    assert renewed[0]["data"] == orders_api.get(f"orders/{order.public_id}").json_body["data"]


def test_not_due_when_more_than_a_day_away_or_turned_off(account, orders_api):
    order = _active_order(account, orders_api)
    _expiring_in(order, 20)
    assert renew_orders() == {}  # auto-renew is off
    orders_api.patch(f"orders/{order.public_id}", {"auto_renew": True})
    _expiring_in(order, 25)
    assert renew_orders() == {}
    assert len(_charges(order)) == 1


def test_renews_for_the_last_period(account, orders_api):
    order = _active_order(account, orders_api)
    order_extend(account=account, order_id=order.public_id, period=7)
    orders_api.patch(f"orders/{order.public_id}", {"auto_renew": True})
    order = _expiring_in(order, 10)
    expiry = order.expires_at
    assert order_renew(order_pk=order.pk) == "renewed"
    order.refresh_from_db()
    assert order.expires_at == expiry + timedelta(days=7)
    assert order.extensions.order_by("number").last().period_days == 7


def test_short_balance_is_told_once_and_retried_hourly_until_it_renews(
    account, orders_api, hook, receiver, django_capture_on_commit_callbacks, owner,
):
    order = _active_order(account, orders_api, funds="3.00")  # exactly the first order: nothing left
    orders_api.patch(f"orders/{order.public_id}", {"auto_renew": True})
    order = _expiring_in(order, 20)
    expiry = order.expires_at
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert renew_orders() == {"failed": 1}
        assert renew_orders() == {}  # within the hour: not tried again
    order.refresh_from_db()
    assert order.expires_at == expiry and order.renewal_failed_at is not None
    assert len(_charges(order)) == 1
    failed = [e for e in receiver.events() if e["type"] == "order.renewal_failed"]
    assert len(failed) == 1 and failed[0]["data"]["id"] == order.public_id
    assert len(mail.outbox) == 1 and order.public_id in mail.outbox[0].subject
    assert owner.email in mail.outbox[0].to and "Top up" in mail.outbox[0].body

    an_hour_later = timezone.now() + timedelta(hours=1, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert order_renew(order_pk=order.pk, now=an_hour_later) == "failed"  # still short: silent retry
    assert len([e for e in receiver.events() if e["type"] == "order.renewal_failed"]) == 1
    assert len(mail.outbox) == 1

    fund(account, 10)
    two_hours_later = an_hour_later + timedelta(hours=1, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert order_renew(order_pk=order.pk, now=two_hours_later) == "renewed"
    order.refresh_from_db()
    assert order.expires_at == expiry + timedelta(days=30) and order.renewal_failed_at is None
    assert [e["type"] for e in receiver.events()][-1] == "order.renewed"


def test_an_expired_order_is_not_renewed(account, orders_api):
    order = _active_order(account, orders_api)
    orders_api.patch(f"orders/{order.public_id}", {"auto_renew": True})
    order = _expiring_in(order, 1)
    assert order_renew(order_pk=order.pk, now=order.expires_at + timedelta(minutes=1)) == "not_due"
    assert len(_charges(order)) == 1


# --- notices before expiry ------------------------------------------------------------------------


def test_expiring_event_at_seven_days_and_one_day_and_mail_at_three_and_one(
    account, orders_api, hook, receiver, django_capture_on_commit_callbacks, owner,
):
    order = _active_order(account, orders_api)
    now = timezone.now()
    expiring = lambda: [e for e in receiver.events() if e["type"] == "order.expiring"]  # noqa: E731
    mail.outbox.clear()
    _expiring_in(order, 24 * 6.5)
    with django_capture_on_commit_callbacks(execute=True):
        orders_send_expiry_reminders(now=now)
        orders_send_expiry_reminders(now=now)
    assert len(expiring()) == 1 and mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        orders_send_expiry_reminders(now=now + timedelta(days=4))  # 2.5 days left: the e-mail only
    assert len(expiring()) == 1 and len(mail.outbox) == 1 and "3 days" in mail.outbox[0].subject
    with django_capture_on_commit_callbacks(execute=True):
        orders_send_expiry_reminders(now=now + timedelta(days=6))  # half a day left
        orders_send_expiry_reminders(now=now + timedelta(days=6, hours=1))
    assert len(expiring()) == 2 and len(mail.outbox) == 2 and "1 day" in mail.outbox[1].subject
    assert expiring()[1]["data"]["id"] == order.public_id


def test_an_auto_renewing_order_skips_the_one_day_notice(account, orders_api, hook, receiver,
                                                       django_capture_on_commit_callbacks):
    order = _active_order(account, orders_api)
    orders_api.patch(f"orders/{order.public_id}", {"auto_renew": True})
    _expiring_in(order, 12)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        orders_send_expiry_reminders()
    assert [e for e in receiver.events() if e["type"] == "order.expiring"] == [] and mail.outbox == []

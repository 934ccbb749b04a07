"""The `upstream` provider's pricing and placement state machine, with a stand-in for the client
(the real client against a real portal is tested in tests/upstream/)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from billing.models import LedgerEntry
from core.errors import UpstreamError
from orders import services
from orders.models import Order, OrderStatus, ProxyType, UpstreamBalanceCheck, UpstreamCallFailure
from orders.providers import ProvisioningPending
from orders.providers import upstream as upstream_provider
from orders.providers.upstream import with_markup
from orders.providers.upstream_client import (
    UpstreamAccount,
    UpstreamCountry,
    UpstreamOrder,
    UpstreamPeriod,
    UpstreamProxy,
    UpstreamQuote,
)
from orders.tasks import check_upstream_balance, provision_order, sweep_upstream_orders

from .conftest import balance, fund

pytestmark = pytest.mark.django_db
ISP = {"type": "isp", "quantity": 2, "period": 30, "country": "US"}


class FakeUpstream:
    """Answers as `UpstreamClient` would; `fail[method]` raises that error on the next calls."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.fail: dict[str, UpstreamError] = {}
        self.orders: dict[str, UpstreamOrder] = {}
        self.by_key: dict[str, str] = {}
        self.activate_after = 0  # polls answered "pending" before the order is active
        self.balance = Decimal("500.00")

    def _call(self, name, *args, **kwargs):
        self.calls.append((name, args, kwargs))
        if name in self.fail:
            raise self.fail[name]

    def periods(self):
        self._call("periods")
        return [UpstreamPeriod(days=d, label=f"{d} days") for d in (7, 30)]

    def countries(self, *, type):  # noqa: A002
        self._call("countries", type=type)
        return [UpstreamCountry(code="US", name="United States", types=(type,))]

    def calc(self, *, type, quantity, period=None, country=None):  # noqa: A002
        self._call("calc", type=type, quantity=quantity, period=period, country=country)
        unit = Decimal("1.01") * (period or 30) / 30
        subtotal = unit * int(quantity)
        return UpstreamQuote(type=type, quantity=Decimal(quantity), period=period, country=country,
                             unit_price=unit, subtotal=subtotal, discount=Decimal("0"), total=subtotal, currency="USD")

    def place_order(self, *, idempotency_key, **body):
        self._call("place_order", idempotency_key=idempotency_key, **body)
        if idempotency_key not in self.by_key:
            oid = f"ord_up{len(self.orders) + 1}"
            self.by_key[idempotency_key] = oid
            now = datetime.now(UTC)
            self.orders[oid] = UpstreamOrder(
                id=oid, type=body["type"], quantity=Decimal(body["quantity"]), period=body["period"],
                country=body["country"], status="pending", total=Decimal("2.02"), currency="USD", created_at=now,
                activated_at=None, expires_at=None, proxy_count=0, traffic_gb=None, traffic_used_gb=None,
                failure_reason="")
        return self.orders[self.by_key[idempotency_key]]

    def order(self, order_id):
        self._call("order", order_id)
        if self.activate_after > 0:
            self.activate_after -= 1
        elif self.orders[order_id].status == "pending":
            self.orders[order_id] = replace(self.orders[order_id], status="active")
        return self.orders[order_id]

    def order_proxies(self, order_id):
        self._call("order_proxies", order_id)
        count = int(self.orders[order_id].quantity)
        return [UpstreamProxy(host="198.51.100.7", port=9000 + i, username=f"up{i}", password=f"pw{i}",
                              protocol="http", country="US") for i in range(count)]

    def extend_order(self, order_id, *, period, idempotency_key=None):
        self._call("extend_order", order_id, period=period, idempotency_key=idempotency_key)
        return self.orders[order_id]

    def account(self):
        self._call("account")
        return UpstreamAccount(id="acc_b", name="B at A", email="b@example.com", balance=self.balance,
                               currency="USD", tier="free")


@pytest.fixture
def fake(settings, monkeypatch):
    fake = FakeUpstream()
    settings.ORDER_PROVIDERS_BY_TYPE = {"isp": "upstream"}
    settings.UPSTREAM_API_URL = "http://127.0.0.1:9/api/v1"
    settings.UPSTREAM_API_KEY = "k"
    settings.UPSTREAM_MARKUP_PERCENT = Decimal("30")
    monkeypatch.setattr(upstream_provider, "_client", lambda: fake)
    return fake


@pytest.fixture
def staff(db):
    return User.objects.create_user("ops@example.com", "pw-Secret-123", is_staff=True)


def no_answer(status=None, error_type="unreachable", retry_after=None):
    return UpstreamError("The upstream seller did not answer POST /orders: cannot connect (http://127.0.0.1:9).",
                         upstream_status=status, upstream_error_type=error_type, retry_after=retry_after,
                         upstream_message="raw upstream text" if status else "")


def place(account, **body):
    with_defaults = {**ISP, **body}
    return services.order_place(account=account, **with_defaults)


# --- prices ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cost", "percent", "price"), [
    ("10.00", "30", "13.00"), ("1.01", "30", "1.32"), ("2.02", "30", "2.63"), ("0.01", "30", "0.02"),
    ("5.00", "0", "5.00"), ("3.33", "12.5", "3.75"),
])
def test_the_markup_is_added_and_rounded_up_to_the_cent(cost, percent, price):
    assert with_markup(Decimal(cost), Decimal(percent)) == Decimal(price)


def test_calc_of_an_upstream_type_is_the_upstreams_total_plus_markup(fake, api, order_key):
    answer = api(order_key).post("orders/calc", ISP).json_body["data"]
    assert answer["total"] == "2.63" and answer["unit_price"] == "1.32"  # 2.02 and 1.01, plus 30 %, up
    assert fake.calls[-1] == ("calc", (), {"type": "isp", "quantity": 2, "period": 30, "country": "US"})
    ProxyType.objects.filter(code="isp").update(markup_percent=Decimal("50"))
    ProxyType.objects.get(code="isp").save()
    assert api(order_key).post("orders/calc", ISP).json_body["data"]["total"] == "3.03"
    # a type the upstream does not supply keeps the price rules
    dc = api(order_key).post("orders/calc", {**ISP, "type": "datacenter"}).json_body["data"]
    assert dc["total"] == "3.00" and fake.calls[-1][0] == "calc" and len(fake.calls) == 4


def test_periods_and_countries_of_an_upstream_type_are_the_upstreams_and_cached(fake, api, order_key):
    client = api(order_key)
    refused = client.post("orders/calc", {**ISP, "period": 90, "country": "DE"})
    assert refused.status_code == 400
    fields = refused.json_body["meta"]["fields"]
    assert fields["period"] == ["Must be one of the orderable periods in days: 7, 30."]
    assert "not available for ISP" in fields["country"][0]
    assert client.post("orders/calc", {**ISP, "period": 7}).status_code == 200
    assert [c[0] for c in fake.calls].count("periods") == 1  # from the cache the second time


def test_an_unreachable_upstream_answers_502_and_charges_nothing(fake, api, order_key, account, committing):
    fund(account, "50")
    fake.fail["periods"] = no_answer()
    client = committing(api(order_key))
    for path in ("orders/calc", "orders"):
        answer = client.post(path, ISP)
        assert answer.status_code == 502 and answer.json_body["error_type"] == "upstream_error"
        assert "cannot be reached" in answer.json_body["error"] and "127.0.0.1" not in answer.json_body["error"]
    assert balance(account) == Decimal("50.00") and not Order.objects.exists()
    assert UpstreamCallFailure.objects.filter(operation="reference").exists()


# --- placement ------------------------------------------------------------------------------------


def test_an_order_is_placed_once_and_activated_with_the_upstreams_proxies(fake, account):
    fund(account, "50")
    order = place(account)
    assert (order.provider, order.status, order.total) == ("upstream", "pending", Decimal("2.63"))
    with pytest.raises(ProvisioningPending):
        services.order_provision(order=order)  # placed, still pending upstream
    order.refresh_from_db()
    assert order.provider_ref == "ord_up1" and order.provider_cost == Decimal("2.02") and order.margin == Decimal("0.61")
    assert services.order_provision(order=order).status == OrderStatus.ACTIVE
    assert [c[0] for c in fake.calls].count("place_order") == 1  # the second turn only polled
    place_call = next(c for c in fake.calls if c[0] == "place_order")
    assert place_call[2] == {"idempotency_key": order.public_id, "type": "isp", "quantity": 2, "period": 30,
                             "country": "US"}
    order.refresh_from_db()
    assert [(p.host, p.port, p.username, p.password) for p in order.proxies.order_by("port")] == [
        ("198.51.100.7", 9000, "up0", "pw0"), ("198.51.100.7", 9001, "up1", "pw1")]
    assert order.expires_at is not None


def test_the_task_schedules_itself_again_while_the_upstream_is_not_done(fake, account, monkeypatch, settings):
    fund(account, "50")
    order = place(account)
    later = []
    monkeypatch.setattr(provision_order, "apply_async", lambda args, countdown: later.append((args, countdown)))
    fake.fail["place_order"] = no_answer(status=429, error_type="rate_limited", retry_after=7)
    assert provision_order(order.pk) == "pending"
    assert later == [((order.pk,), 7)]  # waits at least as long as the upstream asked
    del fake.fail["place_order"]
    fake.activate_after = 5
    assert provision_order(order.pk) == "pending"
    assert 0.5 <= later[-1][1] <= 15
    settings.UPSTREAM_SWEEP_STALE_S = 4
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(seconds=200))
    assert provision_order(order.pk) == "pending"
    assert later[-1][1] == 2  # a live chain looks again before the sweep would take it for dead


@pytest.mark.parametrize(("error", "reason"), [
    (no_answer(402, "insufficient_funds"), "could not fill this order right now"),
    (no_answer(400, "validation_error"), "refused this order"),
])
def test_a_refusal_fails_the_order_refunds_it_and_emails_the_staff_once(
        fake, account, staff, error, reason, django_capture_on_commit_callbacks):
    fund(account, "50")
    order = place(account)
    fake.fail["place_order"] = error
    with django_capture_on_commit_callbacks(execute=True):
        assert services.order_provision(order=order).status == OrderStatus.FAILED
    order.refresh_from_db()
    assert reason in order.failure_reason and "refunded" in order.failure_reason
    assert "raw upstream text" not in order.failure_reason and "127.0.0.1" not in order.failure_reason
    assert balance(account) == Decimal("50.00")
    assert LedgerEntry.objects.filter(reference=f"order:{order.public_id}:refund").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.order_provision(order=order)  # run again: nothing more
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ops@example.com"]
    assert order.public_id in mail.outbox[0].subject and error.upstream_error_type in mail.outbox[0].body
    failure = UpstreamCallFailure.objects.get(order=order)
    assert (failure.operation, failure.upstream_status, failure.message) == (
        "place_order", error.upstream_status, "raw upstream text")


def test_no_success_before_the_deadline_fails_the_order(fake, account, settings):
    settings.UPSTREAM_PLACE_DEADLINE_S = 300
    fund(account, "50")
    order = place(account)
    fake.fail["place_order"] = no_answer(503, "unavailable")
    with pytest.raises(ProvisioningPending):
        services.order_provision(order=order)
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(seconds=301))
    assert services.order_provision(order=order).status == OrderStatus.FAILED
    order.refresh_from_db()
    assert "did not deliver this order within 5 minutes" in order.failure_reason
    assert balance(account) == Decimal("50.00")


def test_an_order_placed_upstream_is_finished_even_past_the_deadline(fake, account):
    fund(account, "50")
    order = place(account)
    with pytest.raises(ProvisioningPending):
        services.order_provision(order=order)  # placed: pending there
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert services.order_provision(order=order).status == OrderStatus.ACTIVE  # paid upstream: delivered


def test_the_sweep_drives_stale_pending_upstream_orders_again(fake, account, settings, monkeypatch):
    settings.UPSTREAM_SWEEP_STALE_S = 60
    fund(account, "50")
    fresh, stale, looked_at = place(account), place(account), place(account)
    old = timezone.now() - timedelta(seconds=61)
    Order.objects.filter(pk=stale.pk).update(created_at=old)
    Order.objects.filter(pk=looked_at.pk).update(created_at=old, provider_checked_at=timezone.now())
    driven = []
    monkeypatch.setattr(provision_order, "delay", driven.append)
    assert sweep_upstream_orders() == 1 and driven == [stale.pk]
    assert fresh.status == "pending"


# --- extension ----------------------------------------------------------------------------------------


def test_extend_goes_upstream_first_and_charges_only_when_it_succeeded(fake, account, api, order_key, committing):
    fund(account, "50")
    order = place(account)
    with pytest.raises(ProvisioningPending):
        services.order_provision(order=order)
    services.order_provision(order=order)
    client = committing(api(order_key))
    fake.fail["extend_order"] = no_answer(500, "server_error")
    before, ends = balance(account), Order.objects.get(pk=order.pk).expires_at
    refused = client.post(f"orders/{order.public_id}/extend", {"period": 30})
    assert refused.status_code == 502 and refused.json_body["error_type"] == "upstream_error"
    assert balance(account) == before and Order.objects.get(pk=order.pk).expires_at == ends
    del fake.fail["extend_order"]
    assert client.post(f"orders/{order.public_id}/extend", {"period": 30}).status_code == 200
    assert fake.calls[-1] == ("extend_order", ("ord_up1",), {"period": 30,
                                                            "idempotency_key": f"{order.public_id}:extend:1"})
    assert balance(account) == before - Decimal("2.63")
    extension = Order.objects.get(pk=order.pk).extensions.get()
    assert (extension.total, extension.provider_cost) == (Decimal("2.63"), Decimal("2.02"))


# --- the upstream balance ------------------------------------------------------------------------------


def test_a_low_upstream_balance_emails_the_staff_once_a_day(fake, staff, settings):
    settings.UPSTREAM_LOW_BALANCE_USD = Decimal("50")
    assert check_upstream_balance() == "500.00 USD"
    fake.balance = Decimal("12.50")
    assert check_upstream_balance() == "12.50 USD (alerted)"
    assert check_upstream_balance() == "12.50 USD"
    assert len(mail.outbox) == 1 and "12.50" in mail.outbox[0].subject
    UpstreamBalanceCheck.objects.update(checked_at=timezone.now() - timedelta(days=1, minutes=1))
    assert check_upstream_balance() == "12.50 USD (alerted)"
    assert len(mail.outbox) == 2
    settings.ORDER_PROVIDERS_BY_TYPE = {}
    assert check_upstream_balance() == "unused"


# --- the operator's view ---------------------------------------------------------------------------------


def test_the_admin_shows_cost_price_margin_failed_calls_balance_and_the_provider_per_type(fake, account):
    from django.test import Client

    operator = Client()
    operator.force_login(User.objects.create_superuser(email="root@example.com", password="root-Password-123"))
    fund(account, "50")
    order = place(account)
    with pytest.raises(ProvisioningPending):
        services.order_provision(order=order)
    services.order_provision(order=order)
    page = operator.get("/admin/orders/order/").content.decode()
    assert "2.63" in page and "2.02" in page and "0.61" in page  # price, cost, margin
    assert "2.63 / 2.02 / 0.61" in operator.get(f"/admin/orders/order/{order.pk}/change/").content.decode()

    record = UpstreamCallFailure.objects.create(operation="place_order", order=order, upstream_status=402,
                                                error_type="insufficient_funds", message="Balance too low.")
    failures = operator.get("/admin/orders/upstreamcallfailure/").content.decode()
    assert "insufficient_funds" in failures and "Balance too low." in failures and str(record.upstream_status) in failures
    assert "k" not in {f.name for f in UpstreamCallFailure._meta.fields}

    types = operator.get("/admin/orders/proxytype/").content.decode()
    assert "Balance at the upstream seller (B at A): 500.00 USD." in types
    assert "Supplied now by" in types
    changed = operator.post("/admin/orders/proxytype/", {
        "form-TOTAL_FORMS": "5", "form-INITIAL_FORMS": "5", "_save": "Save",
        **{f"form-{i}-{field}": value for i, t in enumerate(ProxyType.objects.all())
           for field, value in {"id": t.pk, "name": t.name, "min_quantity": t.min_quantity, "max_quantity": t.max_quantity,
                                "is_active": "on", "sort_order": t.sort_order,
                                "provider": "upstream" if t.code == "mobile" else t.provider,
                                "markup_percent": "45" if t.code == "mobile" else ""}.items()},
    })
    assert changed.status_code == 302, changed.content.decode()[:2000]
    mobile = ProxyType.objects.get(code="mobile")
    assert (mobile.provider, mobile.markup_percent) == ("upstream", Decimal("45"))
    from orders.providers import provider_name_for_type

    assert provider_name_for_type("mobile") == "upstream"


def test_the_admin_refuses_an_upstream_type_without_an_upstream(settings):
    from django.core.exceptions import ValidationError

    settings.UPSTREAM_API_URL = ""
    isp = ProxyType.objects.get(code="isp")
    isp.provider = "upstream"
    with pytest.raises(ValidationError, match="UPSTREAM_API_URL"):
        isp.full_clean()

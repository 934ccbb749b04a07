from decimal import Decimal

import pytest

from billing.models import LedgerEntry
from orders.models import InventoryProxy, Order, OrderProxy

from .conftest import add_stock, balance, charges, free_stock, fund

pytestmark = pytest.mark.django_db


def test_calc_total_equals_the_charge_of_the_placed_order(account, client_for):
    fund(account, "100.00")
    add_stock("datacenter", "DE", 12)
    body = {"type": "datacenter", "quantity": 10, "period": 30, "country": "DE"}
    calc = client_for.post("orders/calc", body)
    assert calc.status_code == 200, calc.json_body
    data = calc.json_body["data"]
    assert data == {
        "type": "datacenter", "quantity": 10, "period": 30, "country": "DE", "unit_price": "1.50",
        "subtotal": "15.00", "discount": "0.75", "total": "14.25", "currency": "USD",
    }
    placed = client_for.post("orders", body)
    assert placed.status_code == 201, placed.json_body
    order = placed.json_body["data"]
    assert order["id"].startswith("ord_")
    assert order["total"] == data["total"]
    charge = charges(account).get()
    assert charge.amount == -Decimal(data["total"])
    assert charge.reference == f"order:{order['id']}:charge"
    assert balance(account) == Decimal("85.75")


def test_the_placement_answer_is_the_order_as_stored(account, api, order_key):
    """POST /orders answers from the order it created; every field matches a fresh read."""
    fund(account, "50")
    add_stock("datacenter", "DE", 5)
    placed = api(order_key).post("orders", {"type": "datacenter", "quantity": 3, "period": 7, "country": "DE"})
    assert placed.status_code == 201
    data = placed.json_body["data"]
    assert data["status"] == "pending" and data["proxy_count"] == 0  # provisioning waits for the commit
    stored = api(order_key).get(f"orders/{data['id']}").json_body["data"]
    assert stored == data
    residential = api(order_key).post("orders", {"type": "residential", "quantity": "2.5"}).json_body["data"]
    assert api(order_key).get(f"orders/{residential['id']}").json_body["data"] == residential


def test_placed_inventory_order_becomes_active_with_its_proxies(account, client_for):
    fund(account, "50")
    add_stock("datacenter", "DE", 5)
    placed = client_for.post("orders", {"type": "datacenter", "quantity": 3, "period": 7, "country": "DE"})
    assert placed.status_code == 201
    order_id = placed.json_body["data"]["id"]
    detail = client_for.get(f"orders/{order_id}").json_body["data"]
    assert detail["status"] == "active"
    assert detail["proxy_count"] == 3
    assert detail["activated_at"].endswith("Z") and detail["expires_at"].endswith("Z")
    assert set(detail) >= {
        "id", "type", "quantity", "period", "country", "status", "total", "currency", "created_at",
        "activated_at", "expires_at", "proxy_count", "traffic_gb", "traffic_used_gb",
    }
    proxies = client_for.get(f"orders/{order_id}/proxies").json_body
    assert len(proxies["data"]) == 3
    assert set(proxies["data"][0]) == {"host", "port", "username", "password", "protocol", "country"}
    assert free_stock("datacenter", "DE") == 2


def test_residential_order_gets_gateway_credentials_and_traffic(account, client_for, settings):
    settings.RESIDENTIAL_GATEWAY_HOST = "gw.example.test"
    settings.RESIDENTIAL_GATEWAY_PORT = 9999
    fund(account, "50")
    placed = client_for.post("orders", {"type": "residential", "quantity": "2.5"})
    assert placed.status_code == 201, placed.json_body
    order = client_for.get(f"orders/{placed.json_body['data']['id']}").json_body["data"]
    assert order["status"] == "active"
    assert order["quantity"] == 2.5
    assert order["period"] is None and order["expires_at"] is None
    assert order["traffic_gb"] == "2.5" and order["traffic_used_gb"] == "0"
    proxies = client_for.get(f"orders/{order['id']}/proxies").json_body["data"]
    assert proxies[0]["host"] == "gw.example.test" and proxies[0]["port"] == 9999
    assert proxies[0]["username"] and proxies[0]["password"]


def test_insufficient_funds_is_402_and_writes_nothing(account, client_for):
    fund(account, "1.00")
    add_stock("datacenter", "DE", 5)
    response = client_for.post("orders", {"type": "datacenter", "quantity": 5, "period": 30, "country": "DE"})
    assert response.status_code == 402
    assert response.json_body["error_type"] == "insufficient_funds"
    assert balance(account) == Decimal("1.00")
    assert not Order.objects.exists()
    assert free_stock("datacenter", "DE") == 5
    assert not charges(account).exists()


def test_out_of_stock_is_409_and_writes_nothing(account, client_for):
    fund(account, "100")
    add_stock("datacenter", "DE", 2)
    response = client_for.post("orders", {"type": "datacenter", "quantity": 3, "period": 30, "country": "DE"})
    assert response.status_code == 409
    assert response.json_body["error_type"] == "conflict"
    assert balance(account) == Decimal("100.00")
    assert not Order.objects.exists()
    assert free_stock("datacenter", "DE") == 2
    assert not InventoryProxy.objects.filter(order__isnull=False).exists()


def test_stock_of_another_country_does_not_count(account, client_for):
    fund(account, "100")
    add_stock("datacenter", "FR", 5)
    response = client_for.post("orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"})
    assert response.status_code == 409
    assert free_stock("datacenter", "FR") == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "datacenter", "quantity": 2, "country": "DE"}, "period"),
        ({"type": "datacenter", "quantity": 2, "period": 11, "country": "DE"}, "period"),
        ({"type": "datacenter", "quantity": "2.5", "period": 30, "country": "DE"}, "quantity"),
        ({"type": "datacenter", "period": 30, "country": "DE"}, "quantity"),
        ({"type": "teleport", "quantity": 1, "period": 30}, "type"),
        ({"type": "datacenter", "quantity": 1, "period": 30, "country": "ZZ"}, "country"),
        ({"type": "datacenter", "quantity": 1, "period": "soon", "country": "DE"}, "period"),
    ],
)
def test_validation_errors_name_the_field_and_change_nothing(account, client_for, body, field):
    fund(account, "100")
    add_stock("datacenter", "DE", 5)
    for path in ("orders/calc", "orders"):
        response = client_for.post(path, body)
        assert response.status_code == 400, response.json_body
        assert response.json_body["error_type"] == "validation_error"
        assert field in response.json_body["meta"]["fields"]
    assert balance(account) == Decimal("100.00")
    assert free_stock("datacenter", "DE") == 5
    assert not Order.objects.exists()


def test_non_object_body_is_bad_request(client_for):
    response = client_for.post("orders", [1, 2])
    assert response.status_code == 400
    assert response.json_body["error_type"] == "bad_request"


def test_idempotent_replay_returns_the_same_order_and_charges_once(account, client_for):
    fund(account, "100")
    add_stock("datacenter", "DE", 5)
    body = {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"}
    headers = {"Idempotency-Key": "order-once-1"}
    first = client_for.post("orders", body, headers=headers)
    second = client_for.post("orders", body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json_body["data"]["id"] == second.json_body["data"]["id"]
    assert Order.objects.count() == 1
    assert charges(account).count() == 1
    other = client_for.post("orders", {**body, "quantity": 3}, headers=headers)
    assert other.status_code == 409
    assert other.json_body["error_type"] == "conflict"
    assert Order.objects.count() == 1


def test_an_idempotency_key_past_its_24_hours_places_a_new_order(account, client_for):
    from datetime import timedelta

    from django.utils import timezone

    from api.models import IdempotencyRecord
    from portal.tasks import purge_idempotency_records

    fund(account, "100")
    add_stock("datacenter", "DE", 5)
    body = {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"}
    headers = {"Idempotency-Key": "order-daily"}
    first = client_for.post("orders", body, headers=headers).json_body["data"]["id"]
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    second = client_for.post("orders", body, headers=headers)
    assert second.status_code == 201 and second.json_body["data"]["id"] != first
    assert second.get("Idempotent-Replayed") is None
    assert Order.objects.count() == 2 and charges(account).count() == 2
    # the new record replays for the next 24 h; the hourly purge removes only expired ones
    assert client_for.post("orders", body, headers=headers).json_body["data"]["id"] == second.json_body["data"]["id"]
    client_for.post("orders", body, headers={"Idempotency-Key": "order-old"})
    IdempotencyRecord.objects.filter(key="order-old").update(expires_at=timezone.now() - timedelta(hours=1))
    assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["order-daily"]


def test_list_filters_and_paginates(account, client_for):
    fund(account, "500")
    add_stock("datacenter", "DE", 5)
    client_for.post("orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"})
    for _ in range(3):
        client_for.post("orders", {"type": "residential", "quantity": 1})
    listing = client_for.get("orders", limit=2).json_body
    assert listing["meta"] == {"page": 1, "limit": 2, "total": 4}
    assert len(listing["data"]) == 2
    assert client_for.get("orders").json_body["meta"]["limit"] == 20
    only = client_for.get("orders", type="datacenter").json_body
    assert [o["type"] for o in only["data"]] == ["datacenter"]
    assert client_for.get("orders", status="expired").json_body["meta"]["total"] == 0
    assert client_for.get("orders", status="active").json_body["meta"]["total"] == 4
    assert client_for.get("orders", limit=101).status_code == 400
    assert client_for.get("orders", status="bogus").json_body["error_type"] == "validation_error"


@pytest.mark.parametrize("fmt", ["txt", "csv", "json"])
def test_download_formats(account, client_for, fmt):
    fund(account, "50")
    add_stock("datacenter", "DE", 2)
    order_id = client_for.post(
        "orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"}
    ).json_body["data"]["id"]
    response = client_for.get(f"orders/{order_id}/download", format=fmt)
    assert response.status_code == 200
    assert f'filename="{order_id}.{fmt}"' in response["Content-Disposition"]
    text = response.content.decode()
    proxies = list(OrderProxy.objects.filter(order__public_id=order_id).order_by("id"))
    if fmt == "txt":
        assert response["Content-Type"].startswith("text/plain")
        assert text.splitlines() == [f"{p.host}:{p.port}:{p.username}:{p.password}" for p in proxies]
    elif fmt == "csv":
        assert response["Content-Type"].startswith("text/csv")
        lines = text.splitlines()
        assert lines[0] == "host,port,username,password,protocol,country"
        assert len(lines) == 3
    else:
        assert response["Content-Type"].startswith("application/json")
        assert response.json_body[0]["host"] == proxies[0].host
    assert "X-RateLimit-Limit" in response


def test_txt_lists_stock_without_credentials_as_host_port(account, client_for):
    fund(account, "50")
    InventoryProxy.objects.bulk_create([
        InventoryProxy(type="datacenter", country="DE", host="203.0.113.5", port=8080, protocol="http"),
        InventoryProxy(type="datacenter", country="DE", host="203.0.113.6", port=8080, username="alice",
                       password="s3cret", protocol="http"),
    ])
    order_id = client_for.post(
        "orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"}
    ).json_body["data"]["id"]
    text = client_for.get(f"orders/{order_id}/download", format="txt").content.decode()
    assert sorted(text.splitlines()) == ["203.0.113.5:8080", "203.0.113.6:8080:alice:s3cret"]


def test_download_bad_format_is_an_enveloped_validation_error(account, client_for):
    fund(account, "10")
    order_id = client_for.post("orders", {"type": "residential", "quantity": 1}).json_body["data"]["id"]
    response = client_for.get(f"orders/{order_id}/download", format="xml")
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"
    assert "format" in response.json_body["meta"]["fields"]


def test_another_tenants_order_is_404_on_every_endpoint(
    account, outsider_account, client_for, make_key, api, committing
):
    fund(account, "50")
    add_stock("datacenter", "DE", 2)
    order_id = client_for.post(
        "orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"}
    ).json_body["data"]["id"]
    fund(outsider_account, "50")
    other = committing(api(make_key(outsider_account, scopes=["orders:read", "orders:write"])))
    for response in (
        other.get(f"orders/{order_id}"),
        other.get(f"orders/{order_id}/proxies"),
        other.get(f"orders/{order_id}/download", format="txt"),
        other.post(f"orders/{order_id}/extend", {"period": 30}),
        other.post(f"orders/{order_id}/extend", {}),
    ):
        assert response.status_code == 404, response.content
        assert response.json_body["error_type"] == "not_found"
    assert other.get("orders").json_body["meta"]["total"] == 0
    assert balance(outsider_account) == Decimal("50.00")
    assert Order.objects.get(public_id=order_id).expires_at is not None


def test_scopes_are_enforced(account, make_key, api):
    reader = api(make_key(account, scopes=["orders:read"]))
    response = reader.post("orders", {"type": "residential", "quantity": 1})
    assert response.status_code == 403
    assert response.json_body["meta"]["required"] == "orders:write"
    writer = api(make_key(account, scopes=["orders:write"]))
    assert writer.post("orders/calc", {"type": "residential", "quantity": 1}).status_code == 403
    assert writer.get("orders").status_code == 403


def test_reference_data_needs_any_valid_key(account, make_key, api):
    client = api(make_key(account, scopes=["geo:read"]))
    types = client.get("reference/proxy-types").json_body["data"]
    assert [t["type"] for t in types] == ["residential", "datacenter", "isp", "mobile", "ipv6"]
    residential = types[0]
    assert residential["unit"] == "GB" and residential["period_required"] is False
    assert types[1]["unit"] == "IP" and types[1]["period_required"] is True
    assert isinstance(types[1]["min_quantity"], int)
    periods = client.get("reference/periods").json_body["data"]
    assert [p["days"] for p in periods] == [1, 7, 30, 90]
    assert all(p["label"] for p in periods)
    countries = client.get("reference/countries").json_body["data"]
    assert len(countries) >= 20
    us = next(c for c in countries if c["code"] == "US")
    assert us["name"] == "United States" and "residential" in us["types"]
    mobile_only = client.get("reference/countries", type="mobile").json_body["data"]
    assert all("mobile" in c["types"] for c in mobile_only)
    assert len(mobile_only) < len(countries)
    unknown = client.get("reference/currencies")
    assert unknown.status_code == 404 and unknown.json_body["error_type"] == "not_found"
    assert api("pk_live_nope").get("reference/periods").status_code == 401


def test_reference_data_shows_a_catalogue_edit_on_the_next_request(account, make_key, api):
    """The reference lists come from the pricing's catalogue snapshot (no query), which every
    write to the catalogue's models invalidates at once."""
    from orders.models import Country, Period, ProxyType

    client = api(make_key(account, scopes=["geo:read"]))

    def listed(path, field, **params):
        return [row[field] for row in client.get(path, **params).json_body["data"]]

    assert "DE" in listed("reference/countries", "code") and 14 not in listed("reference/periods", "days")
    germany = Country.objects.get(code="DE")
    germany.is_active = False
    germany.save()
    Period.objects.create(days=14, label="14 days")
    assert "DE" not in listed("reference/countries", "code")
    assert 14 in listed("reference/periods", "days")
    us = Country.objects.get(code="US")
    us.types.remove(ProxyType.objects.get(code="mobile"))  # m2m: the country's types
    us_types = next(c for c in client.get("reference/countries").json_body["data"] if c["code"] == "US")["types"]
    assert "mobile" not in us_types and "US" not in listed("reference/countries", "code", type="mobile")
    ipv6 = ProxyType.objects.get(code="ipv6")
    ipv6.is_active = False
    ipv6.save()
    assert "ipv6" not in listed("reference/proxy-types", "type")
    unknown = client.get("reference/countries", type="ipv6")
    assert unknown.status_code == 400 and unknown.json_body["error_type"] == "validation_error"


def test_extend_moves_expiry_and_charges_the_quoted_price(account, client_for):
    fund(account, "100")
    add_stock("datacenter", "DE", 2)
    order_id = client_for.post(
        "orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"}
    ).json_body["data"]["id"]
    order = Order.objects.get(public_id=order_id)
    before = order.expires_at
    quoted = client_for.post("orders/calc", {"type": "datacenter", "quantity": 2, "period": 90, "country": "DE"})
    response = client_for.post(f"orders/{order_id}/extend", {"period": 90}, headers={"Idempotency-Key": "ext-1"})
    assert response.status_code == 200, response.json_body
    replay = client_for.post(f"orders/{order_id}/extend", {"period": 90}, headers={"Idempotency-Key": "ext-1"})
    assert replay.json_body == response.json_body
    order.refresh_from_db()
    assert (order.expires_at - before).days == 90
    entry = LedgerEntry.objects.get(reference=f"order:{order_id}:extend:1")
    assert entry.amount == -Decimal(quoted.json_body["data"]["total"])
    client_for.post(f"orders/{order_id}/extend", {"period": 7})
    assert LedgerEntry.objects.filter(reference=f"order:{order_id}:extend:2").exists()


def test_extend_refuses_residential_and_inactive_orders(account, client_for):
    fund(account, "100")
    res_id = client_for.post("orders", {"type": "residential", "quantity": 1}).json_body["data"]["id"]
    response = client_for.post(f"orders/{res_id}/extend", {"period": 30})
    assert response.status_code == 409 and response.json_body["error_type"] == "conflict"
    add_stock("datacenter", "DE", 1)
    dc_id = client_for.post(
        "orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"}
    ).json_body["data"]["id"]
    Order.objects.filter(public_id=dc_id).update(status="expired")
    before = balance(account)
    assert client_for.post(f"orders/{dc_id}/extend", {"period": 30}).status_code == 409
    bad = client_for.post(f"orders/{res_id}/extend", {"period": "x"})
    assert bad.status_code == 400 and "period" in bad.json_body["meta"]["fields"]
    assert balance(account) == before


def test_extend_with_insufficient_funds_is_402_and_keeps_expiry(account, client_for):
    fund(account, "1.50")
    add_stock("datacenter", "DE", 1)
    order_id = client_for.post(
        "orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"}
    ).json_body["data"]["id"]
    before = Order.objects.get(public_id=order_id).expires_at
    response = client_for.post(f"orders/{order_id}/extend", {"period": 30})
    assert response.status_code == 402
    order = Order.objects.get(public_id=order_id)
    assert order.expires_at == before and order.extension_count == 0


def test_order_creation_and_downloads_use_their_rate_categories(account, client_for):
    from accounts.models import Plan
    from accounts.selectors import forget_plan_limits

    Plan.objects.update_or_create(
        tier="free", defaults={"name": "Free", "limit_general": 100, "limit_order_create": 2,
                               "limit_check": 5, "limit_export": 2},
    )
    forget_plan_limits()
    fund(account, "50")
    first = client_for.post("orders", {"type": "residential", "quantity": 1})
    assert first.status_code == 201
    assert first["X-RateLimit-Limit"] == "2"
    assert client_for.post("orders", {"type": "residential", "quantity": 1}).status_code == 201
    third = client_for.post("orders", {"type": "residential", "quantity": 1})
    assert third.status_code == 429 and int(third["Retry-After"]) >= 1
    assert Order.objects.count() == 2
    assert client_for.post("orders/calc", {"type": "residential", "quantity": 1}).status_code == 200  # general
    order_id = first.json_body["data"]["id"]
    assert client_for.get(f"orders/{order_id}/download").status_code == 200
    assert client_for.get(f"orders/{order_id}/download", format="csv").status_code == 200
    limited = client_for.get(f"orders/{order_id}/download", format="json")
    assert limited.status_code == 429 and limited.json_body["error_type"] == "rate_limited"
    assert client_for.get(f"orders/{order_id}").status_code == 200


def test_the_provisioning_task_runs_once_per_order_and_knows_missing_ones(account, api, order_key):
    from orders.tasks import provision_order

    fund(account, "20")
    add_stock("datacenter", "DE", 3)
    placed = api(order_key).post("orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"})
    order = Order.objects.get(public_id=placed.json_body["data"]["id"])
    assert provision_order(order.pk) == "active"
    assert provision_order(order.pk) == "active"  # a second delivery changes nothing
    assert OrderProxy.objects.filter(order=order).count() == 2 and free_stock("datacenter", "DE") == 1
    assert provision_order(order.pk + 10_000) == "missing"


def test_order_proxies_page_tells_an_empty_page_from_an_unknown_order(account, outsider_account, client_for, make_key, api):
    """An order's proxies come in one query that keeps to the account's orders; the order is
    read only when the page is empty or the request refused, so 404 still comes first."""
    fund(account, "50")
    add_stock("datacenter", "DE", 2)
    order_id = client_for.post(
        "orders", {"type": "datacenter", "quantity": 2, "period": 7, "country": "DE"}
    ).json_body["data"]["id"]
    page = client_for.get(f"orders/{order_id}/proxies").json_body
    assert len(page["data"]) == 2 and page["meta"]["total"] == 2
    past = client_for.get(f"orders/{order_id}/proxies", page=5, limit=1)
    assert past.status_code == 200 and past.json_body["data"] == [] and past.json_body["meta"]["total"] == 2
    OrderProxy.objects.filter(order__public_id=order_id).update(released_at=Order.objects.get(public_id=order_id).created_at)
    released = client_for.get(f"orders/{order_id}/proxies")
    assert released.status_code == 200 and released.json_body["data"] == [] and released.json_body["meta"]["total"] == 0

    others = api(make_key(outsider_account, scopes=["orders:read"]))
    for client, missing in ((others, order_id), (client_for, "ord_nosuchorder")):
        for params in ({}, {"page": "0"}):
            refused = client.get(f"orders/{missing}/proxies", **params)
            assert refused.status_code == 404 and refused.json_body["error_type"] == "not_found", params
    refused = client_for.get(f"orders/{order_id}/proxies", page="0")
    assert refused.status_code == 400 and refused.json_body["error_type"] == "validation_error"

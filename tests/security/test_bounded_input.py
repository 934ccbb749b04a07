"""Numbers and dates from user input are bounded before any conversion or arithmetic.

Issue 22, finding 1: `/orders/price?period=1e1000000` reached `int(Decimal(...))`, half a
minute of CPU per request (`1e3000000` killed the worker). Finding 11: `from=9999-12-31`
or `to=0001-01-01` on the statistics overflowed a date computation (500). Every site that
parses a number or a date a user sent answers a clear error at once instead: an API
validation_error naming the field, the live price's field error, or the page with the
error beside the field; nothing is charged or created.
"""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orders.models import Order
from tests.conftest import dashboard_client
from tests.security.conftest import call

pytestmark = pytest.mark.django_db

FAST_S = 1.0  # a refused number or date costs microseconds; the finding cost ~28 s
HUGE = ["1e1000000", "-1e1000000", "1E+999999999", "1e-1000000", "9" * 5000, "1" * 100_000]
NOT_NUMBERS = ["NaN", "Infinity", "-inf", "0x1F", "1_000", "\u0661\u0662", "1e", ".", "1..2"]


def _timed(fn):
    start = time.perf_counter()
    response = fn()
    return response, time.perf_counter() - start


def _dashboard(tenants, user=None):
    """A signed-in dashboard session on tenant A (the member by default: any role will do)."""
    return dashboard_client(user or tenants.a.member, tenants.a.account)


def _assert_validation_error(response, field, elapsed):
    assert elapsed < FAST_S, f"took {elapsed:.1f} s"
    assert response.status_code == 400, response.raw[:300]
    body = response.json_body
    assert body["result"] is False and body["data"] is None
    assert body["error_type"] == "validation_error"
    assert field in body["meta"]["fields"], body
    assert body["error"] and "Decimal" not in body["error"] and "int(" not in body["error"]


def _assert_malformed_number(response, elapsed):
    """A JSON number literal over 100 characters: the body is refused as malformed, saying why."""
    assert elapsed < FAST_S, f"took {elapsed:.1f} s"
    assert response.status_code == 400 and response.json_body["error_type"] == "bad_request"
    assert response.json_body["error"] == (
        "Malformed request body: a number in it has more than 100 characters."
    )


def _raw_json(**literals) -> str:
    """A JSON object whose values are written as given (number literals no encoder would produce)."""
    return "{" + ", ".join(f'"{name}": {value}' for name, value in literals.items()) + "}"


def _balance(account) -> Decimal:
    account.refresh_from_db(fields=["balance"])
    return account.balance


# --- finding 1: the live price ----------------------------------------------------------


def test_the_findings_exact_price_request_is_refused_at_once(tenants):
    client = _dashboard(tenants)
    response, elapsed = _timed(
        lambda: client.get("/orders/price?type=datacenter&quantity=1&period=1e1000000")
    )
    assert elapsed < FAST_S, f"took {elapsed:.1f} s"
    assert response.status_code == 200  # the live price reports field errors in its body
    body = response.json()
    assert body["ok"] is False
    assert body["fields"]["period"][0].startswith("Must be one of the orderable periods in days: 1, 7, 30")


@pytest.mark.parametrize("value", HUGE + NOT_NUMBERS)
@pytest.mark.parametrize("field", ["period", "quantity"])
def test_live_price_refuses_huge_or_odd_numbers_at_once(tenants, field, value):
    client = _dashboard(tenants)
    params = {"type": "datacenter", "quantity": "1", "period": "30", field: value}
    response, elapsed = _timed(lambda: client.get("/orders/price", params))
    assert elapsed < FAST_S, f"took {elapsed:.1f} s"
    body = response.json()
    assert body["ok"] is False and list(body["fields"]) == [field]


def test_live_price_still_prices_valid_input(tenants):
    client = _dashboard(tenants)
    body = client.get("/orders/price", {"type": "datacenter", "quantity": "10", "period": "30.0"}).json()
    assert body["ok"] and body["quote"]["total"] == "14.25" and body["quote"]["period"] == 30
    body = client.get("/orders/price", {"type": "residential", "quantity": "2.5"}).json()
    assert body["ok"] and body["quote"]["quantity"] == "2.5"


# --- finding 1: the orders API ----------------------------------------------------------

_BODIES = [
    pytest.param({"period": "1e1000000"}, "period", id="period-json-number"),
    pytest.param({"period": '"1e1000000"'}, "period", id="period-string"),
    pytest.param({"period": "-1e1000000"}, "period", id="period-negative"),
    pytest.param({"period": "9" * 99}, "period", id="period-99-digit-integer"),
    pytest.param({"quantity": "1e1000000"}, "quantity", id="quantity-json-number"),
    pytest.param({"quantity": '"1e1000000"'}, "quantity", id="quantity-string"),
    pytest.param({"quantity": '"1e-1000000"'}, "quantity", id="quantity-tiny"),
    pytest.param({"quantity": '"' + "1" * 100_000 + '"'}, "quantity", id="quantity-long-string"),
    pytest.param({"quantity": "9" * 99}, "quantity", id="quantity-99-digit-integer"),
    pytest.param({"quantity": "9" * 4000}, None, id="quantity-4000-digit-integer"),
    pytest.param({"period": "1" * 100_000}, None, id="period-100000-digit-integer"),
    pytest.param({"period": "0." + "1" * 200}, None, id="period-long-fraction"),
]


def _order_body(literals) -> str:
    return _raw_json(**{"type": '"datacenter"', "quantity": "1", "period": "30", **literals})


@pytest.mark.parametrize(("literals", "field"), _BODIES)
def test_order_calc_refuses_huge_numbers_at_once(tenants, literals, field):
    response, elapsed = _timed(lambda: call(tenants.a.key, "POST", "orders/calc", _order_body(literals)))
    if field is None:
        _assert_malformed_number(response, elapsed)
    else:
        _assert_validation_error(response, field, elapsed)


@pytest.mark.parametrize(("literals", "field"), _BODIES)
def test_placing_an_order_with_huge_numbers_is_refused_and_charges_nothing(tenants, literals, field):
    before = _balance(tenants.a.account)
    response, elapsed = _timed(lambda: call(tenants.a.key, "POST", "orders", _order_body(literals)))
    if field is None:
        _assert_malformed_number(response, elapsed)
    else:
        _assert_validation_error(response, field, elapsed)
    assert not Order.objects.exists() and _balance(tenants.a.account) == before


@pytest.fixture
def active_order(tenants, django_capture_on_commit_callbacks):
    from tests.orders.conftest import add_stock

    add_stock("datacenter", "DE", 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = call(tenants.a.key, "POST", "orders", {"type": "datacenter", "quantity": 1, "period": 30,
                                                          "country": "DE"})
    assert response.status_code == 201, response.json_body
    order = Order.objects.get(public_id=response.json_body["data"]["id"])
    assert order.status == "active"
    return order


@pytest.mark.parametrize("period", ["1e1000000", "-1e1000000", "9" * 99, "1" * 4000, "1" * 100_000])
def test_extending_by_a_huge_period_is_refused_and_charges_nothing(tenants, active_order, period):
    before = _balance(tenants.a.account)
    path = f"orders/{active_order.public_id}/extend"
    response, elapsed = _timed(lambda: call(tenants.a.key, "POST", path, _raw_json(period=period)))
    if len(period) > 100:
        _assert_malformed_number(response, elapsed)
    else:
        _assert_validation_error(response, "period", elapsed)
    response, elapsed = _timed(lambda: call(tenants.a.key, "POST", path, {"period": period}))
    _assert_validation_error(response, "period", elapsed)
    assert _balance(tenants.a.account) == before and active_order.extensions.count() == 0


# --- finding 1: dashboard forms ---------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("quantity", "9e999999"), ("quantity", "1e-999999"),
                                              ("period", "1e1000000"), ("quantity", "1" * 100_000)])
def test_order_form_shows_the_error_beside_the_field_at_once(tenants, field, value):
    client = _dashboard(tenants, tenants.a.user)
    data = {"action": "place", "type": "datacenter", "quantity": "1", "period": "30", field: value}
    response, elapsed = _timed(lambda: client.post("/orders/", data))
    assert elapsed < FAST_S, f"took {elapsed:.1f} s"
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not Order.objects.exists()


def test_extend_form_refuses_a_huge_period(tenants, active_order):
    client = _dashboard(tenants, tenants.a.user)
    before = _balance(tenants.a.account)
    response, elapsed = _timed(
        lambda: client.post(f"/orders/{active_order.public_id}/extend", {"period": "1e1000000"})
    )
    assert elapsed < FAST_S and response.status_code == 400
    assert response.context["extend_form"].errors["period"]
    assert _balance(tenants.a.account) == before


# --- finding 1: pagination and list filters ---------------------------------------------


@pytest.mark.parametrize("path", ["orders", "jobs", "proxy", "stats", "public-proxies", "reference/countries"])
@pytest.mark.parametrize("value", ["1e999999", "9" * 5000, "1" * 100_000, "NaN", "2.5", "\u0662"])
def test_page_and_limit_are_bounded_whole_numbers(tenants, path, value):
    for name in ("page", "limit"):
        response, elapsed = _timed(lambda name=name: call(tenants.a.key, "GET", f"{path}?{name}={value}"))
        _assert_validation_error(response, name, elapsed)
        assert response.json_body["error"].startswith(f"{name} must be")


def test_pagination_still_reads_valid_pages(tenants):
    response = call(tenants.a.key, "GET", "reference/countries?page=2&limit=3")
    assert response.status_code == 200
    assert response.json_body["meta"]["page"] == 2 and response.json_body["meta"]["limit"] == 3


@pytest.mark.parametrize("path", ["/orders/", "/proxies/", "/checker/", "/checker/public/", "/audit/", "/billing/"])
def test_dashboard_page_numbers_are_read_cheaply(tenants, path):
    """Dashboard lists page with Django's Paginator: int() of the text, which Python caps at
    4300 digits (ValueError: the first page) and the web server's request line caps sooner.
    Pinned here so a list that parses `page` itself keeps to that."""
    client = _dashboard(tenants, tenants.a.user)
    for value in ("1e999999", "9" * 4000, "9" * 5000, "-1", "NaN"):
        response, elapsed = _timed(lambda value=value: client.get(path, {"page": value}))
        assert elapsed < FAST_S and response.status_code == 200, (path, value[:20], response.status_code)


@pytest.mark.parametrize("name", ["fresh_minutes", "max_latency_ms", "min_uptime"])
@pytest.mark.parametrize("value", ["1e1000000", "-1e1000000", "9" * 5000, "1" * 100_000, "NaN", "inf"])
def test_pool_filters_are_bounded(tenants, name, value):
    response, elapsed = _timed(lambda: call(tenants.a.key, "GET", f"public-proxies?{name}={value}"))
    _assert_validation_error(response, name, elapsed)
    client = _dashboard(tenants)
    page, elapsed = _timed(lambda: client.get("/checker/public/", {name: value}))
    assert elapsed < FAST_S and page.status_code == 400
    assert page.context["form"].errors[name]


def test_pool_filters_still_read_valid_values(tenants):
    response = call(tenants.a.key, "GET", "public-proxies?fresh_minutes=60&max_latency_ms=500&min_uptime=0.5")
    assert response.status_code == 200


# --- finding 1: sub-user proxies (API and dashboard) ------------------------------------


@pytest.fixture
def residential(tenants):
    from tests.orders.residential.subuser_fixtures import residential_order

    return residential_order(tenants.a.account, gb="10")


@pytest.mark.parametrize("value", ['"1e1000000"', "1e1000000", '"1e-1000000"', '"' + "1" * 100_000 + '"'])
def test_subuser_traffic_limit_is_bounded(tenants, residential, value):
    from orders.residential.models import SubUserProxy

    body = _raw_json(name='"a"', order_id=f'"{residential.public_id}"', traffic_limit_gb=value)
    response, elapsed = _timed(lambda: call(tenants.a.key, "POST", "proxy", body))
    _assert_validation_error(response, "traffic_limit_gb", elapsed)
    client = _dashboard(tenants, tenants.a.user)
    page, elapsed = _timed(lambda: client.post("/proxies/", {
        "name": "a", "order": residential.public_id, "protocol": "http", "rotation": "rotating",
        "sticky_ttl_minutes": "10", "traffic_limit_gb": value.strip('"'),
    }))
    assert elapsed < FAST_S and page.status_code == 400
    assert page.context["form"].errors["traffic_limit_gb"]
    assert not SubUserProxy.objects.exists()


@pytest.mark.parametrize("value", ["1e1000000", "9" * 99, "1" * 4000, "1" * 100_000])
def test_subuser_sticky_minutes_are_bounded(tenants, residential, value):
    body = _raw_json(name='"a"', order_id=f'"{residential.public_id}"', sticky_ttl_minutes=value)
    response, elapsed = _timed(lambda: call(tenants.a.key, "POST", "proxy", body))
    if len(value) > 100:
        _assert_malformed_number(response, elapsed)
    else:
        _assert_validation_error(response, "sticky_ttl_minutes", elapsed)
    client = _dashboard(tenants, tenants.a.user)
    page, elapsed = _timed(lambda: client.post("/proxies/", {
        "name": "a", "order": residential.public_id, "protocol": "http", "rotation": "rotating",
        "sticky_ttl_minutes": value,
    }))
    assert elapsed < FAST_S and page.status_code == 400
    assert page.context["form"].errors["sticky_ttl_minutes"]


# --- finding 11: statistics dates -------------------------------------------------------

EDGE_DATES = [
    pytest.param({"from": "9999-12-31"}, "from", id="from-end-of-calendar"),
    pytest.param({"to": "0001-01-01"}, "to", id="to-start-of-calendar"),
    pytest.param({"from": "0001-01-01", "to": "0001-01-02"}, "from", id="year-one"),
    pytest.param({"from": "9999-12-30", "to": "9999-12-31"}, "from", id="year-9999"),
    pytest.param({"to": "9999-12-31"}, "to", id="to-end-of-calendar"),
    pytest.param({"from": "1999-12-31"}, "from", id="before-the-window"),
]


@pytest.mark.parametrize(("params", "field"), EDGE_DATES)
@pytest.mark.parametrize("path", ["stats", "stats/export"])
def test_api_stats_refuse_dates_outside_the_window(tenants, path, params, field):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response, elapsed = _timed(lambda: call(tenants.a.key, "GET", f"{path}?{query}"))
    _assert_validation_error(response, field, elapsed)
    assert "2000-01-01" in response.json_body["meta"]["fields"][field][0]


@pytest.mark.parametrize(("params", "field"), EDGE_DATES)
def test_dashboard_stats_show_the_date_error_beside_the_filter(tenants, params, field):
    client = _dashboard(tenants)
    page = client.get("/stats/", params)
    assert page.status_code == 200
    assert field in page.context["errors"] and "2000-01-01" in page.content.decode()
    export = client.get("/stats/export.csv", params)
    assert export.status_code == 400 and "2000-01-01" in export.content.decode()


def test_from_after_to_names_the_field(tenants):
    response = call(tenants.a.key, "GET", "stats?from=2025-03-05&to=2025-03-01")
    _assert_validation_error(response, "from", 0)
    assert response.json_body["meta"]["fields"]["from"] == ["from must not be after to."]


def test_ranges_at_the_window_edges_still_answer(tenants):
    today = datetime.now(UTC).date()
    response = call(tenants.a.key, "GET", "stats?from=2000-01-01&to=2000-12-31")
    assert response.status_code == 200 and response.json_body["meta"]["from"] == "2000-01-01"
    # only `to`, near the start of the window: the default 30 days stop at the window
    response = call(tenants.a.key, "GET", "stats?to=2000-01-10")
    assert response.status_code == 200
    assert (response.json_body["meta"]["from"], response.json_body["meta"]["to"]) == ("2000-01-01", "2000-01-10")
    latest = today + timedelta(days=366)
    response = call(tenants.a.key, "GET", f"stats?from={latest}")
    assert response.status_code == 200 and response.json_body["meta"]["to"] == latest.isoformat()
    response = call(tenants.a.key, "GET", f"stats?to={latest + timedelta(days=1)}")
    _assert_validation_error(response, "to", 0)


def test_range_length_is_bounded(tenants):
    response = call(tenants.a.key, "GET", "stats?from=2020-01-01&to=2022-01-01")
    _assert_validation_error(response, "from", 0)
    assert response.json_body["meta"]["fields"]["from"] == ["The range may span at most 366 days."]

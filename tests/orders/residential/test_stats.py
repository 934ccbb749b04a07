"""Statistics: /stats grouped by day or hour with totals equal to the ingested bytes, /stats/export."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from orders.residential import services

from .subuser_fixtures import deliver, record, residential_order


@pytest.fixture
def proxies(account):
    order = residential_order(account, gb="100")
    a = services.subuser_create(account=account, order_id=order.public_id, name="alpha")
    b = services.subuser_create(account=account, order_id=order.public_id, name="beta")
    return a, b


@pytest.fixture
def ingested(proxies):
    a, b = proxies
    recs = [
        record(a.username, 1000, 200, period_start="2025-03-01T10:05:00Z", requests=4),
        record(a.username, 3000, 400, period_start="2025-03-01T10:55:00Z", requests=6),
        record(a.username, 50, 5, period_start="2025-03-01T23:59:00Z", requests=1),
        record(b.username, 7000, 700, period_start="2025-03-02T00:00:00Z", requests=2),
        record(b.username, 9, 1, period_start="2025-03-05T12:00:00Z", requests=1),  # outside 03-01..03-02
    ]
    assert deliver(recs).json_body["data"]["accepted"] == 5
    return recs


@pytest.fixture
def client(api, account, make_key):
    return api(make_key(account, scopes=["stats:read"]))


def test_totals_equal_the_ingested_bytes(client, ingested, proxies):
    r = client.get("stats", **{"from": "2025-03-01", "to": "2025-03-05"})
    assert r.status_code == 200
    totals = r.json_body["meta"]["totals"]
    assert totals["bytes_in"] == sum(x["bytes_in"] for x in ingested)
    assert totals["bytes_out"] == sum(x["bytes_out"] for x in ingested)
    assert totals["bytes_total"] == totals["bytes_in"] + totals["bytes_out"]
    assert totals["requests"] == sum(x["requests"] for x in ingested)
    rows = r.json_body["data"]
    assert sum(row["bytes_total"] for row in rows) == totals["bytes_total"]


def test_grouped_by_day_with_inclusive_dates(client, ingested, proxies):
    a, b = proxies
    r = client.get("stats", **{"from": "2025-03-01", "to": "2025-03-02"})
    rows = r.json_body["data"]
    assert rows == [
        {"period_start": "2025-03-01T00:00:00Z", "proxy_id": a.public_id, "name": "alpha",
         "bytes_in": 4050, "bytes_out": 605, "bytes_total": 4655, "requests": 11},
        {"period_start": "2025-03-02T00:00:00Z", "proxy_id": b.public_id, "name": "beta",
         "bytes_in": 7000, "bytes_out": 700, "bytes_total": 7700, "requests": 2},
    ]
    assert r.json_body["meta"]["totals"]["bytes_total"] == 4655 + 7700
    assert r.json_body["meta"]["from"] == "2025-03-01" and r.json_body["meta"]["to"] == "2025-03-02"


def test_grouped_by_hour_and_filtered_by_proxy(client, ingested, proxies):
    a, _ = proxies
    r = client.get("stats", **{"from": "2025-03-01", "to": "2025-03-01", "group_by": "hour", "proxy_id": a.public_id})
    rows = r.json_body["data"]
    assert [(row["period_start"], row["bytes_total"]) for row in rows] == [
        ("2025-03-01T10:00:00Z", 4600), ("2025-03-01T23:00:00Z", 55),
    ]
    assert r.json_body["meta"]["totals"]["bytes_total"] == 4655


def test_default_range_is_the_last_30_days(client, proxies):
    a, _ = proxies
    now = datetime.now(UTC)
    deliver([
        record(a.username, 10, 0, period_start=(now - timedelta(days=29)).isoformat()),
        record(a.username, 20, 0, period_start=(now - timedelta(days=31)).isoformat()),
    ])
    r = client.get("stats")
    assert r.status_code == 200
    assert r.json_body["meta"]["totals"]["bytes_total"] == 10
    assert r.json_body["meta"]["to"] == now.date().isoformat()


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": "2025-13-01"}, "from"), ({"to": "yesterday"}, "to"), ({"from": "2025-3-1"}, "from"),
     ({"from": "2025-03-05", "to": "2025-03-01"}, "from"), ({"group_by": "week"}, "group_by")],
)
def test_bad_dates_are_validation_errors(client, params, field):
    r = client.get("stats", **params)
    assert r.status_code == 400 and r.json_body["error_type"] == "validation_error"
    assert field in r.json_body["meta"]["fields"]


def test_every_bad_parameter_is_named_in_one_answer(client):
    r = client.get("stats", **{"from": "2025-13-01", "group_by": "week"})
    assert r.status_code == 400 and r.json_body["error_type"] == "validation_error"
    assert set(r.json_body["meta"]["fields"]) == {"from", "group_by"}
    assert r.json_body["meta"]["fields"]["group_by"] == ["group_by must be day or hour."]
    r = client.get("stats", proxy_id="prx\x00")
    assert r.status_code == 400 and set(r.json_body["meta"]["fields"]) == {"proxy_id"}


def test_group_by_and_proxy_id_are_read_around_spaces(client, ingested, proxies):
    a, _b = proxies
    r = client.get("stats", **{"from": "2025-03-01", "to": "2025-03-02", "group_by": " Hour ", "proxy_id": f" {a.public_id} "})
    assert r.status_code == 200, r.json_body
    assert r.json_body["meta"]["group_by"] == "hour" and r.json_body["meta"]["proxy_id"] == a.public_id
    assert client.get("stats", group_by="").json_body["meta"]["group_by"] == "day"


def test_stats_need_the_stats_scope(api, account, make_key):
    r = api(make_key(account, scopes=["proxies:read"])).get("stats")
    assert r.status_code == 403 and r.json_body["meta"]["required"] == "stats:read"
    r = api(make_key(account, scopes=["proxies:read"])).get("stats/export")
    assert r.status_code == 403


def test_another_tenants_usage_never_shows(api, make_key, outsider_account, ingested):
    r = api(make_key(outsider_account, scopes=["stats:read"])).get("stats", **{"from": "2025-03-01", "to": "2025-03-05"})
    assert r.json_body["data"] == [] and r.json_body["meta"]["totals"]["bytes_total"] == 0


def test_export_csv_and_json(client, ingested, proxies):
    a, b = proxies
    r = client.get("stats/export", format="csv", **{"from": "2025-03-01", "to": "2025-03-02"})
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    assert "attachment" in r["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert [(x["period_start"], x["proxy_id"], x["bytes_total"]) for x in rows] == [
        ("2025-03-01T00:00:00Z", a.public_id, "4655"), ("2025-03-02T00:00:00Z", b.public_id, "7700"),
    ]
    assert "X-RateLimit-Limit" in r
    r = client.get("stats/export", format="json", **{"from": "2025-03-01", "to": "2025-03-02", "proxy_id": b.public_id})
    data = json.loads(r.content)
    assert isinstance(data, list) and data[0]["bytes_total"] == 7700 and len(data) == 1
    r = client.get("stats/export", format="xml")
    assert r.status_code == 400 and "format" in r.json_body["meta"]["fields"]


def test_export_uses_the_export_rate_category(client, settings):
    from accounts.models import Plan

    Plan.objects.filter(tier="free").update(limit_export=2)
    assert client.get("stats/export").status_code == 200
    assert client.get("stats/export").status_code == 200
    r = client.get("stats/export")
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1
    assert client.get("stats").status_code == 200  # the general category is separate


def test_stats_periods_have_every_hour_of_the_range_with_zeros(account, ingested):
    from datetime import date

    from orders.residential.selectors import StatsQuery, stats_periods

    query = StatsQuery(start=date(2025, 3, 1), end=date(2025, 3, 2), proxy=None, group_by="hour")
    periods = stats_periods(account=account, query=query)
    assert len(periods) == 48
    assert periods[0]["period_start"] == datetime(2025, 3, 1, tzinfo=UTC)
    ten = periods[10]
    assert (ten["bytes_in"], ten["bytes_out"], ten["requests"]) == (4000, 600, 10)
    assert periods[23]["bytes_total"] == 55 and periods[24]["bytes_total"] == 7700
    assert sum(1 for p in periods if p["bytes_total"]) == 3
    days = stats_periods(account=account, query=StatsQuery(start=date(2025, 2, 27), end=date(2025, 3, 2),
                                                            proxy=None, group_by="day"))
    assert [p["bytes_total"] for p in days] == [0, 0, 4655, 7700]

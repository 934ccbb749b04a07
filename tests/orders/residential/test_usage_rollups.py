"""Usage rollups: the hourly, daily and per-order sums kept at ingest equal the raw records'
sums (re-sent records once, hours and days cut at their boundaries), statistics read them, and
the raw records' purge keeps them."""

import importlib
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.test import override_settings
from django.utils import timezone

from orders.residential import selectors, services
from orders.residential.models import (
    SubUserProxy,
    UsageDaily,
    UsageHourly,
    UsagePurge,
    UsageRecord,
    UsageTotal,
)

from .subuser_fixtures import deliver, record, residential_order


@pytest.fixture
def stats_api(api, account, make_key):
    return api(make_key(account, scopes=["stats:read"]))


def make_proxy(account, order, name="p") -> SubUserProxy:
    return services.subuser_create(account=account, order_id=order.public_id, name=name)


def raw_sums(*, day: bool) -> dict:
    """{(proxy_id, period): [in, out, requests]} summed from the raw records in Python."""
    out = defaultdict(lambda: [0, 0, 0])
    for r in UsageRecord.objects.all():
        period = r.period_start.astimezone(UTC)
        if day:
            period = period.replace(hour=0)
        sums = out[(r.proxy_id, period)]
        sums[0] += r.bytes_in
        sums[1] += r.bytes_out
        sums[2] += r.requests
    return dict(out)


def rollup_sums(model) -> dict:
    return {
        (r.proxy_id, r.period_start.astimezone(UTC)): [r.bytes_in, r.bytes_out, r.requests]
        for r in model.objects.all()
    }


def total_sums() -> dict:
    return {(t.proxy_id, t.order_id): [t.bytes_in, t.bytes_out, t.requests] for t in UsageTotal.objects.all()}


def raw_totals() -> dict:
    out = defaultdict(lambda: [0, 0, 0])
    for r in UsageRecord.objects.all():
        sums = out[(r.proxy_id, r.order_id)]
        sums[0] += r.bytes_in
        sums[1] += r.bytes_out
        sums[2] += r.requests
    return dict(out)


def assert_rollups_match_raw():
    assert rollup_sums(UsageHourly) == raw_sums(day=False)
    assert rollup_sums(UsageDaily) == raw_sums(day=True)
    assert total_sums() == raw_totals()


def test_rollups_equal_the_raw_sums_across_hour_and_day_boundaries_and_resends(account):
    order = residential_order(account, gb="1000")
    a, b = make_proxy(account, order, "a"), make_proxy(account, order, "b")
    stamps = [
        "2025-03-01T10:59:59Z", "2025-03-01T11:00:00Z",  # two hours
        "2025-03-01T23:59:59Z", "2025-03-02T00:00:00Z",  # two days
        "2025-03-01T23:30:00+02:00",  # 21:30 UTC on the 1st, not the 2nd
        "2025-03-02T00:30:00-01:00",  # 01:30 UTC on the 2nd
    ]
    rng = random.Random(7)
    sent = []
    for i in range(60):
        proxy = a if i % 3 else b
        sent.append(record(proxy.username, rng.randrange(10**9), rng.randrange(10**6),
                           period_start=stamps[i % len(stamps)], requests=rng.randrange(100), id=f"x{i}"))
    assert deliver(sent[:40]).json_body["data"]["accepted"] == 40
    # Re-sent records (a provider retry, and the same id twice in one delivery) count once.
    again = deliver(sent[30:] + sent[55:])
    assert again.json_body["data"]["accepted"] == 20
    assert again.json_body["data"]["duplicates"] == 15
    assert deliver(sent).json_body["data"]["accepted"] == 0

    assert UsageRecord.objects.count() == 60
    assert_rollups_match_raw()
    hours = {p for _, p in rollup_sums(UsageHourly)}
    assert datetime(2025, 3, 1, 10, tzinfo=UTC) in hours and datetime(2025, 3, 1, 11, tzinfo=UTC) in hours
    assert datetime(2025, 3, 1, 21, tzinfo=UTC) in hours and datetime(2025, 3, 2, 1, tzinfo=UTC) in hours
    assert {p for _, p in rollup_sums(UsageDaily)} == {datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)}
    a.refresh_from_db()
    assert a.traffic_used_bytes == sum(r.bytes_total for r in UsageRecord.objects.filter(proxy=a))


def test_a_replaced_record_moves_its_rollups_by_the_difference(account):
    order = residential_order(account, gb="1000")
    proxy = make_proxy(account, order)

    def pull(bytes_in, requests):
        services.usage_ingest(records=[services.UsageIn(
            id="upstream:h10", username=proxy.username, period_start=datetime(2025, 3, 1, 10, tzinfo=UTC),
            bytes_in=bytes_in, bytes_out=5, requests=requests)], source="upstream", replace=True)

    pull(100, 3)
    pull(100, 3)
    pull(70, 9)  # an upstream correction downwards still replaces
    assert_rollups_match_raw()
    assert UsageHourly.objects.get().bytes_in == 70 and UsageDaily.objects.get().requests == 9


def test_records_drawn_from_two_orders_keep_each_orders_total(account):
    first = residential_order(account, gb="1")
    proxy = make_proxy(account, first)
    deliver([record(proxy.username, 10**9, 0, id="r1")])  # uses the first order up
    second = residential_order(account, gb="5")
    services.subusers_reconcile(account=account)
    proxy.refresh_from_db()
    assert proxy.order_id == second.pk
    deliver([record(proxy.username, 2 * 10**9, 0, id="r2")])
    assert total_sums() == {(proxy.pk, first.pk): [10**9, 0, 1], (proxy.pk, second.pk): [2 * 10**9, 0, 1]}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.traffic_used_gb, second.traffic_used_gb) == (1, 2)


def _old_style_stats(account, start, end, group_by):
    """The statistics as they were computed from raw records, for comparison."""
    rows = defaultdict(lambda: [0, 0, 0])
    begin = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    finish = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    for r in UsageRecord.objects.filter(account=account, period_start__gte=begin, period_start__lt=finish):
        period = r.period_start.astimezone(UTC)
        if group_by == "day":
            period = period.replace(hour=0)
        sums = rows[(period, r.proxy.public_id)]
        sums[0] += r.bytes_in
        sums[1] += r.bytes_out
        sums[2] += r.requests
    return [
        {"period_start": p, "proxy_id": pid, "bytes_in": s[0], "bytes_out": s[1], "bytes_total": s[0] + s[1],
         "requests": s[2]}
        for (p, pid), s in sorted(rows.items())
    ]


@pytest.mark.parametrize("group_by", ["day", "hour"])
def test_statistics_read_from_rollups_equal_those_of_the_raw_records(account, group_by, stats_api):
    order = residential_order(account, gb="1000")
    proxies = [make_proxy(account, order, f"p{i}") for i in range(3)]
    rng = random.Random(3)
    recs = [
        record(rng.choice(proxies).username, rng.randrange(10**8), rng.randrange(10**5),
               period_start=f"2025-03-{rng.randrange(1, 6):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
               requests=rng.randrange(50))
        for _ in range(200)
    ]
    deliver(recs)
    start, end = date(2025, 3, 2), date(2025, 3, 4)
    query = selectors.stats_query(account=account, start=start, end=end, group_by=group_by)
    got = [{k: v for k, v in row.items() if k != "name"} for row in selectors.stats_rows(account=account, query=query)]
    assert got == _old_style_stats(account, start, end, group_by)

    # Through the API: one page of the same rows, the totals over the whole range.
    response = stats_api.get("stats", **{"from": "2025-03-02", "to": "2025-03-04", "group_by": group_by,
                                           "limit": 7, "page": 2})
    assert response.status_code == 200
    body = response.json_body
    assert body["meta"]["total"] == len(got)
    assert [i["proxy_id"] for i in body["data"]] == [r["proxy_id"] for r in got[7:14]]
    assert body["meta"]["totals"]["bytes_total"] == sum(r["bytes_total"] for r in got)


def test_the_purge_deletes_old_raw_records_and_keeps_rollups_statistics_and_used_traffic(account, stats_api):
    order = residential_order(account, gb="1000")
    proxy = make_proxy(account, order)
    now = timezone.now()
    old = (now - timedelta(days=120)).strftime("%Y-%m-%dT%H:00:00Z")
    recent = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:00:00Z")
    deliver([record(proxy.username, 100, 1, period_start=old, id="old"),
             record(proxy.username, 200, 2, period_start=recent, id="new")])
    params = {"from": (now - timedelta(days=150)).date().isoformat(), "to": now.date().isoformat()}
    before = stats_api.get("stats", **params).json_body
    rollups_before = (rollup_sums(UsageHourly), rollup_sums(UsageDaily), total_sums())

    with override_settings(USAGE_RAW_RETENTION_DAYS=90):
        assert services.usage_raw_purge() == 1
        assert services.usage_raw_purge() == 0  # idempotent

    assert list(UsageRecord.objects.values_list("record_id", flat=True)) == ["new"]
    assert (rollup_sums(UsageHourly), rollup_sums(UsageDaily), total_sums()) == rollups_before
    assert stats_api.get("stats", **params).json_body == before
    assert UsagePurge.objects.get().deleted == 1

    # The purged record sent again cannot be told from a new one: refused, nothing added.
    again = deliver([record(proxy.username, 100, 1, period_start=old, id="old"),
                     record(proxy.username, 5, 0, period_start=recent, id="newer")])
    assert again.json_body["data"]["too_old"] == ["old"]
    assert again.json_body["data"]["accepted"] == 1
    proxy.refresh_from_db()
    assert proxy.traffic_used_bytes == 101 + 202 + 5


def test_the_migration_backfills_rollups_from_existing_raw_records(account):
    order = residential_order(account, gb="1000")
    proxy = make_proxy(account, order)
    deliver([record(proxy.username, 10 + i, i, period_start=f"2025-03-0{1 + i % 3}T{i % 24:02d}:10:00Z")
             for i in range(30)])
    expected = (rollup_sums(UsageHourly), rollup_sums(UsageDaily), total_sums())
    for model in (UsageHourly, UsageDaily, UsageTotal):
        model.objects.all().delete()
    migration = importlib.import_module("orders.migrations.0009_usage_rollups")
    migration.backfill_rollups(apps, None)
    assert (rollup_sums(UsageHourly), rollup_sums(UsageDaily), total_sums()) == expected

"""The shared read path of every list and detail endpoint: output serializers render exactly
as DRF's serializers do, and a page comes with its total in one query."""

import datetime
from datetime import UTC, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework import serializers

from api.pagination import paginate
from api.serializers import OutputSerializer
from billing.models import LedgerEntry
from checker.models import CheckItem, CheckJob
from orders.models import Order, OrderProxy
from orders.residential.models import SubUserProxy, UsageRecord
from tests.billing.conftest import fund

pytestmark = pytest.mark.django_db


def _seed(account) -> dict:
    fund(account, "25.10", reference="shared-path")
    now = timezone.now()
    orders = Order.objects.bulk_create([
        Order(account=account, type="datacenter", quantity=Decimal(2), period_days=30, country="US",
              status="active", unit_price=Decimal("1.50"), subtotal=Decimal("3.00"), discount=Decimal("0.30"),
              total=Decimal("2.70"), created_at=now - timedelta(hours=n), activated_at=now,
              expires_at=now + timedelta(days=30))
        for n in range(3)
    ] + [Order(account=account, type="residential", quantity=Decimal("1.5"), status="active",
               unit_price=Decimal(4), subtotal=Decimal(6), discount=Decimal(0), total=Decimal(6),
               traffic_gb=Decimal("1.5"), traffic_used_gb=Decimal("0.25"), created_at=now - timedelta(days=1))])
    order, residential = orders[0], orders[-1]
    OrderProxy.objects.bulk_create([
        OrderProxy(order=order, host=f"10.0.0.{n}", port=8000 + n, username="u", password="p",
                   country="US" if n else "")
        for n in range(3)
    ] + [OrderProxy(order=order, host="10.0.0.9", port=9, released_at=now)])
    proxy = SubUserProxy.objects.create(account=account, order=residential, name="Zoë", username="shared0001x",
                                        password="secret", country="US", city="Los Angeles")
    UsageRecord.objects.bulk_create([
        UsageRecord(record_id=f"shared:{h}", account=account, proxy=proxy, order=residential,
                    period_start=now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=h),
                    bytes_in=1000 * h, bytes_out=10 * h, requests=h)
        for h in range(5)
    ])
    job = CheckJob.objects.create(account=account, status="completed", total=2, done=2, live=1,
                                  started_at=now, finished_at=now)
    CheckItem.objects.bulk_create([
        CheckItem(job=job, proxy_norm="http://192.0.2.1:80", status="live", protocol="http", connect_ms=12,
                  ttfb_ms=40, exit_ip="192.0.2.1", country="US", anonymity="elite"),
        CheckItem(job=job, proxy_norm="http://192.0.2.2:80", status="dead", error="timeout"),
    ])
    return {"order": order.public_id, "proxy": proxy.public_id, "job": str(job.job_id)}


READS = [
    "account", "account/transactions", "plans", "deposits/addresses", "reference/countries",
    "reference/proxy-types", "reference/periods", "orders", "orders/{order}", "orders/{order}/proxies",
    "proxy", "proxy/{proxy}", "stats?group_by=hour", "geo/countries", "geo/states?country=US", "jobs",
    "jobs/{job}", "jobs/{job}/items",
]


def test_every_read_renders_as_drfs_serializers_render(account, make_key, api, monkeypatch):
    ids = _seed(account)
    client = api(make_key(account))
    paths = [path.format(**ids) for path in READS]
    served = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.content)
        served[path] = response.json_body
    monkeypatch.setattr(OutputSerializer, "to_representation", serializers.Serializer.to_representation)
    for path in paths:
        assert client.get(path).json_body == served[path], path
    assert served["account"]["data"]["balance"] == "25.10"
    assert served[f"orders/{ids['order']}"]["data"]["proxy_count"] == 3


class _Thing:
    def __init__(self, **values):
        self.__dict__.update(values)

    def shout(self) -> str:
        return self.name.upper()


class DrfOut(serializers.Serializer):
    """DRF's serializer; FastOut below has the same fields on OutputSerializer."""

    name = serializers.CharField()
    loud = serializers.CharField(source="shout")
    count = serializers.IntegerField()
    price = serializers.DecimalField(max_digits=8, decimal_places=2)
    at = serializers.DateTimeField(allow_null=True)
    iso = serializers.DateTimeField(format="iso-8601", required=False)
    kind = serializers.ChoiceField(choices=["a", "b"])
    maybe = serializers.CharField(allow_null=True)
    optional = serializers.CharField(required=False)
    fallback = serializers.CharField(default="dflt")
    tags = serializers.ListField(child=serializers.CharField())
    extra = serializers.SerializerMethodField()

    def get_extra(self, obj) -> str:
        return f"extra-{obj['name'] if isinstance(obj, dict) else obj.name}"


class FastOut(OutputSerializer, DrfOut):
    pass


@pytest.mark.parametrize("at", [
    datetime.datetime(2026, 7, 1, 12, 30, 5, 999, tzinfo=UTC),
    datetime.datetime(2026, 7, 1, 12, 30, 5, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime.datetime(2026, 1, 1, 0, 0),  # naive: DRF makes it aware in the current zone
    "2026-01-01 as text",
    None,
])
def test_output_serializer_matches_drf_value_by_value(at):
    values = {"name": "zoë", "count": "7", "price": Decimal("3.456"), "at": at, "iso": at, "kind": "a",
              "maybe": None, "tags": [1, "x"]}
    for instance in (_Thing(**values), dict(values)):
        if isinstance(instance, dict):
            instance["shout"] = "ZOË"
        assert FastOut(instance).data == DrfOut(instance).data
        assert len(FastOut(instance).data) >= 11
        assert FastOut([instance, instance], many=True).data == DrfOut([instance, instance], many=True).data


def test_output_serializer_follows_the_active_time_zone(settings):
    """A zone other than UTC (never activated by the API, but possible) is DRF's formatting."""
    at = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    instance = _Thing(name="a", count=1, price=1, at=at, iso=at, kind="b", maybe="m", optional="o", tags=[])
    with timezone.override(ZoneInfo("Asia/Tokyo")):
        fast, drf = FastOut(instance).data, DrfOut(instance).data
    assert fast == drf and fast["at"] == "2026-07-01T21:00:00Z"


def test_output_serializer_with_a_missing_required_value_fails_as_drf_does():
    with pytest.raises(AttributeError):
        DrfOut(_Thing(name="a")).data  # noqa: B018 - evaluating is the point
    with pytest.raises(AttributeError):
        FastOut(_Thing(name="a")).data  # noqa: B018


# --- pagination ------------------------------------------------------------------------------


def _entries(account, count: int) -> None:
    LedgerEntry.objects.bulk_create([
        LedgerEntry(account=account, type="deposit", amount=Decimal(1), balance_after=Decimal(n + 1),
                    description="d", reference=f"page-{n}")
        for n in range(count)
    ])


@pytest.mark.parametrize(("page", "expected"), [("1", 3), ("3", 1), ("4", 0), ("99", 0)])
def test_a_page_and_its_total_come_in_one_query(account, django_assert_num_queries, page, expected):
    _entries(account, 7)
    queryset = LedgerEntry.objects.filter(account=account).order_by("id")
    past_the_end = expected == 0
    with django_assert_num_queries(2 if past_the_end else 1):  # past the end: no row carries it
        items, meta = paginate(queryset, {"page": page, "limit": "3"}, default_limit=20, max_limit=100)
    assert len(items) == expected and meta == {"page": int(page), "limit": 3, "total": 7}
    assert all(not hasattr(item, "_page_total") for item in items)


def test_an_empty_list_is_one_query_too(account, django_assert_num_queries):
    with django_assert_num_queries(1):
        items, meta = paginate(LedgerEntry.objects.filter(account=account), {}, default_limit=20, max_limit=100)
    assert items == [] and meta["total"] == 0


def test_dict_rows_and_grouped_queries_count_right(account, django_assert_num_queries):
    _entries(account, 5)
    rows = LedgerEntry.objects.filter(account=account).order_by("id").values("reference")
    with django_assert_num_queries(1):
        items, meta = paginate(rows, {"limit": "2"}, default_limit=20, max_limit=100)
    assert items == [{"reference": "page-0"}, {"reference": "page-1"}] and meta["total"] == 5
    distinct = LedgerEntry.objects.filter(account=account).values("reference").distinct().order_by("reference")
    with django_assert_num_queries(2):  # a DISTINCT list is counted on its own
        items, meta = paginate(distinct, {"limit": "2", "page": "2"}, default_limit=20, max_limit=100)
    assert items == [{"reference": "page-2"}, {"reference": "page-3"}] and meta["total"] == 5


@pytest.mark.parametrize(("page", "expected", "queries"), [("1", 3, 2), ("2", 2, 1), ("3", 0, 2), ("4", 0, 2)])
def test_a_list_counted_apart_needs_no_count_when_its_page_ends_it(account, django_assert_num_queries, page,
                                                                     expected, queries):
    _entries(account, 5)
    distinct = LedgerEntry.objects.filter(account=account).values("reference").distinct().order_by("reference")
    with django_assert_num_queries(queries):
        items, meta = paginate(distinct, {"limit": "3", "page": page}, default_limit=20, max_limit=100)
    assert len(items) == expected and meta["total"] == 5
    empty = LedgerEntry.objects.filter(account=account, amount__lt=0).values("type").distinct()
    with django_assert_num_queries(1):  # nothing from the start: nothing to count
        assert paginate(empty, {}, default_limit=20, max_limit=100) == ([], {"page": 1, "limit": 20, "total": 0})

from decimal import Decimal

import pytest

from core.errors import DomainValidationError
from orders.models import PriceRule, VolumeTier
from orders.pricing import quote

pytestmark = pytest.mark.django_db


def test_default_catalogue_prices_datacenter_per_ip_per_period():
    q = quote(type="datacenter", quantity=5, period=30, country="DE")
    assert q.unit_price == Decimal("1.50")
    assert q.subtotal == Decimal("7.50")
    assert q.discount == Decimal("0.00")
    assert q.total == Decimal("7.50")


def test_unit_price_scales_with_the_period_and_period_discount_applies():
    q = quote(type="datacenter", quantity=2, period=90, country="DE")
    assert q.unit_price == Decimal("4.50")
    assert q.subtotal == Decimal("9.00")
    assert q.discount == Decimal("0.90")  # 10 % for 90 days
    assert q.total == Decimal("8.10")


def test_volume_tier_applies_from_its_minimum():
    below = quote(type="datacenter", quantity=9, period=30)
    at = quote(type="datacenter", quantity=10, period=30)
    assert below.discount == Decimal("0.00")
    assert at.subtotal == Decimal("15.00")
    assert at.discount == Decimal("0.75")
    assert at.total == Decimal("14.25")


def test_residential_is_priced_per_gb_without_period_and_rounds_half_up():
    q = quote(type="residential", quantity="2.5", country="DE")
    assert q.period is None
    assert q.unit_price == Decimal("3.50")
    assert q.subtotal == Decimal("8.75")
    assert q.total == Decimal("8.75")
    rule = PriceRule.objects.get(proxy_type__code="residential", country__isnull=True)
    rule.unit_price = Decimal("3.333")
    rule.save()
    assert quote(type="residential", quantity="1.5").subtotal == Decimal("5.00")  # 3.33 × 1.5 = 4.995


def test_country_rule_beats_the_default_rule():
    assert quote(type="residential", quantity=1, country="US").unit_price == Decimal("4.00")
    assert quote(type="residential", quantity=1, country="us").country == "US"


def test_highest_tier_reached_wins():
    rule = PriceRule.objects.get(proxy_type__code="residential", country__isnull=True)
    VolumeTier.objects.filter(rule=rule).delete()
    VolumeTier.objects.create(rule=rule, min_quantity=5, discount_percent=10)
    VolumeTier.objects.create(rule=rule, min_quantity=20, discount_percent=30)
    assert quote(type="residential", quantity=20).discount_percent == Decimal("30")
    assert quote(type="residential", quantity=19).discount_percent == Decimal("10")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "nope", "quantity": 1, "period": 30}, "type"),
        ({"type": None, "quantity": 1}, "type"),
        ({"type": "datacenter", "quantity": 1}, "period"),
        ({"type": "datacenter", "quantity": 1, "period": 13}, "period"),
        ({"type": "datacenter", "quantity": "1.5", "period": 30}, "quantity"),
        ({"type": "datacenter", "quantity": 0, "period": 30}, "quantity"),
        ({"type": "datacenter", "quantity": 100000, "period": 30}, "quantity"),
        ({"type": "datacenter", "quantity": "abc", "period": 30}, "quantity"),
        ({"type": "datacenter", "quantity": True, "period": 30}, "quantity"),
        ({"type": "residential", "quantity": "1.0001"}, "quantity"),
        ({"type": "residential", "quantity": "1e40"}, "quantity"),
        ({"type": "residential", "quantity": 1, "country": "XX"}, "country"),
        ({"type": "mobile", "quantity": 1, "period": 30, "country": "SE"}, "country"),
        ({"type": "ipv6", "quantity": 5, "period": 30}, "quantity"),
    ],
)
def test_invalid_input_names_the_field(body, field):
    with pytest.raises(DomainValidationError) as info:
        quote(**body)
    assert field in info.value.meta["fields"]


def test_every_problem_is_reported_at_once():
    with pytest.raises(DomainValidationError) as info:
        quote(type="datacenter", quantity="x", period=13, country="XX")
    assert set(info.value.meta["fields"]) == {"quantity", "period", "country"}


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_price_edit_in_another_process_prices_the_next_quote_here(settings):
    """The catalogue snapshot is per process; an edit anywhere moves the shared version."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    from urllib.parse import urlparse, urlunparse

    from django.db import connection

    if not (settings.REDIS_URL and settings.IS_POSTGRES):
        pytest.skip("needs PostgreSQL and Redis shared with another process")
    assert quote(type="datacenter", quantity=1, period=30).unit_price == Decimal("1.50")  # snapshot loaded
    url = urlparse(os.environ["DATABASE_URL"])
    env = {**os.environ, "DATABASE_URL": urlunparse(url._replace(path="/" + connection.settings_dict["NAME"])),
           "REDIS_URL": settings.REDIS_URL, "PORTAL_ALLOW_DEMO_SECRETS": "1", "DEBUG": "0"}
    edit = ("from orders.models import PriceRule; r = PriceRule.objects.get(proxy_type__code='datacenter', "
            "country__isnull=True); r.unit_price = '2.00'; r.save()")
    subprocess.run([sys.executable, "manage.py", "shell", "-c", edit], cwd=Path(__file__).resolve().parents[2],
                   env=env, check=True, capture_output=True, timeout=120)
    assert quote(type="datacenter", quantity=1, period=30).unit_price == Decimal("2.00")


def test_a_write_no_signal_sees_reaches_the_prices_within_the_snapshot_age(monkeypatch):
    from orders import catalogue

    assert quote(type="datacenter", quantity=1, period=30).unit_price == Decimal("1.50")
    PriceRule.objects.filter(proxy_type__code="datacenter", country__isnull=True).update(unit_price="3.00")
    assert quote(type="datacenter", quantity=1, period=30).unit_price == Decimal("1.50")  # snapshot still young
    later = catalogue._clock() + catalogue.MAX_AGE_S + 1
    monkeypatch.setattr(catalogue, "_clock", lambda: later)
    assert quote(type="datacenter", quantity=1, period=30).unit_price == Decimal("3.00")


def test_a_request_reads_the_catalogue_version_once(account, make_key, api, monkeypatch):
    """Pricing asks for the catalogue several times; one web request reads its version once."""
    from django.core.cache import cache

    from orders import catalogue

    client = api(make_key(account, scopes=["orders:read"]))
    reads = []
    get_or_set = cache.get_or_set
    monkeypatch.setattr(cache, "get_or_set", lambda key, *a, **kw: reads.append(key) or get_or_set(key, *a, **kw))
    for expected in (1, 2):
        response = client.post("orders/calc", {"type": "datacenter", "quantity": 1, "period": 30})
        assert response.status_code == 200 and response.json_body["data"]["unit_price"] == "1.50"
        assert reads.count(catalogue.VERSION_KEY) == expected


def test_within_a_request_an_edit_there_is_priced_at_once_and_one_elsewhere_next_time():
    from orders import catalogue

    catalogue._request_started()
    try:
        assert quote(type="datacenter", quantity=1, period=30).unit_price == Decimal("1.50")
        rule = PriceRule.objects.get(proxy_type__code="datacenter", country__isnull=True)
        rule.unit_price = Decimal("2.25")
        rule.save()  # in this request
        assert quote(type="datacenter", quantity=1, period=30).unit_price == Decimal("2.25")
        PriceRule.objects.filter(pk=rule.pk).update(unit_price="2.50")
        catalogue.cache.set(catalogue.VERSION_KEY, "moved-by-another-process", timeout=None)
        assert quote(type="datacenter", quantity=1, period=30).unit_price == Decimal("2.25")  # this request
    finally:
        catalogue._request_finished()
    catalogue._request_started()
    try:
        assert quote(type="datacenter", quantity=1, period=30).unit_price == Decimal("2.50")  # the next one
    finally:
        catalogue._request_finished()

"""Every CSV export neutralises text a spreadsheet would run as a formula (issue 22, finding 6).

A proxy line, an imported pool proxy, a delivered proxy's login or a sub-user's name that
starts with `=`, `+`, `-`, `@` (or a tab, a line break, a full-width sign) comes out of the
CSV as text with a leading `'`, through the API and through the dashboard alike; numbers
stay numbers. One writer does it: `core.files`.
"""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from checker.models import CheckItem, PoolProxy
from checker.services.pools import pool_import
from core.files import FORMULA_TRIGGERS
from orders.models import InventoryProxy, Order, OrderProxy
from orders.residential import services
from tests.checker.servers import closed_port
from tests.conftest import dashboard_client
from tests.orders.residential.subuser_fixtures import deliver, record, residential_order
from tests.security.conftest import call

FORMULA = "=cmd|'/Ccalc'!A0"  # runs a program in spreadsheets that allow DDE
PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?\Z")


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def assert_formula_safe(text: str) -> list[list[str]]:
    """No cell a spreadsheet would evaluate: every cell starting with a trigger is a number."""
    rows = rows_of(text)
    for row in rows:
        for cell in row:
            assert not (cell[:1] in FORMULA_TRIGGERS and not PLAIN_NUMBER.match(cell)), (cell, row)
    return rows


def body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode()


def dashboard(tenant) -> Client:
    return dashboard_client(tenant.user, tenant.account)


# ----------------------------------------------------------------------------- checker jobs
@pytest.fixture
def formula_job(tenants, settings, django_capture_on_commit_callbacks):
    """A check job of the proxy line `=cmd|'/Ccalc'!A0@127.0.0.1:<closed>` (a valid line: the
    text before `@` is a username), run by the real engine: the item is dead, refused."""
    settings.CHECKER_ALLOW_PRIVATE = True
    settings.CHECKER_TIMEOUT_S = 3.0
    line = f"{FORMULA}@127.0.0.1:{closed_port()}"
    with django_capture_on_commit_callbacks(execute=True):
        created = call(tenants.a.key, "POST", "check", {"proxies_text": line})
    assert created.status_code == 202, created.json_body
    item = CheckItem.objects.get(job__job_id=created.json_body["data"]["job_id"])
    assert item.proxy_norm == line and item.status == "dead"
    return item


def test_checker_job_csv_export_neutralises_a_formula_proxy_line_api(tenants, formula_job):
    response = call(tenants.a.key, "GET", f"jobs/{formula_job.job.job_id}/export?format=csv")
    assert response.status_code == 200
    header, row = assert_formula_safe(response.raw.decode())
    assert row[header.index("proxy_norm")] == "'" + formula_job.proxy_norm
    assert row[header.index("status")] == "dead"


def test_checker_job_csv_export_neutralises_a_formula_proxy_line_dashboard(tenants, formula_job):
    response = dashboard(tenants.a).get(f"/checker/jobs/{formula_job.job.job_id}/export/", {"format": "csv"})
    assert response.status_code == 200
    header, row = assert_formula_safe(body(response))
    assert row[header.index("proxy_norm")] == "'" + formula_job.proxy_norm


def test_checker_job_json_and_txt_exports_keep_the_line_as_written(tenants, formula_job):
    """Only CSV is read by spreadsheets: JSON and txt carry the text unchanged."""
    json_rows = call(tenants.a.key, "GET", f"jobs/{formula_job.job.job_id}/export?format=json").json_body
    assert json_rows[0]["proxy_norm"] == formula_job.proxy_norm
    txt = call(tenants.a.key, "GET", f"jobs/{formula_job.job.job_id}/export?format=txt&status=dead")
    assert txt.raw.decode() == formula_job.proxy_norm + "\n"


# ----------------------------------------------------------------------------- pools
@pytest.fixture
def formula_pool_proxies(db):
    """Lines an operator imported from a public feed, as the re-check leaves them when live."""
    lines = [f"{FORMULA}@203.0.113.7:8080", "+1+cmd|x@203.0.113.8:8080", "-2+3@203.0.113.9:8080"]
    for pool in ("public", "premium"):
        assert pool_import(pool=pool, text="\n".join(lines))["imported"] == 3
    PoolProxy.objects.update(
        last_status="live", last_checked_at=timezone.now(), protocol="http", country="US",
        anonymity="elite", latency_ms=120, history="1", uptime_score=1.0,
    )
    return lines


def _assert_pool_csv(text: str, lines: list[str]) -> None:
    header, *rows = assert_formula_safe(text)
    assert sorted(r[header.index("proxy_norm")] for r in rows) == sorted("'" + line for line in lines)
    assert {r[header.index("latency_ms")] for r in rows} == {"120"}


def test_public_pool_csv_export_neutralises_imported_lines_api(tenants, formula_pool_proxies):
    response = call(tenants.a.key, "GET", "public-proxies/export?format=csv")
    assert response.status_code == 200
    _assert_pool_csv(response.raw.decode(), formula_pool_proxies)


def test_premium_pool_csv_export_neutralises_imported_lines_api(tenants, formula_pool_proxies):
    tenants.a.account.premium_until = timezone.now() + timedelta(days=30)
    tenants.a.account.save()
    response = call(tenants.a.key, "GET", "premium/proxies/export?format=csv")
    assert response.status_code == 200
    _assert_pool_csv(response.raw.decode(), formula_pool_proxies)


def test_public_pool_csv_export_neutralises_imported_lines_dashboard(tenants, formula_pool_proxies):
    response = dashboard(tenants.a).get("/checker/public/export/", {"format": "csv"})
    assert response.status_code == 200
    _assert_pool_csv(body(response), formula_pool_proxies)


# ----------------------------------------------------------------------------- orders
@pytest.fixture
def formula_order(tenants, django_capture_on_commit_callbacks):
    """An order delivered proxies whose logins start with formulas (stock loaded by the
    operator from a supplier's list, or an upstream seller's answer)."""
    logins = [(FORMULA, "+1+cmd|x"), ("@SUM(1+1)", "\t=1+1"), ("-5", "-5.00")]
    InventoryProxy.objects.bulk_create([
        InventoryProxy(type="datacenter", country="DE", host=f"10.9.0.{i}", port=8000 + i,
                       username=user, password=password, protocol="http")
        for i, (user, password) in enumerate(logins, start=1)
    ])
    with django_capture_on_commit_callbacks(execute=True):
        placed = call(tenants.a.key, "POST", "orders",
                      {"type": "datacenter", "quantity": 3, "period": 30, "country": "DE"})
    assert placed.status_code == 201, placed.json_body
    order = Order.objects.get(public_id=placed.json_body["data"]["id"])
    assert OrderProxy.objects.filter(order=order).count() == 3
    return order


def _assert_order_csv(text: str) -> None:
    header, *rows = assert_formula_safe(text)
    logins = {(r[header.index("username")], r[header.index("password")]) for r in rows}
    # "-5" and "-5.00" are plain numbers: nothing to evaluate, left as written
    assert logins == {("'" + FORMULA, "'+1+cmd|x"), ("'@SUM(1+1)", "'\t=1+1"), ("-5", "-5.00")}


def test_order_csv_download_neutralises_formula_logins_api(tenants, formula_order):
    response = call(tenants.a.key, "GET", f"orders/{formula_order.public_id}/download?format=csv")
    assert response.status_code == 200
    _assert_order_csv(response.raw.decode())


def test_order_csv_download_neutralises_formula_logins_dashboard(tenants, formula_order):
    response = dashboard(tenants.a).get(f"/orders/{formula_order.public_id}/download.csv")
    assert response.status_code == 200
    _assert_order_csv(body(response))


# ----------------------------------------------------------------------------- statistics
@pytest.fixture
def formula_subusers(tenants):
    """Sub-user proxies named by the customer, with traffic on 2025-03-01."""
    order = residential_order(tenants.a.account, gb="100")
    names = [FORMULA, "\uff1dcmd|'/Ccalc'!A0", "@SUM(1+1)"]  # the second: a full-width equals sign
    created = [services.subuser_create(account=tenants.a.account, order_id=order.public_id, name=n) for n in names]
    assert deliver([record(p.username, 100, 10, period_start="2025-03-01T10:00:00Z") for p in created]
                   ).json_body["data"]["accepted"] == 3
    return names


def _assert_stats_csv(text: str, names: list[str]) -> None:
    header, *rows = assert_formula_safe(text)
    assert sorted(r[header.index("name")] for r in rows) == sorted("'" + n for n in names)
    assert {r[header.index("bytes_total")] for r in rows} == {"110"}


def test_stats_csv_export_neutralises_formula_names_api(tenants, formula_subusers):
    response = call(tenants.a.key, "GET", "stats/export?format=csv&from=2025-03-01&to=2025-03-01")
    assert response.status_code == 200
    _assert_stats_csv(response.raw.decode(), formula_subusers)


def test_stats_csv_export_neutralises_formula_names_dashboard(tenants, formula_subusers):
    response = dashboard(tenants.a).get("/stats/export.csv", {"from": "2025-03-01", "to": "2025-03-01"})
    assert response.status_code == 200
    _assert_stats_csv(body(response), formula_subusers)


def test_money_stays_numeric_in_csv():
    """A negative amount written as a Decimal (or as plain-number text) is not prefixed."""
    from core.files import csv_text

    text = csv_text(["amount", "note"], [[Decimal("-5.00"), "-5.00"], [Decimal("12.50"), "-refund"]])
    assert rows_of(text) == [["amount", "note"], ["-5.00", "-5.00"], ["12.50", "'-refund"]]

"""Proxies and Statistics dashboard pages without JavaScript: plain form posts, server-side checks."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Role
from orders.residential.models import SubUserProxy
from tests.conftest import PASSWORD

from .subuser_fixtures import deliver, record, residential_order


@pytest.fixture
def browser(owner):
    client = Client()
    assert client.login(email=owner.email, password=PASSWORD)
    return client


@pytest.fixture
def order(account):
    return residential_order(account, gb="10")


def create(browser, order, **extra):
    data = {"name": "web", "order": order.public_id, "protocol": "http", "country": "US", "state": "California",
            "city": "Los Angeles", "zip": "", "rotation": "sticky", "sticky_ttl_minutes": "15",
            "traffic_limit_gb": "", "whitelist": "203.0.113.9\n198.51.100.0/24", **extra}
    return browser.post("/proxies/", data)


def test_create_without_javascript_and_see_connection_strings(browser, order):
    r = create(browser, order)
    assert r.status_code == 302, r.content.decode()[:2000]
    proxy = SubUserProxy.objects.get()
    assert (proxy.country, proxy.state, proxy.city) == ("US", "CA", "Los Angeles")
    assert proxy.whitelist == ["203.0.113.9", "198.51.100.0/24"]
    page = browser.get(r["Location"]).content.decode()
    assert f"{proxy.username}-country-us-state-ca-city-los_angeles-session-{proxy.session_id}" in page
    assert "Copy" in page and "@gw.localhost:7777" in page
    listing = browser.get("/proxies/").content.decode()
    assert "web" in listing and proxy.public_id in listing


def test_city_outside_its_state_shows_the_error_beside_the_field(browser, order):
    r = create(browser, order, state="NY")
    assert r.status_code == 400
    html = r.content.decode()
    assert 'id="id_city_error"' in html and "is not in US-NY" in html
    assert not SubUserProxy.objects.exists()


def test_a_taken_name_is_refused_beside_the_name_field(browser, order):
    assert create(browser, order, name="Office").status_code == 302
    r = create(browser, order, name="office")
    assert r.status_code == 400
    html = r.content.decode()
    assert 'id="id_name_error"' in html and "A proxy named “office” already exists in this account" in html
    assert SubUserProxy.objects.count() == 1
    assert create(browser, order, name="Warehouse").status_code == 302
    other = SubUserProxy.objects.get(name="Warehouse")
    edit = browser.post(f"/proxies/{other.public_id}/", {
        "name": "OFFICE", "protocol": "http", "country": "", "state": "", "city": "", "zip": "",
        "rotation": "rotating", "sticky_ttl_minutes": "10", "traffic_limit_gb": "", "whitelist": "",
    })
    assert edit.status_code == 400 and 'id="id_name_error"' in edit.content.decode()
    other.refresh_from_db()
    assert other.name == "Warehouse"


def test_bad_whitelist_shows_the_error(browser, order):
    r = create(browser, order, whitelist="nonsense")
    assert r.status_code == 400 and 'id="id_whitelist_error"' in r.content.decode()


def test_edit_disable_enable_delete(browser, order):
    create(browser, order)
    proxy = SubUserProxy.objects.get()
    url = f"/proxies/{proxy.public_id}/"
    r = browser.post(url, {"name": "renamed", "protocol": "socks5", "country": "US", "state": "CA", "city": "",
                           "zip": "", "rotation": "rotating", "sticky_ttl_minutes": "10", "traffic_limit_gb": "3",
                           "whitelist": ""})
    assert r.status_code == 302
    proxy.refresh_from_db()
    assert (proxy.name, proxy.protocol, proxy.rotation, str(proxy.traffic_limit_gb.normalize()), proxy.whitelist) == (
        "renamed", "socks5", "rotating", "3", [])
    browser.post(f"{url}status", {"status": "disabled"})
    proxy.refresh_from_db()
    assert proxy.status == "disabled"
    browser.post(f"{url}status", {"status": "active"})
    proxy.refresh_from_db()
    assert proxy.status == "active"
    assert browser.get(f"{url}?delete=1").content.decode().count("open data-open-on-load") == 1
    assert browser.post(f"{url}delete").status_code == 302
    assert browser.get(url).status_code == 404


def test_viewer_sees_but_cannot_create(account, order):
    from accounts.services import user_create_with_account

    viewer, _ = user_create_with_account(email="viewer@example.com", password=PASSWORD, name="V")
    Membership.objects.create(user=viewer, account=account, role=Role.VIEWER)
    client = Client()
    client.login(email="viewer@example.com", password=PASSWORD)
    client.post(reverse("dashboard:switch_account"), {"account": account.public_id})
    page = client.get("/proxies/")
    assert page.status_code == 200 and "Create proxy" not in page.content.decode()
    assert create(client, order).status_code == 403
    assert not SubUserProxy.objects.exists()


def test_another_tenants_proxy_page_is_404(browser, outsider_account):
    from orders.residential import services

    theirs = services.subuser_create(account=outsider_account, order_id=residential_order(outsider_account).public_id,
                                     name="theirs")
    assert browser.get(f"/proxies/{theirs.public_id}/").status_code == 404
    assert browser.post(f"/proxies/{theirs.public_id}/delete").status_code == 404
    assert browser.post(f"/proxies/{theirs.public_id}/status", {"status": "disabled"}).status_code == 404
    assert browser.get("/stats/", {"proxy_id": theirs.public_id}).status_code == 404


def test_geo_picker_endpoints(browser):
    states = browser.get("/proxies/geo/states", {"country": "US"}).json()["items"]
    assert {"code": "CA", "name": "California"} in states
    cities = browser.get("/proxies/geo/cities", {"country": "US", "state": "CA"}).json()["items"]
    assert cities[0]["name"] == "Los Angeles"
    assert browser.get("/proxies/geo/states", {"country": "XX"}).status_code == 400


def test_statistics_page_shows_chart_data_tables_and_exports(browser, account, order):
    from orders.residential import services

    proxy = services.subuser_create(account=account, order_id=order.public_id, name="alpha")
    deliver([record(proxy.username, 1500, 500, period_start="2025-03-01T10:00:00Z", requests=7)])
    r = browser.get("/stats/", {"from": "2025-03-01", "to": "2025-03-02"})
    html = r.content.decode()
    assert r.status_code == 200
    assert 'id="traffic-chart-data" type="application/json"' in html
    assert "vendor/chartjs/chart.umd.js" in html
    assert '<span title="2,000 bytes">0.00 GB</span>' in html and "alpha" in html
    export = browser.get("/stats/export.csv", {"from": "2025-03-01", "to": "2025-03-02"})
    assert export.status_code == 200 and "2025-03-01T00:00:00Z" in export.content.decode()
    bad = browser.get("/stats/", {"from": "2025-02-30"})
    assert bad.status_code == 200 and "From must be a date" in bad.content.decode()
    after = browser.get("/stats/", {"from": "2025-03-05", "to": "2025-03-01"}).content.decode()
    assert "From must not be after To." in after
    week = browser.get("/stats/", {"group_by": "week"}).content.decode()  # a hand-edited address
    assert '<p class="field-error">Group by must be day or hour.</p>' in week


def test_the_proxies_page_reads_no_proxy_or_order_on_its_own(browser, order, account):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def counted(proxies: int) -> int:
        for _ in range(proxies):
            n = SubUserProxy.objects.count()
            SubUserProxy.objects.create(account=account, order=order, name=f"p{n}", username=f"countq{n:04d}",
                                        password="x")
        with CaptureQueriesContext(connection) as queries:
            response = browser.get("/proxies/")
        assert response.status_code == 200 and order.public_id.encode() in response.content
        return len(queries)

    counted(1)  # the session, the catalogue: read on the first request
    assert counted(0) == counted(3)

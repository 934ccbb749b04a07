"""Proxies and Statistics pages in Chromium: create a geo-targeted sub-user with the cascading
pickers, ingest usage through the signed webhook over HTTP, and see the traffic chart."""

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from orders.residential import selectors, services
from orders.residential.models import SubUserProxy
from tests.conftest import PASSWORD
from tests.orders.residential.subuser_fixtures import residential_order, sign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "statistics.png"


def _deliver(base_url: str, records: list[dict]) -> dict:
    raw = json.dumps({"records": records}).encode()
    request = urllib.request.Request(
        base_url + "/webhooks/usage", data=raw, method="POST",
        headers={"Content-Type": "application/json", "X-Signature": sign(raw)},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the live test server
        return json.loads(response.read())


def test_create_geo_targeted_sub_user_ingest_usage_and_see_the_chart(page, login, owner, account, live_server):
    order = residential_order(account, gb="25")
    login("owner@example.com", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Proxies").click()
    expect(page.get_by_role("heading", name="Proxies", level=1)).to_be_visible()

    page.get_by_role("button", name="Create proxy").click()
    dialog = page.get_by_role("dialog", name="Create proxy")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name").fill("LA scraper")
    dialog.get_by_label("Residential order").select_option(order.public_id)
    dialog.get_by_label("Country").select_option("US")
    # the state text input becomes a select of the country's states
    state = dialog.locator("select#id_state")
    expect(state).to_be_attached()
    state.select_option("CA")
    expect(dialog.locator("#city-options option[value='Los Angeles']")).to_be_attached()
    dialog.get_by_label("City").fill("Los Angeles")
    dialog.get_by_label("Rotation").select_option("sticky")
    dialog.get_by_label("Traffic limit (GB)").fill("5")
    dialog.get_by_label("IP whitelist").fill("203.0.113.7\n198.51.100.0/24")
    dialog.get_by_role("button", name="Create proxy").click()

    expect(page.get_by_role("heading", name="LA scraper", level=1)).to_be_visible()
    proxy = SubUserProxy.objects.get(name="LA scraper")
    assert (proxy.country, proxy.state, proxy.city, proxy.rotation) == ("US", "CA", "Los Angeles", "sticky")
    username = selectors.connection_username(proxy)
    assert "-country-us-state-ca-city-los_angeles-session-" in username
    strings = page.get_by_role("table", name="Connection strings")
    expect(strings).to_contain_text(f"{username}:{proxy.password}@")
    expect(strings).to_contain_text(f"http://{username}:{proxy.password}@")
    strings.get_by_role("button", name="Copy URL").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == selectors.connection(proxy).strings["url"]

    # a city outside the chosen state is refused beside the field
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Proxies").click()
    page.get_by_role("button", name="Create proxy").click()
    dialog = page.get_by_role("dialog", name="Create proxy")
    dialog.get_by_label("Name").fill("Wrong place")
    dialog.get_by_label("Country").select_option("US")
    dialog.locator("select#id_state").select_option("NY")
    dialog.get_by_label("City").fill("Los Angeles")
    dialog.get_by_role("button", name="Create proxy").click()
    expect(page.get_by_role("dialog", name="Create proxy").locator("#id_city_error")).to_contain_text("not in US-NY")
    assert not SubUserProxy.objects.filter(name="Wrong place").exists()
    page.get_by_role("dialog", name="Create proxy").get_by_role("link", name="Cancel").click()

    # usage arrives through the signed webhook, over HTTP
    other = services.subuser_create(account=account, order_id=order.public_id, name="DE pool", country="DE")
    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    records = []
    for days_ago in range(7):
        day = today - timedelta(days=days_ago)
        records.append({"id": f"la-{days_ago}", "username": username, "period_start": day.isoformat(),
                        "bytes_in": (days_ago + 2) * 150_000_000, "bytes_out": (days_ago + 1) * 20_000_000,
                        "requests": 1000 + days_ago})
        records.append({"id": f"de-{days_ago}", "username": other.username, "period_start": day.isoformat(),
                        "bytes_in": 90_000_000 * (7 - days_ago), "bytes_out": 10_000_000, "requests": 400})
    result = _deliver(live_server.url, records)
    assert result["data"]["accepted"] == 14 and result["data"]["unknown"] == []
    assert _deliver(live_server.url, records)["data"]["duplicates"] == 14
    total = sum(r["bytes_in"] + r["bytes_out"] for r in records)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Statistics").click()
    expect(page.get_by_role("heading", name="Statistics", level=1)).to_be_visible()
    expect(page.locator("canvas#traffic-chart[data-chart-ready='1']")).to_be_attached()
    # every day of the default range (the last 30 days), those without traffic as 0
    labels = page.evaluate("window.portalTrafficChart.data.labels")
    assert len(labels) == 30 and labels[-1] == today.date().isoformat()
    downloaded = page.evaluate("window.portalTrafficChart.data.datasets[0].data")
    assert downloaded.count(0) == 23 and all(downloaded[-7:])
    expect(page.get_by_test_id("total-gb")).to_have_text(f"{total / 10**9:,.2f} GB")
    expect(page.get_by_test_id("total-gb").locator("span")).to_have_attribute("title", f"{total:,} bytes")
    by_proxy = page.get_by_role("table", name="Traffic by proxy")
    expect(by_proxy.get_by_role("row")).to_have_count(3)
    expect(by_proxy).to_contain_text("LA scraper")
    expect(by_proxy).to_contain_text("DE pool")
    expect(page.get_by_role("table", name="Traffic by day").get_by_role("row")).to_have_count(8)
    page.wait_for_timeout(300)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # filter by one proxy
    page.get_by_label("Proxy", exact=True).select_option(label="DE pool")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("table", name="Traffic by proxy").get_by_role("row")).to_have_count(2)

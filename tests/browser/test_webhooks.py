"""The Webhooks page in Chromium: add an endpoint and see its secret once, send a test event to a
real receiver on 127.0.0.1 and see the delivery, resend it, disable and delete the endpoint."""

import re

import pytest
from playwright.sync_api import expect

from events.models import Endpoint
from tests.conftest import PASSWORD
from tests.events.conftest import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET_RE = re.compile(r"whsec_[0-9A-Za-z]{32}")


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    server = Receiver()
    yield server
    server.close()


def test_add_an_endpoint_send_a_test_event_and_see_the_delivery(page, login, owner, receiver):
    login("owner@example.com", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()

    page.get_by_role("button", name="Add endpoint").click()
    dialog = page.get_by_role("dialog", name="Add endpoint")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Endpoint URL").fill(receiver.url)
    dialog.get_by_label("order.activated").check()
    dialog.get_by_label("deposit.credited").check()
    dialog.get_by_role("button", name="Add endpoint").click()

    shown = page.get_by_role("dialog", name="Your endpoint's signing secret")
    expect(shown).to_be_visible()
    expect(shown).to_contain_text("This secret will not be shown again")
    secret = SECRET_RE.search(shown.inner_text()).group(0)
    endpoint = Endpoint.objects.get()
    assert secret == endpoint.secret and endpoint.events == ["order.activated", "deposit.credited"]
    receiver.secret = secret
    shown.get_by_role("button", name="Done").click()
    expect(page.get_by_role("dialog", name="Your endpoint's signing secret")).to_have_count(0)
    assert secret not in page.content()
    page.reload()
    assert secret not in page.content()

    row = page.locator("#webhook-endpoints-table tbody tr", has_text=receiver.url)
    expect(row).to_contain_text("enabled")
    row.get_by_role("link", name="Deliveries").click()
    expect(page.get_by_text("No deliveries yet.")).to_be_visible()
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("status")).to_contain_text("Test event evt_")
    deliveries = page.locator("#webhook-deliveries-table tbody tr")
    expect(deliveries).to_have_count(1)
    expect(deliveries.first).to_contain_text("ping")
    expect(deliveries.first).to_contain_text("200")
    assert len(receiver.calls) == 1 and receiver.calls[0]["verified"]
    assert receiver.calls[0]["json"]["type"] == "ping"

    deliveries.first.get_by_role("button", name="Resend").click()
    expect(page.locator("#webhook-deliveries-table tbody tr")).to_have_count(2)
    assert len(receiver.calls) == 2

    page.get_by_role("button", name="Disable").click()
    expect(page.locator(".details")).to_contain_text("disabled")
    assert Endpoint.objects.get().enabled is False

    page.get_by_role("link", name="← Webhooks").click()
    page.locator("#webhook-endpoints-table tbody tr", has_text=receiver.url).get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("dialog", name="Delete endpoint")
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()
    assert not Endpoint.objects.exists()

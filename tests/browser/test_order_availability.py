"""The order form in Chromium: availability per type and country, the live stock-or-balance
note (stock said first) and the Place order button disabled when the choice cannot be sold."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from billing.services import ledger_post
from tests.conftest import PASSWORD
from tests.orders.conftest import add_stock, ensure_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_live_availability_note_and_disabled_buy_button(page, login, owner):
    ensure_catalogue()
    account = Membership.objects.get(user=owner).account
    ledger_post(account=account, type="deposit", amount=Decimal("1.00"), reference="browser-avail-fund",
                description="Test deposit")
    add_stock("datacenter", "DE", 1)
    login(owner.email, PASSWORD)
    page.goto("/orders/")
    place = page.get_by_role("button", name="Place order")
    page.get_by_label("Proxy type").select_option("datacenter")
    page.get_by_label("Period").select_option(label="30 days")
    page.get_by_label("Country").select_option(label="Germany")
    page.get_by_label("Quantity").fill("3")
    # Both short: the stock is said, not the balance; nothing to buy.
    expect(page.get_by_test_id("order-stock")).to_have_text("Only 1 Datacenter proxy is in stock in Germany; you asked for 3.")
    expect(page.get_by_test_id("order-balance")).to_have_count(0)
    expect(place).to_be_disabled()
    # Enough stock, short balance: the balance is said, and the server refuses with 402 if tried.
    page.get_by_label("Quantity").fill("1")
    expect(page.get_by_test_id("order-balance")).to_contain_text("USD short of this price")
    expect(page.get_by_test_id("order-stock")).to_have_count(0)
    expect(place).to_be_enabled()
    # The live price names a wrong field by its label.
    page.get_by_label("Quantity").fill("abc")
    expect(page.get_by_test_id("order-price-error")).to_contain_text("Quantity:")

    availability = page.get_by_role("table", name="Availability")
    page.locator("summary", has_text="Availability").click()
    expect(availability.locator('tr[data-type="datacenter"][data-country="DE"]')).to_contain_text("In stock")
    expect(availability.locator('tr[data-type="isp"][data-country=""]')).to_contain_text("Out of stock")

"""The Orders page in Chromium: a funded member prices and places an order, sees it active, downloads it."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from billing.services import ledger_post
from orders.models import Order, OrderProxy
from tests.conftest import PASSWORD
from tests.orders.conftest import add_stock, ensure_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_place_an_order_with_the_live_price_then_download_its_list(page, login, owner):
    ensure_catalogue()
    account = Membership.objects.get(user=owner).account
    ledger_post(account=account, type="deposit", amount=Decimal("50.00"), reference="browser-orders-fund",
                description="Test deposit")
    add_stock("datacenter", "DE", 12)

    login(owner.email, PASSWORD)
    page.goto("/orders/")
    page.get_by_label("Proxy type").select_option("datacenter")
    page.get_by_label("Quantity").fill("10")
    page.get_by_label("Period").select_option(label="30 days")
    page.get_by_label("Country").select_option(label="Germany")

    # The live price (orders.js → the dashboard price endpoint) shows before submitting.
    price = page.get_by_test_id("order-total")
    expect(price).to_have_text("14.25 USD")
    page.get_by_label("Quantity").fill("2")
    expect(price).to_have_text("3.00 USD")
    assert not Order.objects.exists()

    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/orders/ord_[0-9A-Za-z]+/$"))
    expect(page.get_by_test_id("order-status")).to_have_text("active")
    order = Order.objects.get()
    assert order.total == Decimal("3.00")
    account.refresh_from_db()
    assert account.balance == Decimal("47.00")
    rows = page.get_by_role("table", name="Proxies").locator("tbody tr")
    expect(rows).to_have_count(2)

    with page.expect_download() as info:
        page.get_by_role("link", name="Download TXT").click()
    download = info.value
    assert download.suggested_filename == f"{order.public_id}.txt"
    with open(download.path(), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    expected = [f"{p.host}:{p.port}:{p.username}:{p.password}" for p in OrderProxy.objects.filter(order=order).order_by("id")]
    assert lines == expected

    page.get_by_role("link", name="← Orders").click()
    table = page.get_by_role("table", name="Orders")
    expect(table.get_by_role("row", name=re.compile(order.public_id))).to_contain_text("active")


def test_calculate_price_works_without_javascript(chromium, live_server, owner):
    ensure_catalogue()
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(owner.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.goto("/orders/")
        page.get_by_label("Proxy type").select_option("residential")
        page.get_by_label("Quantity").fill("10")
        page.get_by_label("Period").select_option("")
        page.get_by_role("button", name="Calculate price").click()
        expect(page.get_by_test_id("order-total")).to_have_text("33.25 USD")
    finally:
        context.close()

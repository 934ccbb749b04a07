"""The Overview's getting-started checklist in Chromium: a visitor signs up and the steps tick
off one by one as they are taken on the real pages, until the checklist is gone."""

import re
from decimal import Decimal
from urllib.parse import urlparse

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import Membership
from billing.services import ledger_post
from tests.orders.conftest import ensure_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Visitor-pass-2024!"


def _step(page, key: str):
    return page.get_by_test_id("checklist").locator(f'[data-step="{key}"]')


def _expect_done(page, *done: str):
    for key in ("verify_email", "top_up", "first_order", "first_key", "first_subuser"):
        expect(_step(page, key)).to_have_attribute("data-done", "true" if key in done else "false")
    expect(page.get_by_test_id("checklist")).to_contain_text(f"{len(done)} of 5 steps done")


def test_checklist_ticks_off_in_a_real_journey(page, settings, live_server):
    ensure_catalogue()
    # Verification optional: the new customer reaches the Overview before confirming the address.
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("starter@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.goto("/")
    expect(page.get_by_role("heading", name="Getting started")).to_be_visible()
    _expect_done(page)
    expect(page.locator("canvas#overview-traffic-chart[data-chart-ready='1']")).to_be_attached()
    assert page.evaluate("window.portalOverviewChart.data.labels.length") == 30

    # 1. Verify the e-mail address through the link in the mail.
    (confirmation,) = [m for m in mail.outbox if "starter@example.com" in m.to]
    page.goto(urlparse(re.search(r"https?://\S+", confirmation.body).group(0)).path)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(lambda url: "/confirm-email/" not in url)
    page.goto("/")
    _expect_done(page, "verify_email")

    # 2. A deposit is credited (the chain watcher's part, outside the browser).
    account = Membership.objects.get(user__email="starter@example.com").account
    ledger_post(account=account, type="deposit", amount=Decimal("50.00"), reference="browser-overview-fund",
                description="Deposit")
    page.reload()
    _expect_done(page, "verify_email", "top_up")

    # 3. The first order, from the checklist's link: residential traffic.
    _step(page, "first_order").get_by_role("link", name="Order proxies").click()
    page.get_by_label("Proxy type").select_option("residential")
    page.get_by_label("Quantity").fill("1")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/orders/ord_[0-9A-Za-z]+/$"))
    expect(page.get_by_test_id("order-status")).to_have_text("active")
    page.goto("/")
    _expect_done(page, "verify_email", "top_up", "first_order")

    # 4. The first API key: the checklist's link opens the creation dialog.
    _step(page, "first_key").get_by_role("link", name="Create API key").click()
    dialog = page.get_by_role("dialog", name="Create API Key")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name").fill("First key")
    dialog.get_by_label("balance:read", exact=True).check()
    dialog.get_by_role("button", name="Create API Key").click()
    expect(page.get_by_role("dialog", name="Your New API Key")).to_be_visible()
    page.goto("/")
    _expect_done(page, "verify_email", "top_up", "first_order", "first_key")

    # 5. The first sub-user, on the residential order just bought.
    _step(page, "first_subuser").get_by_role("link", name="Create sub-user").click()
    dialog = page.get_by_role("dialog", name="Create proxy")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name").fill("first sub-user")
    dialog.get_by_role("button", name="Create proxy").click()
    page.wait_for_url(re.compile(r"/proxies/prx_[0-9A-Za-z]+/$"))

    # Every step done: the checklist is gone, the rest of the Overview stays.
    page.goto("/")
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.get_by_test_id("checklist")).to_have_count(0)
    expect(page.get_by_role("heading", name="Quick actions")).to_be_visible()

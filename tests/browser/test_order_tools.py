"""Order tools in Chromium: authorize an IP on the Proxies page, replace a proxy through its
confirmation dialog, create a list link (shown once, with Copy) and revoke it."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from billing.services import ledger_post
from orders.models import AuthorizedIP, OrderListLink, OrderProxy, ProxyReplacement
from orders.services import order_place, order_provision
from tests.conftest import PASSWORD
from tests.orders.conftest import add_stock, ensure_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_authorize_an_ip_replace_a_proxy_and_share_then_revoke_a_list_link(page, login, owner, live_server):
    ensure_catalogue()
    account = Membership.objects.get(user=owner).account
    ledger_post(account=account, type="deposit", amount=Decimal("50.00"), reference="browser-tools-fund",
                description="Test deposit")
    add_stock("datacenter", "DE", 4)
    order = order_place(account=account, type="datacenter", quantity=3, period=30, country="DE")
    order_provision(order=order)
    login(owner.email, PASSWORD)

    # Authorized IPs on the Proxies page: a refused address shows its error beside the field.
    page.goto("/proxies/")
    page.get_by_label("IP address").fill("192.168.1.10")
    page.get_by_role("button", name="Add IP").click()
    expect(page.locator("#authorized_ip_error")).to_contain_text("not a public address")
    page.get_by_label("IP address").fill("8.8.8.8")
    page.get_by_role("button", name="Add IP").click()
    table = page.get_by_role("table", name="Authorized IPs")
    expect(table).to_contain_text("8.8.8.8")
    assert list(AuthorizedIP.objects.values_list("ip", flat=True)) == ["8.8.8.8"]

    # Replace the first proxy: the button opens a confirmation dialog; Cancel changes nothing.
    page.goto(f"/orders/{order.public_id}/")
    old = OrderProxy.objects.filter(order=order).order_by("id").first()
    button = page.get_by_role("button", name=f"Replace {old.host}:{old.port}")
    button.click()
    dialog = page.get_by_role("dialog", name="Replace proxy")
    expect(dialog).to_be_visible()
    dialog.get_by_role("link", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert not ProxyReplacement.objects.exists()
    button.click()
    dialog.get_by_role("button", name="Replace").click()
    expect(page.get_by_text(f"Replaced {old.host}:{old.port}")).to_be_visible()
    history = page.get_by_role("table", name="Replacements")
    expect(history).to_contain_text(f"{old.host}:{old.port}")
    expect(history).to_contain_text(owner.email)
    proxies = page.get_by_role("table", name="Proxies")
    expect(proxies.get_by_role("button", name=f"Replace {old.host}:{old.port}")).to_have_count(0)
    expect(proxies.locator("tbody tr")).to_have_count(3)
    assert ProxyReplacement.objects.get().old_proxy_id == old.pk

    # A list link: shown once with a Copy button, served without a key, then revoked.
    page.get_by_role("button", name="Create list link").click()
    new_link = page.get_by_role("dialog", name="Your new list link")
    expect(new_link).to_be_visible()
    url = page.locator("#new-list-link-url").inner_text().strip()
    assert re.fullmatch(r"https?://[^/]+/l/[0-9A-Za-z]{43}", url)
    new_link.get_by_role("button", name="Copy").click()
    expect(new_link.get_by_role("button", name="Copied")).to_be_visible()
    path = url[url.index("/l/"):]
    served = page.request.get(live_server.url + path + "?auth=ip")
    assert served.status == 200 and served.headers["cache-control"] == "no-store"
    assert len(served.text().splitlines()) == 3
    new_link.get_by_role("button", name="Done").click()
    link = OrderListLink.objects.get()
    page.get_by_role("button", name=f"Revoke link {link.public_id}").click()
    expect(page.get_by_text("List link revoked")).to_be_visible()
    assert page.request.get(live_server.url + path).status == 404


def test_toggle_auto_renew_on_the_order_page_and_set_the_low_balance_alert(page, login, owner):
    from accounts.models import Account
    from orders.models import Order

    ensure_catalogue()
    account = Membership.objects.get(user=owner).account
    ledger_post(account=account, type="deposit", amount=Decimal("20.00"), reference="browser-renew-fund",
                description="Test deposit")
    add_stock("datacenter", "DE", 2)
    order = order_place(account=account, type="datacenter", quantity=1, period=30, country="DE")
    order_provision(order=order)
    login(owner.email, PASSWORD)

    page.goto(f"/orders/{order.public_id}/")
    expect(page.get_by_role("region", name="Automatic renewal")).to_contain_text("Off")
    page.get_by_label("Auto-renew").check()
    page.get_by_role("button", name="Save auto-renew").click()
    expect(page.get_by_text(f"Auto-renew is on for order {order.public_id}")).to_be_visible()
    expect(page.get_by_role("region", name="Automatic renewal")).to_contain_text("renewed for 30 days")
    expect(page.get_by_label("Auto-renew")).to_be_checked()
    assert Order.objects.get(pk=order.pk).auto_renew is True
    page.get_by_label("Auto-renew").uncheck()
    page.get_by_role("button", name="Save auto-renew").click()
    expect(page.get_by_text(f"Auto-renew is off for order {order.public_id}")).to_be_visible()
    assert Order.objects.get(pk=order.pk).auto_renew is False

    page.goto("/settings/")
    page.get_by_label("Alert me when the balance falls under (USD)").fill("ten")
    page.get_by_role("button", name="Save alert").click()
    # The error beside the field, and again in the form's alert at the top.
    expect(page.locator("#id_low_balance_threshold_error")).to_contain_text("such as")
    expect(page.get_by_test_id("form-errors")).to_contain_text("such as")
    page.get_by_label("Alert me when the balance falls under (USD)").fill("15")
    page.get_by_role("button", name="Save alert").click()
    expect(page.get_by_text("falls under 15.00 USD")).to_be_visible()
    assert Account.objects.get(pk=account.pk).low_balance_threshold == Decimal("15.00")

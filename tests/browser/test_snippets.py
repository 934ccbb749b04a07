"""Connection snippets in Chromium: the order and sub-user pages show curl, Python, Node and a
proxy URL with the customer's own host, port and credentials, and copy them."""

import pytest
from playwright.sync_api import expect

from orders.models import OrderProxy
from orders.residential import selectors, services
from tests.conftest import PASSWORD
from tests.orders.residential.subuser_fixtures import datacenter_order, residential_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_order_page_snippets_carry_the_customers_credentials(page, login, owner, account):
    order = datacenter_order(account)
    proxy = OrderProxy.objects.create(order=order, host="198.51.100.7", port=3128, username="cust_7",
                                      password="Pw7secret", protocol="http", country="DE")
    login(owner.email, PASSWORD)
    page.goto(f"/orders/{order.public_id}/")
    snippets = page.get_by_test_id("connection-snippets")
    expect(snippets.get_by_role("heading", name="Connect")).to_be_visible()
    url = f"http://{proxy.username}:{proxy.password}@{proxy.host}:{proxy.port}"
    expect(page.locator("#snippet-url")).to_have_text(url)
    expect(page.locator("#snippet-curl")).to_contain_text(f"curl -x '{url}'")
    expect(page.locator("#snippet-python")).to_contain_text(f'proxy = "{url}"')
    expect(page.locator("#snippet-node")).to_contain_text(f'new ProxyAgent("{url}")')

    page.get_by_role("button", name="Copy curl command").click()
    expect(page.get_by_role("button", name="Copy curl command")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"curl -x '{url}' ")


def test_sub_user_page_snippets_carry_its_gateway_and_targeted_username(page, login, owner, account):
    order = residential_order(account, gb="5")
    proxy = services.subuser_create(account=account, order_id=order.public_id, name="snippets", country="DE",
                                    protocol="socks5")
    host, port = selectors.gateway(proxy)
    username = selectors.connection_username(proxy)
    login(owner.email, PASSWORD)
    page.goto(f"/proxies/{proxy.public_id}/")
    url = f"socks5h://{username}:{proxy.password}@{host}:{port}"
    expect(page.locator("#snippet-url")).to_have_text(url)
    expect(page.locator("#snippet-curl")).to_contain_text(url)
    expect(page.locator("#snippet-python")).to_contain_text("requests[socks]")
    expect(page.locator("#snippet-node")).to_contain_text(f'new SocksProxyAgent("{url}")')
    page.get_by_role("button", name="Copy Python example").click()
    assert f'proxy = "{url}"' in page.evaluate("navigator.clipboard.readText()")

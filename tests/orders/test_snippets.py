"""Connection snippets: built from the customer's own host, port and credentials, shown on the
order and sub-user pages."""

from orders.models import OrderProxy
from orders.residential import selectors as residential_selectors
from orders.residential import services as residential
from orders.snippets import TEST_URL, connection_snippets, proxy_url
from tests.conftest import dashboard_client
from tests.orders.residential.subuser_fixtures import datacenter_order, residential_order


def test_http_proxy_snippets_carry_host_port_and_credentials():
    s = connection_snippets(host="203.0.113.5", port=8080, username="alice", password="s3cret", protocol="http")
    assert s["url"] == "http://alice:s3cret@203.0.113.5:8080"
    assert s["curl"] == f"curl -x 'http://alice:s3cret@203.0.113.5:8080' '{TEST_URL}'"
    assert 'proxy = "http://alice:s3cret@203.0.113.5:8080"' in s["python"]
    assert 'proxies={"http": proxy, "https": proxy}' in s["python"] and "pip install requests\n" in s["python"] + "\n"
    assert 'new ProxyAgent("http://alice:s3cret@203.0.113.5:8080")' in s["node"] and "undici" in s["node"]


def test_socks_proxies_resolve_names_through_the_proxy():
    s = connection_snippets(host="gw.example.test", port=1080, username="u", password="p", protocol="socks5")
    assert s["url"] == "socks5h://u:p@gw.example.test:1080"
    assert "requests[socks]" in s["python"] and "SocksProxyAgent" in s["node"]
    assert proxy_url(host="h", port=1, protocol="socks4") == "socks4a://h:1"
    assert proxy_url(host="h", port=1, username="u", password="p", protocol="https") == "http://u:p@h:1"


def test_credentials_are_encoded_in_urls_and_quoted_for_the_shell():
    s = connection_snippets(host="h.test", port=3128, username="user@x", password="pa:ss'/#", protocol="http")
    assert s["url"] == "http://user%40x:pa%3Ass%27%2F%23@h.test:3128"
    assert s["curl"].startswith("curl -x 'http://user%40x:pa%3Ass%27%2F%23@h.test:3128' ")


def test_a_proxy_without_credentials_is_host_and_port():
    assert connection_snippets(host="10.0.0.1", port=80)["url"] == "http://10.0.0.1:80"


def test_order_page_shows_snippets_for_its_first_proxy(owner, account):
    order = datacenter_order(account)
    for i in (1, 2):
        OrderProxy.objects.create(order=order, host=f"198.51.100.{i}", port=9000 + i, username=f"cust{i}",
                                  password=f"pw{i}", protocol="http", country="DE")
    html = dashboard_client(owner, account).get(f"/orders/{order.public_id}/").content.decode()
    assert "http://cust1:pw1@198.51.100.1:9001" in html
    assert "curl -x &#x27;http://cust1:pw1@198.51.100.1:9001&#x27;" in html
    assert "Python (requests)" in html and "Node.js" in html
    assert "For the first of your 2 proxies, 198.51.100.1:9001" in html


def test_order_page_without_proxies_has_no_snippets(owner, account):
    order = datacenter_order(account)
    html = dashboard_client(owner, account).get(f"/orders/{order.public_id}/").content.decode()
    assert 'data-testid="connection-snippets"' not in html


def test_subuser_page_shows_snippets_with_the_targeted_username(owner, account):
    order = residential_order(account, gb="5")
    proxy = residential.subuser_create(account=account, order_id=order.public_id, name="scraper", country="US")
    html = dashboard_client(owner, account).get(f"/proxies/{proxy.public_id}/").content.decode()
    host, port = residential_selectors.gateway(proxy)
    username = residential_selectors.connection_username(proxy)
    assert "-country-us" in username
    assert f"http://{username}:{proxy.password}@{host}:{port}" in html
    assert 'data-testid="connection-snippets"' in html

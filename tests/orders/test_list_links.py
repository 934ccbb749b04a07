"""List links: POST /orders/{id}/list-links, DELETE /orders/{id}/list-links/{link_id}, and `/l/<token>`."""

import re

import pytest

from accounts.models import AuditLogEntry
from orders.models import OrderListLink
from orders.services import list_link_token_hash
from tests.conftest import dashboard_client

from .conftest import add_stock, fund

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"/l/([0-9A-Za-z]{32,})$")


@pytest.fixture
def order_id(account, api, order_key, committing):
    fund(account, "50")
    add_stock("datacenter", "DE", 3)
    response = committing(api(order_key)).post(
        "orders", {"type": "datacenter", "quantity": 3, "period": 30, "country": "DE"}
    )
    return response.json_body["data"]["id"]


def _create(api, key, order_id):
    response = api(key).post(f"orders/{order_id}/list-links", {})
    assert response.status_code == 201, response.json_body
    return response.json_body["data"]


def test_a_link_serves_the_list_without_a_key_until_revoked(account, api, order_key, order_id, client, settings):
    settings.SITE_URL = "https://portal.example.test/"
    data = _create(api, order_key, order_id)
    assert set(data) == {"id", "url", "created_at"} and data["id"].startswith("lnk_")
    assert data["url"].startswith("https://portal.example.test/l/")
    token = TOKEN.search(data["url"]).group(1)
    stored = OrderListLink.objects.get(public_id=data["id"])
    assert stored.token_hash == list_link_token_hash(token) and token not in stored.token_hash
    served = client.get(f"/l/{token}")
    assert served.status_code == 200
    assert served["Cache-Control"] == "no-store"
    assert served["Content-Type"].startswith("text/plain")
    download = api(order_key).get(f"orders/{order_id}/download", format="txt").body_bytes
    assert served.content == download
    ip_only = client.get(f"/l/{token}", {"auth": "ip", "format": "txt"}).content.decode().splitlines()
    assert len(ip_only) == 3 and all(line.count(":") == 1 for line in ip_only)
    as_json = client.get(f"/l/{token}", {"format": "json"})
    assert as_json["Content-Type"].startswith("application/json") and len(as_json.json()) == 3
    assert client.get(f"/l/{token}", {"format": "xml"}).status_code == 400
    revoked = api(order_key).delete(f"orders/{order_id}/list-links/{data['id']}")
    assert revoked.status_code == 204
    gone = client.get(f"/l/{token}")
    assert gone.status_code == 404 and gone["Cache-Control"] == "no-store"
    assert api(order_key).delete(f"orders/{order_id}/list-links/{data['id']}").status_code == 404
    actions = set(AuditLogEntry.objects.filter(account=account).values_list("action", flat=True))
    assert {"order.list_link_created", "order.list_link_revoked"} <= actions


def test_unknown_tokens_are_404(client, order_id):
    for token in ("x" * 43, "short", "0" * 200, "%00" * 5):
        assert client.get(f"/l/{token}").status_code == 404


def test_links_are_rate_limited_per_link(api, order_key, order_id, client):
    token = TOKEN.search(_create(api, order_key, order_id)["url"]).group(1)
    for _ in range(10):  # the free plan's export limit
        assert client.get(f"/l/{token}").status_code == 200
    limited = client.get(f"/l/{token}")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    other = TOKEN.search(_create(api, order_key, order_id)["url"]).group(1)
    assert client.get(f"/l/{other}").status_code == 200


def test_links_are_rate_limited_per_client_address(client, monkeypatch):
    monkeypatch.setattr("orders.views.LIST_LINK_REQUESTS_PER_IP_PER_HOUR", 3)
    for _ in range(3):
        assert client.get("/l/" + "y" * 43).status_code == 404
    assert client.get("/l/" + "y" * 43).status_code == 429


def test_tenancy_and_scope(account, outsider_account, api, make_key, order_key, order_id):
    link = _create(api, order_key, order_id)
    other = api(make_key(outsider_account, scopes=["orders:read", "orders:write"]))
    assert other.post(f"orders/{order_id}/list-links", {}).status_code == 404
    assert other.delete(f"orders/{order_id}/list-links/{link['id']}").status_code == 404
    read_only = api(make_key(account, scopes=["orders:read"]))
    assert read_only.post(f"orders/{order_id}/list-links", {}).status_code == 403
    assert read_only.delete(f"orders/{order_id}/list-links/{link['id']}").status_code == 403
    assert OrderListLink.objects.live().count() == 1


def test_a_suspended_accounts_links_stop_serving(account, api, order_key, order_id, client):
    token = TOKEN.search(_create(api, order_key, order_id)["url"]).group(1)
    account.is_active = False
    account.save(update_fields=["is_active"])
    assert client.get(f"/l/{token}").status_code == 403


def test_at_most_ten_live_links_per_order(api, order_key, order_id):
    for _ in range(10):
        _create(api, order_key, order_id)
    assert api(order_key).post(f"orders/{order_id}/list-links", {}).status_code == 409


def test_the_order_page_creates_shows_once_and_revokes(owner, account, order_id, client):
    dash = dashboard_client(owner, account)
    created = dash.post(f"/orders/{order_id}/list-links", follow=True).content.decode()
    url = re.search(r'<code id="new-list-link-url">([^<]+)</code>', created).group(1)
    assert 'data-copy="#new-list-link-url"' in created
    token = TOKEN.search(url).group(1)
    assert client.get(f"/l/{token}").status_code == 200
    again = dash.get(f"/orders/{order_id}/").content.decode()
    assert token not in again and token[:6] in again  # shown once; the list keeps a hint
    link = OrderListLink.objects.get()
    assert dash.post(f"/orders/{order_id}/list-links/{link.public_id}/revoke").status_code == 302
    assert client.get(f"/l/{token}").status_code == 404


def test_the_body_is_empty_or_an_empty_object(api, order_key, order_id):
    client = api(order_key)
    bare = client.client.generic(
        "POST", f"/api/v1/orders/{order_id}/list-links", b"", content_type="",
        headers={"Authorization": f"Bearer {order_key}"},
    )
    assert bare.status_code == 201, bare.content
    for body in ({"expires": "never"}, [1], "[[[]]]"):
        response = client.post(f"orders/{order_id}/list-links", body)
        assert response.status_code == 400, body
    assert OrderListLink.objects.count() == 1

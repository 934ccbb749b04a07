"""IP authorization: GET|POST /account/authorized-ips, DELETE /account/authorized-ips/{id}, the
provider hook, `auth=ip` downloads and the Proxies page section."""

import pytest

from accounts.models import AuditLogEntry
from orders.models import AuthorizedIP
from orders.providers.inventory import InventoryProvider
from tests.conftest import dashboard_client

from .conftest import add_stock, fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def ip_key(account, make_key):
    return make_key(account, scopes=["proxies:read", "proxies:write"])


def test_add_list_and_remove(account, api, ip_key):
    client = api(ip_key)
    created = client.post("account/authorized-ips", {"ip": " 8.8.8.8 "})
    assert created.status_code == 201, created.json_body
    data = created.json_body["data"]
    assert set(data) == {"id", "ip", "created_at", "last_used_at"}
    assert data["ip"] == "8.8.8.8" and data["id"].startswith("aip_") and data["last_used_at"] is None
    v6 = client.post("account/authorized-ips", {"ip": "2001:4860:4860:0:0:0:0:8888"}).json_body["data"]
    assert v6["ip"] == "2001:4860:4860::8888"
    listed = client.get("account/authorized-ips").json_body
    assert [i["ip"] for i in listed["data"]] == ["8.8.8.8", "2001:4860:4860::8888"]
    assert listed["meta"]["total"] == 2
    removed = client.delete(f"account/authorized-ips/{data['id']}")
    assert removed.status_code == 204 and removed.content == b""
    assert [i["ip"] for i in client.get("account/authorized-ips").json_body["data"]] == ["2001:4860:4860::8888"]
    assert client.delete(f"account/authorized-ips/{data['id']}").status_code == 404
    actions = list(AuditLogEntry.objects.filter(account=account).values_list("action", "target"))
    assert ("authorized_ip.added", "8.8.8.8") in actions and ("authorized_ip.removed", "8.8.8.8") in actions


@pytest.mark.parametrize("ip", [
    "10.0.0.1", "192.168.1.1", "172.16.0.1", "127.0.0.1", "0.0.0.0", "169.254.1.1", "100.64.0.1",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1", "::1", "fe80::1", "fc00::1", "::",
    "::ffff:10.0.0.1", "ff02::1", "2001:db8::1", "8.8.8.8/32", "example.com", "", "1.2.3", "fe80::1%eth0",
])
def test_non_public_or_malformed_addresses_are_a_validation_error(api, ip_key, ip):
    response = api(ip_key).post("account/authorized-ips", {"ip": ip})
    assert response.status_code == 400, (ip, response.json_body)
    assert response.json_body["error_type"] == "validation_error"
    assert "ip" in response.json_body["meta"]["fields"]
    assert not AuthorizedIP.objects.exists()


def test_duplicates_and_the_eleventh_are_conflicts(api, ip_key):
    client = api(ip_key)
    for n in range(10):
        assert client.post("account/authorized-ips", {"ip": f"8.8.4.{n + 1}"}).status_code == 201
    duplicate = client.post("account/authorized-ips", {"ip": "8.8.4.1"})
    assert duplicate.status_code == 409 and duplicate.json_body["error_type"] == "conflict"
    eleventh = client.post("account/authorized-ips", {"ip": "9.9.9.9"})
    assert eleventh.status_code == 409 and "10" in eleventh.json_body["error"]
    assert AuthorizedIP.objects.count() == 10


def test_duplicate_in_another_spelling_is_a_conflict(api, ip_key):
    client = api(ip_key)
    assert client.post("account/authorized-ips", {"ip": "2001:4860::1"}).status_code == 201
    assert client.post("account/authorized-ips", {"ip": "2001:4860:0::0001"}).status_code == 409


def test_scopes_and_tenancy(account, outsider_account, api, make_key, ip_key):
    read_only = api(make_key(account, scopes=["proxies:read"]))
    write_only = api(make_key(account, scopes=["proxies:write"]))
    assert read_only.post("account/authorized-ips", {"ip": "8.8.8.8"}).status_code == 403
    assert write_only.get("account/authorized-ips").status_code == 403
    mine = api(ip_key).post("account/authorized-ips", {"ip": "8.8.8.8"}).json_body["data"]["id"]
    assert read_only.delete(f"account/authorized-ips/{mine}").json_body["meta"]["required"] == "proxies:write"
    other = api(make_key(outsider_account, scopes=["proxies:read", "proxies:write"]))
    assert other.get("account/authorized-ips").json_body["data"] == []
    assert other.delete(f"account/authorized-ips/{mine}").status_code == 404
    assert AuthorizedIP.objects.filter(public_id=mine).exists()


def test_bad_bodies_change_nothing(api, ip_key):
    client = api(ip_key)
    assert client.post("account/authorized-ips", ["8.8.8.8"]).status_code == 400
    assert client.post("account/authorized-ips", {"ip": 8}).status_code == 400
    assert client.post("account/authorized-ips", {}).json_body["meta"]["fields"]["ip"]
    assert client.post("account/authorized-ips", "{not json").json_body["error_type"] == "bad_request"
    assert not AuthorizedIP.objects.exists()


def test_providers_hear_the_whole_list_after_each_change(account, api, ip_key, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    heard = []
    monkeypatch.setattr(InventoryProvider, "authorized_ips_changed",
                        lambda self, acc, ips: heard.append((acc.pk, list(ips))))
    client = api(ip_key)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("account/authorized-ips", {"ip": "8.8.8.8"}).json_body["data"]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post("account/authorized-ips", {"ip": "1.1.1.1"})
    with django_capture_on_commit_callbacks(execute=True):
        client.delete(f"account/authorized-ips/{first}")
    assert heard == [(account.pk, ["8.8.8.8"]), (account.pk, ["8.8.8.8", "1.1.1.1"]), (account.pk, ["1.1.1.1"])]


def test_a_failing_provider_does_not_undo_the_change(api, ip_key, monkeypatch, django_capture_on_commit_callbacks):
    def boom(self, account, ips):
        raise RuntimeError("provider down")

    monkeypatch.setattr(InventoryProvider, "authorized_ips_changed", boom)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(ip_key).post("account/authorized-ips", {"ip": "8.8.8.8"})
    assert response.status_code == 201
    assert AuthorizedIP.objects.count() == 1


def test_download_with_ip_auth_lists_host_port_only(account, api, order_key, committing):
    fund(account, "50")
    add_stock("datacenter", "DE", 2)
    order_id = committing(api(order_key)).post(
        "orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"}
    ).json_body["data"]["id"]
    client = api(order_key)
    txt = client.get(f"orders/{order_id}/download", format="txt", auth="ip")
    assert txt.status_code == 200
    lines = txt.body_bytes.decode().splitlines()
    assert len(lines) == 2 and all(line.count(":") == 1 for line in lines)
    full = client.get(f"orders/{order_id}/download", format="txt").body_bytes.decode().splitlines()
    assert [":".join(line.split(":")[:2]) for line in full] == lines
    csv_text = client.get(f"orders/{order_id}/download", format="csv", auth="ip").body_bytes.decode()
    assert csv_text.splitlines()[0] == "host,port,protocol,country" and "p0" not in csv_text
    rows = client.get(f"orders/{order_id}/download", format="json", auth="ip").json_body
    assert set(rows[0]) == {"host", "port", "protocol", "country"}
    bad = client.get(f"orders/{order_id}/download", auth="token")
    assert bad.status_code == 400 and "auth" in bad.json_body["meta"]["fields"]


def test_the_proxies_page_lists_adds_and_removes(owner, account):
    client = dashboard_client(owner, account)
    page = client.get("/proxies/").content.decode()
    assert 'id="authorized-ips-title"' in page and '<label for="authorized_ip">IP address</label>' in page
    added = client.post("/authorized-ips/add", {"ip": "8.8.8.8"}, follow=True)
    assert added.status_code == 200 and "<code>8.8.8.8</code>" in added.content.decode()
    refused = client.post("/authorized-ips/add", {"ip": "10.1.2.3"}, follow=True).content.decode()
    assert "not a public address" in refused and 'value="10.1.2.3"' in refused
    assert "not a public address" not in client.get("/proxies/").content.decode()  # shown once
    row = AuthorizedIP.objects.get()
    assert client.post(f"/authorized-ips/{row.public_id}/remove").status_code == 302
    assert not AuthorizedIP.objects.exists()


def test_viewers_cannot_change_authorized_ips(owner, account):
    from accounts.models import Membership, Role
    from accounts.services import user_create_with_account

    viewer, _ = user_create_with_account(email="viewer@example.com", password="x-long-password-1", name="V")
    Membership.objects.create(user=viewer, account=account, role=Role.VIEWER)
    client = dashboard_client(viewer, account)
    assert "Add IP" not in client.get("/proxies/").content.decode()
    assert client.post("/authorized-ips/add", {"ip": "8.8.8.8"}).status_code == 403
    assert not AuthorizedIP.objects.exists()


def test_the_admin_exports_authorized_ips_with_their_accounts_stock_proxies(account, api, ip_key, order_key,
                                                                            committing):
    from django.test import Client

    from accounts.models import User

    fund(account, "50")
    add_stock("datacenter", "DE", 2)
    committing(api(order_key)).post("orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"})
    api(ip_key).post("account/authorized-ips", {"ip": "8.8.8.8"})
    operator = Client()
    operator.force_login(User.objects.create_superuser(email="ops@example.com", password="ops-Password-123"))
    for model in ("authorizedip", "proxyreplacement", "orderlistlink"):
        assert operator.get(f"/admin/orders/{model}/").status_code == 200
    row = AuthorizedIP.objects.get()
    export = operator.post("/admin/orders/authorizedip/", {
        "action": "export_authorized_ips_csv", "_selected_action": [row.pk],
    })
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    lines = export.content.decode().splitlines()
    assert lines[0] == "account_id,ip,host,port,protocol"
    assert len(lines) == 3 and all(line.startswith(f"{account.public_id},8.8.8.8,") for line in lines[1:])

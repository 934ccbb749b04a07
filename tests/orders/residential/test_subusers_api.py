"""Sub-user proxies API: create with geo targeting, read, update, delete, limits, tenancy."""

import pytest
from django.utils import timezone

from accounts.models import Plan
from orders.residential.models import SubUserProxy

from .subuser_fixtures import datacenter_order, residential_order

RW = ["proxies:read", "proxies:write"]


@pytest.fixture
def order(account):
    return residential_order(account, gb="10")


@pytest.fixture
def client(api, account, make_key):
    return api(make_key(account, scopes=RW))


def create(client, order, **extra):
    body = {"name": "scraper", "order_id": order.public_id, **extra}
    return client.post("proxy", body)


def test_create_with_geo_targeting_returns_connection_details(client, order, settings):
    r = create(client, order, country="us", state="CA", city="Los Angeles", rotation="sticky",
               sticky_ttl_minutes=30, traffic_limit_gb="2.5", whitelist=["203.0.113.7", "198.51.100.0/24"])
    assert r.status_code == 201, r.json_body
    d = r.json_body["data"]
    assert d["id"].startswith("prx_")
    assert d["order_id"] == order.public_id
    assert (d["country"], d["state"], d["city"], d["zip"]) == ("US", "CA", "Los Angeles", None)
    assert d["host"] == settings.RESIDENTIAL_GATEWAY_HOST and d["port"] == settings.RESIDENTIAL_GATEWAY_PORT
    assert d["username"].startswith(d["base_username"] + "-country-us-state-ca-city-los_angeles-session-")
    assert len(d["password"]) >= 12
    assert d["rotation"] == "sticky" and d["sticky_ttl_minutes"] == 30
    assert d["traffic_limit_gb"] == "2.5" and d["traffic_used_gb"] == "0"
    assert d["whitelist"] == ["203.0.113.7", "198.51.100.0/24"]
    assert d["status"] == "active" and d["disabled_reason"] is None
    assert d["created_at"].endswith("Z")
    host, port = d["host"], d["port"]
    assert d["connection"]["url"] == f"http://{d['username']}:{d['password']}@{host}:{port}"
    assert d["connection"]["host_port_user_pass"] == f"{host}:{port}:{d['username']}:{d['password']}"


def test_rotating_username_carries_no_session(client, order):
    d = create(client, order, country="DE").json_body["data"]
    assert d["username"] == f"{d['base_username']}-country-de"


def test_city_outside_its_state_is_refused_and_nothing_created(client, order):
    r = create(client, order, country="US", state="NY", city="Los Angeles")
    assert r.status_code == 400
    assert r.json_body["error_type"] == "validation_error"
    assert "city" in r.json_body["meta"]["fields"]
    assert not SubUserProxy.objects.exists()


@pytest.mark.parametrize("whitelist", [["not-an-ip"], ["10.0.0.0/33"], "1.2.3.4"])
def test_bad_whitelist_is_refused(client, order, whitelist):
    r = create(client, order, whitelist=whitelist)
    assert r.status_code == 400 and "whitelist" in r.json_body["meta"]["fields"]
    assert not SubUserProxy.objects.exists()


def test_order_must_be_residential_and_active(client, account, order):
    r = create(client, datacenter_order(account))
    assert r.status_code == 400 and "order_id" in r.json_body["meta"]["fields"]
    r = create(client, residential_order(account, status="expired"))
    assert r.status_code == 400 and "order_id" in r.json_body["meta"]["fields"]


def test_another_tenants_order_is_404(client, outsider_account):
    r = create(client, residential_order(outsider_account))
    assert r.status_code == 404 and r.json_body["error_type"] == "not_found"


def test_required_fields_and_bad_choices(client, order):
    r = client.post("proxy", {"order_id": order.public_id})
    assert r.status_code == 400 and "name" in r.json_body["meta"]["fields"]
    r = create(client, order, protocol="ftp", rotation="sometimes", sticky_ttl_minutes=0, traffic_limit_gb="-1")
    assert set(r.json_body["meta"]["fields"]) >= {"protocol", "rotation", "sticky_ttl_minutes", "traffic_limit_gb"}


def test_plan_limit_of_sub_users_is_a_conflict(client, account, order):
    Plan.objects.filter(tier=account.tier).update(max_subusers=2)
    assert create(client, order, name="one").status_code == 201
    assert create(client, order, name="two").status_code == 201
    r = create(client, order, name="three")
    assert r.status_code == 409 and r.json_body["error_type"] == "conflict"
    assert SubUserProxy.objects.count() == 2


def test_a_name_taken_by_a_live_proxy_of_the_account_is_a_conflict(client, order, outsider_account, api, make_key):
    first = create(client, order, name="Office")
    assert first.status_code == 201
    for name in ("Office", " office ", "OFFICE"):
        r = create(client, order, name=name)
        assert r.status_code == 409 and r.json_body["error_type"] == "conflict", r.json_body
        assert r.json_body["error"] == f"A proxy named “{name.strip()}” already exists in this account; choose another name."
        assert r.json_body["meta"]["fields"] == {"name": [r.json_body["error"]]}
    assert SubUserProxy.objects.count() == 1
    # renaming onto a taken name is refused too; keeping one's own name is not a clash
    second = create(client, order, name="Warehouse").json_body["data"]["id"]
    assert client.patch(f"proxy/{second}", {"name": "office"}).status_code == 409
    assert client.patch(f"proxy/{second}", {"name": "Warehouse", "country": "DE"}).status_code == 200
    # another account may use the name, and a deleted proxy's name is free again
    other = api(make_key(outsider_account, scopes=RW))
    assert create(other, residential_order(outsider_account), name="Office").status_code == 201
    assert client.delete(f"proxy/{first.json_body['data']['id']}").status_code == 200
    assert create(client, order, name="Office").status_code == 201


def test_the_database_refuses_a_second_live_name_in_an_account(account, order):
    from django.db import IntegrityError, transaction

    SubUserProxy.objects.create(account=account, order=order, name="Office", username="u1", password="p")
    with pytest.raises(IntegrityError), transaction.atomic():
        SubUserProxy.objects.create(account=account, order=order, name="OFFICE", username="u2", password="p")
    SubUserProxy.objects.filter(username="u1").update(deleted_at=timezone.now())
    SubUserProxy.objects.create(account=account, order=order, name="office", username="u3", password="p")


def test_list_is_paginated_and_scoped(client, order, outsider_account, api, make_key):
    for i in range(3):
        create(client, order, name=f"p{i}")
    other = api(make_key(outsider_account, scopes=RW))
    create(other, residential_order(outsider_account), name="theirs")
    r = client.get("proxy", limit=2)
    assert r.status_code == 200
    assert r.json_body["meta"] == {"page": 1, "limit": 2, "total": 3}
    assert len(r.json_body["data"]) == 2
    names = {p["name"] for p in client.get("proxy").json_body["data"]}
    assert names == {"p0", "p1", "p2"}


def test_patch_updates_limits_whitelist_and_targeting(client, order):
    pid = create(client, order, country="US", state="CA", city="Los Angeles").json_body["data"]["id"]
    r = client.patch(f"proxy/{pid}", {"traffic_limit_gb": 5, "whitelist": ["2001:db8::/32"], "name": "renamed",
                                       "city": "San Diego"})
    assert r.status_code == 200, r.json_body
    d = r.json_body["data"]
    assert (d["traffic_limit_gb"], d["whitelist"], d["name"], d["city"]) == ("5", ["2001:db8::/32"], "renamed", "San Diego")
    r = client.patch(f"proxy/{pid}", {"city": "New York City"})
    assert r.status_code == 400 and "city" in r.json_body["meta"]["fields"]
    r = client.patch(f"proxy/{pid}", {"country": "DE"})
    assert r.json_body["data"]["country"] == "DE" and r.json_body["data"]["city"] is None
    r = client.patch(f"proxy/{pid}", {"traffic_limit_gb": None})
    assert r.json_body["data"]["traffic_limit_gb"] is None


def test_disable_and_enable_by_hand(client, order):
    pid = create(client, order).json_body["data"]["id"]
    d = client.patch(f"proxy/{pid}", {"status": "disabled"}).json_body["data"]
    assert (d["status"], d["disabled_reason"]) == ("disabled", "disabled_by_user")
    d = client.patch(f"proxy/{pid}", {"name": "still off"}).json_body["data"]
    assert d["status"] == "disabled"
    d = client.patch(f"proxy/{pid}", {"status": "active"}).json_body["data"]
    assert (d["status"], d["disabled_reason"]) == ("active", None)


def test_delete_removes_it(client, order):
    pid = create(client, order).json_body["data"]["id"]
    r = client.delete(f"proxy/{pid}")
    assert r.status_code == 200 and r.json_body["data"]["deleted"] is True
    assert client.get(f"proxy/{pid}").status_code == 404
    assert client.get("proxy").json_body["meta"]["total"] == 0
    assert client.delete(f"proxy/{pid}").status_code == 404


def test_another_tenants_sub_user_is_404_on_every_endpoint(client, api, make_key, account, outsider_account):
    other = api(make_key(outsider_account, scopes=RW))
    theirs = create(other, residential_order(outsider_account)).json_body["data"]["id"]
    for response in (
        client.get(f"proxy/{theirs}"),
        client.patch(f"proxy/{theirs}", {"name": "mine now"}),
        client.patch(f"proxy/{theirs}", {"name": ""}),  # 404 before validation
        client.delete(f"proxy/{theirs}"),
        api(make_key(account, scopes=["stats:read"])).get("stats", proxy_id=theirs),
    ):
        assert response.status_code == 404, response.json_body
        assert response.json_body["error_type"] == "not_found"
    assert SubUserProxy.objects.get(public_id=theirs).name == "scraper"
    assert SubUserProxy.objects.get(public_id=theirs).deleted_at is None


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [("get", "proxy", "proxies:read"), ("post", "proxy", "proxies:write"),
     ("get", "proxy/prx_x", "proxies:read"), ("patch", "proxy/prx_x", "proxies:write"),
     ("delete", "proxy/prx_x", "proxies:write")],
)
def test_scopes_are_independent(api, account, make_key, method, path, scope):
    other = "proxies:write" if scope == "proxies:read" else "proxies:read"
    client = api(make_key(account, scopes=[other]))
    call = getattr(client, method)
    r = call(path, {}) if method in ("post", "patch") else call(path)
    assert r.status_code == 403 and r.json_body["meta"]["required"] == scope

"""`PUT /proxy/{id}` is PATCH's twin (the sub-user APIs that update with PUT): the same body,
the same meaning (only the fields given change), the same errors, and both are in the schema."""

import json

import pytest
from django.test import Client

from orders.residential.models import SubUserProxy

from .subuser_fixtures import residential_order

RW = ["proxies:read", "proxies:write"]
METHODS = ["patch", "put"]


@pytest.fixture
def client(api, account, make_key):
    return api(make_key(account, scopes=RW))


def create(client, order, **extra) -> str:
    r = client.post("proxy", {"name": "scraper", "order_id": order.public_id, **extra})
    assert r.status_code == 201, r.json_body
    return r.json_body["data"]["id"]


def update(client, method: str, pid: str, body):
    return client._call(method, f"proxy/{pid}", body=body)


def comparable(data: dict) -> dict:
    """An answer without what differs between two proxies anyway."""
    return {k: v for k, v in data.items()
            if k not in ("id", "username", "password", "base_username", "connection", "created_at")}


def test_put_answers_exactly_as_patch(client, account):
    order = residential_order(account, gb="10")
    answers = {}
    for method in METHODS:
        pid = create(client, order, country="US", state="CA", city="Los Angeles", rotation="sticky")
        r = update(client, method, pid, {"name": "renamed", "traffic_limit_gb": 5, "whitelist": ["2001:db8::/32"],
                                         "city": "San Diego", "status": "disabled"})
        assert r.status_code == 200, r.json_body
        answers[method] = r.json_body["data"]
        # only the fields given change: the rest of the proxy stays
        d = answers[method]
        assert (d["name"], d["traffic_limit_gb"], d["whitelist"], d["city"], d["state"], d["rotation"]) == (
            "renamed", "5", ["2001:db8::/32"], "San Diego", "CA", "sticky")
        assert (d["status"], d["disabled_reason"]) == ("disabled", "disabled_by_user")
        assert update(client, method, pid, {"traffic_limit_gb": None}).json_body["data"]["traffic_limit_gb"] is None
        assert update(client, method, pid, {"status": "active"}).json_body["data"]["status"] == "active"
        # a name is one live proxy's in an account: the next round's proxy takes the same names
        assert client.delete(f"proxy/{pid}").status_code == 200
    assert comparable(answers["patch"]) == comparable(answers["put"])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"city": "New York City"}, "city"),  # not in California
    ({"whitelist": ["not-an-ip"]}, "whitelist"),
    ({"rotation": "sometimes"}, "rotation"),
    ({"traffic_limit_gb": "-1"}, "traffic_limit_gb"),
])
def test_bad_input_is_the_same_400_and_changes_nothing(client, account, method, body, field):
    pid = create(client, residential_order(account, gb="10"), country="US", state="CA")
    r = update(client, method, pid, body)
    assert r.status_code == 400 and r.json_body["error_type"] == "validation_error", r.json_body
    assert field in r.json_body["meta"]["fields"]
    proxy = SubUserProxy.objects.get(public_id=pid)
    assert (proxy.name, proxy.city, proxy.whitelist, proxy.rotation, proxy.traffic_limit_gb) == (
        "scraper", "", [], "rotating", None)


@pytest.mark.parametrize("method", METHODS)
def test_malformed_body_is_a_400(client, account, method):
    pid = create(client, residential_order(account, gb="10"))
    r = update(client, method, pid, "[1, 2]")
    assert r.status_code == 400 and r.json_body["error_type"] == "bad_request"
    r = update(client, method, pid, "{not json")
    assert r.status_code == 400 and r.json_body["error_type"] == "bad_request"


@pytest.mark.parametrize("method", METHODS)
def test_another_tenants_proxy_is_404(client, api, make_key, outsider_account, method):
    other = api(make_key(outsider_account, scopes=RW))
    theirs = create(other, residential_order(outsider_account))
    for body in ({"name": "mine now"}, {"name": ""}):  # 404 before validation
        r = update(client, method, theirs, body)
        assert r.status_code == 404 and r.json_body["error_type"] == "not_found"
    assert SubUserProxy.objects.get(public_id=theirs).name == "scraper"


@pytest.mark.parametrize("method", METHODS)
def test_the_write_scope_is_required(api, account, make_key, method):
    pid = create(api(make_key(account, scopes=RW)), residential_order(account))
    reader = api(make_key(account, scopes=["proxies:read"]))
    r = update(reader, method, pid, {"name": "renamed"})
    assert r.status_code == 403 and r.json_body["error_type"] == "insufficient_scope"
    assert r.json_body["meta"]["required"] == "proxies:write"
    assert SubUserProxy.objects.get(public_id=pid).name == "scraper"


def test_put_is_in_the_schema_with_patchs_body_and_answer(db):  # the schema's title is the brand's
    doc = json.loads(Client().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    path = next(v for k, v in doc["paths"].items() if k.startswith("/api/v1/proxy/{"))
    assert {"get", "patch", "put", "delete"} <= set(path)
    for part in ("requestBody", "responses"):
        assert json.dumps(path["put"][part], sort_keys=True) == json.dumps(path["patch"][part], sort_keys=True)

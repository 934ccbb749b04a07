"""GET|POST /webhooks/endpoints, GET|PATCH|DELETE /webhooks/endpoints/{id}, …/test, …/deliveries."""

import re

import pytest

from events.models import Endpoint

pytestmark = pytest.mark.django_db

BASE = "webhooks/endpoints"


@pytest.fixture
def writer(api, account, make_key):
    return api(make_key(account, scopes=["webhooks:read", "webhooks:write"]))


def create(client, url="https://hooks.example.com/in", events=("order.activated",), **extra):
    return client.post(BASE, {"url": url, "events": list(events), **extra})


def test_create_answers_201_with_the_secret_once(writer, monkeypatch):
    monkeypatch.setattr("events.services.check_address", _public)
    response = create(writer, events=["order.activated", "deposit.credited"])
    assert response.status_code == 201, response.json_body
    data = response.json_body["data"]
    assert set(data) == {"id", "url", "events", "enabled", "created_at", "secret"}
    assert re.fullmatch(r"whsec_[0-9A-Za-z]{32}", data["secret"])
    assert data["events"] == ["order.activated", "deposit.credited"] and data["enabled"] is True
    assert data["id"].startswith("whe_") and data["created_at"].endswith("Z")
    shown = writer.get(f"{BASE}/{data['id']}").json_body["data"]
    assert "secret" not in shown and shown["url"] == "https://hooks.example.com/in"
    listed = writer.get(BASE).json_body
    assert [e["id"] for e in listed["data"]] == [data["id"]] and "secret" not in listed["data"][0]
    assert listed["meta"] == {"page": 1, "limit": 50, "total": 1}


def _public(host, *, allow_private):
    from core.netguard import GuardResult

    return GuardResult(True, "93.184.216.34", None)


@pytest.mark.parametrize("body, field", [
    ({"url": "https://hooks.example.com/in"}, "events"),
    ({"url": "https://hooks.example.com/in", "events": []}, "events"),
    ({"url": "https://hooks.example.com/in", "events": ["order.bought"]}, "events"),
    ({"url": "https://hooks.example.com/in", "events": ["ping"]}, "events"),
    ({"url": "https://hooks.example.com/in", "events": "order.activated"}, "events"),
    ({"url": "https://hooks.example.com/in", "events": [7]}, "events"),
    ({"events": ["order.activated"]}, "url"),
    ({"url": "ftp://hooks.example.com/in", "events": ["order.activated"]}, "url"),
    ({"url": "http://hooks.example.com/in", "events": ["order.activated"]}, "url"),
    ({"url": "https://user:pw@hooks.example.com/in", "events": ["order.activated"]}, "url"),
    ({"url": "https://[::1/in", "events": ["order.activated"]}, "url"),
    ({"url": 42, "events": ["order.activated"]}, "url"),
])
def test_bad_bodies_are_400_on_the_field(writer, monkeypatch, settings, body, field):
    settings.WEBHOOKS_ALLOW_HTTP = False
    monkeypatch.setattr("events.services.check_address", _public)
    response = writer.post(BASE, body)
    assert response.status_code == 400, response.json_body
    assert response.json_body["error_type"] == "validation_error"
    assert {name.split(".")[0] for name in response.json_body["meta"]["fields"]} == {field}
    assert not Endpoint.objects.exists()


def test_http_is_accepted_where_allowed(writer, monkeypatch, settings):
    settings.WEBHOOKS_ALLOW_HTTP = True
    monkeypatch.setattr("events.services.check_address", _public)
    assert create(writer, url="http://hooks.example.com/in").status_code == 201


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/in", "https://localhost/in", "https://10.1.2.3/in", "https://169.254.169.254/latest",
    "https://[::1]/in", "https://0x7f.1/in", "https://2130706433/in",
])
def test_the_address_guard_refuses_private_hosts(writer, settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = create(writer, url=url)
    assert response.status_code == 400
    assert "cannot be sent to this host" in response.json_body["meta"]["fields"]["url"][0]


def test_private_hosts_pass_with_webhooks_allow_private(writer, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    assert create(writer, url="https://127.0.0.1:9/in").status_code == 201


def test_an_eleventh_endpoint_is_a_conflict(writer, monkeypatch):
    monkeypatch.setattr("events.services.check_address", _public)
    for n in range(10):
        assert create(writer, url=f"https://hooks.example.com/{n}").status_code == 201
    response = create(writer, url="https://hooks.example.com/11")
    assert response.status_code == 409 and response.json_body["error_type"] == "conflict"
    assert "at most 10" in response.json_body["error"]


def test_patch_changes_what_is_given_and_delete_is_204(writer, monkeypatch):
    monkeypatch.setattr("events.services.check_address", _public)
    endpoint_id = create(writer).json_body["data"]["id"]
    response = writer.patch(f"{BASE}/{endpoint_id}", {"enabled": False, "events": ["job.completed"]})
    assert response.status_code == 200
    data = response.json_body["data"]
    assert (data["enabled"], data["events"], data["url"]) == (False, ["job.completed"], "https://hooks.example.com/in")
    assert "secret" not in data
    bad = writer.patch(f"{BASE}/{endpoint_id}", {"events": ["nope"]})
    assert bad.status_code == 400 and "events" in bad.json_body["meta"]["fields"]
    assert writer.patch(f"{BASE}/{endpoint_id}", ["enabled"]).json_body["error_type"] == "bad_request"
    deleted = writer.delete(f"{BASE}/{endpoint_id}")
    assert deleted.status_code == 204 and deleted.body_bytes == b""
    assert writer.get(f"{BASE}/{endpoint_id}").status_code == 404


def test_another_tenants_endpoint_is_404_everywhere(writer, api, outsider_account, make_key, monkeypatch):
    monkeypatch.setattr("events.services.check_address", _public)
    theirs = create(api(make_key(outsider_account, scopes=["webhooks:read", "webhooks:write"]))).json_body["data"]["id"]
    for response in (
        writer.get(f"{BASE}/{theirs}"), writer.patch(f"{BASE}/{theirs}", {"enabled": False}),
        writer.delete(f"{BASE}/{theirs}"), writer.post(f"{BASE}/{theirs}/test"),
        writer.get(f"{BASE}/{theirs}/deliveries"), writer.get(f"{BASE}/whe_nope"),
    ):
        assert response.status_code == 404 and response.json_body["error_type"] == "not_found"
    assert Endpoint.objects.get(public_id=theirs).enabled is True


def test_scopes_are_required(api, account, make_key, monkeypatch):
    monkeypatch.setattr("events.services.check_address", _public)
    reader = api(make_key(account, scopes=["webhooks:read"]))
    other = api(make_key(account, scopes=["orders:read", "orders:write"]))
    for client, call, scope in (
        (other, lambda c: c.get(BASE), "webhooks:read"),
        (reader, lambda c: create(c), "webhooks:write"),
        (reader, lambda c: c.patch(f"{BASE}/whe_x", {"enabled": True}), "webhooks:write"),
        (reader, lambda c: c.delete(f"{BASE}/whe_x"), "webhooks:write"),
        (reader, lambda c: c.post(f"{BASE}/whe_x/test"), "webhooks:write"),
        (other, lambda c: c.get(f"{BASE}/whe_x/deliveries"), "webhooks:read"),
    ):
        response = call(client)
        assert response.status_code == 403, response.json_body
        assert response.json_body["meta"]["required"] == scope


def test_test_sends_a_signed_ping_and_deliveries_list_it(writer, receiver, django_capture_on_commit_callbacks):
    endpoint = create(writer, url=receiver.url, events=["job.completed"]).json_body["data"]
    receiver.secret = endpoint["secret"]
    with django_capture_on_commit_callbacks(execute=True):
        response = writer.post(f"{BASE}/{endpoint['id']}/test", {})
    assert response.status_code == 202
    event_id = response.json_body["data"]["event_id"]
    assert event_id.startswith("evt_")
    (call,) = receiver.calls
    assert call["verified"] and call["json"]["id"] == event_id and call["json"]["type"] == "ping"
    deliveries = writer.get(f"{BASE}/{endpoint['id']}/deliveries").json_body
    (row,) = deliveries["data"]
    assert set(row) == {"id", "event_id", "event_type", "attempt", "status_code", "error", "duration_ms", "created_at"}
    assert (row["event_id"], row["event_type"], row["attempt"], row["status_code"], row["error"]) == (
        event_id, "ping", 1, 200, "")
    assert writer.get(f"{BASE}/{endpoint['id']}/deliveries", limit=101).status_code == 400

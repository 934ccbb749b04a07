"""Inputs that are well-formed on the wire but carry no usable text: a JSON string holding a
lone UTF-16 surrogate, a NUL character (which PostgreSQL refuses in text) in a path, query,
form or JSON body, and a file field's "clear" checkbox sent where no file was ever set.
Each is a clear 4xx naming the field where there is one, changes nothing, never a 500."""

import json

import pytest

from api.renderers import EnvelopeRenderer
from checker.models import CheckJob
from orders.residential.models import SubUserProxy
from tests.conftest import dashboard_client

LONE = ["\\ud800", "\\udfff", "x\\udc00y"]


@pytest.mark.django_db
@pytest.mark.parametrize("escape", LONE)
@pytest.mark.parametrize(("path", "field"), [
    ("proxy", "protocol"), ("proxy", "name"), ("orders/calc", "type"), ("orders", "country"),
    ("deposits/addresses", "currency"), ("check", "proxies_text"),
])
def test_a_lone_surrogate_in_a_json_body_is_a_validation_error_on_its_field(api, make_key, account, path, field, escape):
    client = api(make_key(account))
    fields = {"quantity": 1, "type": "datacenter", "period": 30, field: "@@"}
    body = json.dumps(fields).replace('"@@"', f'"{escape}"')
    response = client.post(path, body)
    assert response.status_code == 400, response.body_bytes[:300]
    assert response.json_body["error_type"] == "validation_error"
    assert "surrogate" in response.json_body["meta"]["fields"][field][0]
    assert SubUserProxy.objects.count() == 0 and CheckJob.objects.count() == 0


@pytest.mark.django_db
def test_a_surrogate_pair_is_an_ordinary_character(api, make_key, account):
    """An emoji written as its escaped UTF-16 pair is text, not a malformed body."""
    client = api(make_key(account))
    response = client.post("check", '{"proxies_text": "# \\ud83d\\ude00\\n"}')
    assert response.status_code == 400
    assert response.json_body["error_type"] == "bad_request"
    assert "surrogate" not in response.json_body["error"]


def test_an_answer_carrying_a_lone_surrogate_is_still_json():
    body = EnvelopeRenderer.render_plain({"result": False, "error": "bad value '\ud800'"})
    assert json.loads(body) == {"result": False, "error": "bad value '\ud800'"}


@pytest.mark.django_db
def test_the_checker_form_with_only_the_clear_checkbox_shows_the_error(owner, account):
    client = dashboard_client(owner, account)
    response = client.post("/checker/", {"proxies_text": "", "proxies_file-clear": "on"})
    assert response.status_code == 400
    assert "Paste a list of proxies or upload a file." in response.content.decode()
    with_text = client.post("/checker/", {"proxies_text": "nothing here", "proxies_file-clear": "on"})
    assert with_text.status_code == 400 and "No valid proxy" in with_text.content.decode()
    assert CheckJob.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/reference/countries?type=%00", "type"), ("/api/v1/stats?proxy_id=%00", "proxy_id"),
    ("/api/v1/orders?page=1&status=x%00y", "status"),
])
def test_a_nul_in_an_api_query_is_a_validation_error_on_its_parameter(api, make_key, account, path, field):
    response = api(make_key(account)).get(path)
    assert response.status_code == 400, response.body_bytes[:300]
    assert response.json_body["error_type"] == "validation_error"
    assert "NUL" in response.json_body["meta"]["fields"][field][0]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/orders/ord_%00", "/api/v1/proxy/prx_%00x", "/api/v1/jobs/%00/items"])
def test_a_nul_in_an_api_path_names_nothing(api, make_key, account, path):
    response = api(make_key(account)).get(path)
    assert response.status_code == 404, response.body_bytes[:300]
    assert response.json_body["error_type"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/orders/ord_%00/", "/proxies/prx_%00/", "/checker/jobs/%00/"])
def test_a_nul_in_a_dashboard_path_names_nothing(owner, account, path):
    assert dashboard_client(owner, account).get(path).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ('{"name": "a", "order_id": "ord_\\u0000"}', "order_id"),
    ('{"name": "a", "order_id": "ord_x", "whitelist": ["1.2.3.4", "\\u0000"]}', "whitelist.1"),
])
def test_a_nul_in_a_json_body_is_a_validation_error_on_its_field(api, make_key, account, body, field):
    response = api(make_key(account)).post("proxy", body)
    assert response.status_code == 400, response.body_bytes[:300]
    assert response.json_body["error_type"] == "validation_error"
    assert "control characters are not allowed" in response.json_body["meta"]["fields"][field][0]
    assert SubUserProxy.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/keys/?q=%00", "/stats/?proxy_id=%00", "/stats/export.csv?proxy_id=%00",
                                  "/orders/?status=%00", "/checker/public/?country=%00"])
def test_a_nul_in_a_dashboard_query_is_a_bad_request_page(owner, account, path):
    response = dashboard_client(owner, account).get(path)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


@pytest.mark.django_db
def test_a_nul_in_a_dashboard_form_changes_nothing(owner, account):
    from accounts.models import Account

    client = dashboard_client(owner, account)
    switched = client.post("/switch-account/", {"account": "\x00"}, follow=True)
    assert switched.status_code == 200 and "You are not a member of that account." in switched.content.decode()
    renamed = client.post("/settings/", {"name": "Acme\x00"})
    assert renamed.status_code == 400 and 'id="id_name_error"' in renamed.content.decode()
    assert Account.objects.get(pk=account.pk).name == account.name

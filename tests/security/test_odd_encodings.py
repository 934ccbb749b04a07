"""Inputs that are well-formed on the wire but carry no usable text: a JSON string holding a
lone UTF-16 surrogate, and a file field's "clear" checkbox sent where no file was ever set.
Each is a clear 4xx that changes nothing, never a 500."""

import json

import pytest
from django.test import Client

from accounts.middleware import SESSION_ACCOUNT_KEY
from checker.models import CheckJob
from orders.models import SubUserProxy
from portal.api.renderers import EnvelopeRenderer
from tests.conftest import PASSWORD

LONE = ["\\ud800", "\\udfff", "x\\udc00y"]


@pytest.mark.django_db
@pytest.mark.parametrize("escape", LONE)
@pytest.mark.parametrize(("path", "field"), [
    ("proxy", "protocol"), ("proxy", "name"), ("orders/calc", "type"), ("orders", "country"),
    ("deposits/addresses", "currency"), ("check", "proxies_text"),
])
def test_a_lone_surrogate_in_a_json_body_is_a_malformed_body(api, make_key, account, path, field, escape):
    client = api(make_key(account))
    fields = {"quantity": 1, "type": "datacenter", "period": 30, field: "@@"}
    body = json.dumps(fields).replace('"@@"', f'"{escape}"')
    response = client.post(path, body)
    assert response.status_code == 400, response.body_bytes[:300]
    assert response.json_body["error_type"] == "bad_request"
    assert "surrogate" in response.json_body["error"]
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
    client = Client()
    assert client.login(email=owner.email, password=PASSWORD)
    session = client.session
    session[SESSION_ACCOUNT_KEY] = account.public_id
    session.save()
    response = client.post("/checker/", {"proxies_text": "", "proxies_file-clear": "on"})
    assert response.status_code == 400
    assert "Paste a list of proxies or upload a file." in response.content.decode()
    with_text = client.post("/checker/", {"proxies_text": "nothing here", "proxies_file-clear": "on"})
    assert with_text.status_code == 400 and "No valid proxy" in with_text.content.decode()
    assert CheckJob.objects.count() == 0

"""GET /judge: the source address and headers, in the formats the engine parses."""

import json

import pytest
from django.test import Client

from checker.engine.judge import anonymity_of, parse_judge_body


def test_judge_echoes_address_and_headers_as_azenv_text(db):
    response = Client().get("/judge", headers={"Via": "1.1 squid", "X-Forwarded-For": "198.51.100.7"},
                            REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert body.startswith("REMOTE_ADDR = 203.0.113.9\n")
    assert "HTTP_VIA = 1.1 squid\n" in body
    assert "HTTP_X_FORWARDED_FOR = 198.51.100.7\n" in body
    echo = parse_judge_body(response.content)
    assert echo.remote_addr == "203.0.113.9"
    assert echo.headers["via"] == "1.1 squid"
    assert anonymity_of(echo, {"198.51.100.7"}) == "transparent"
    assert anonymity_of(echo, set()) == "anonymous"


@pytest.mark.parametrize("kwargs", [{"data": {"format": "json"}}, {"headers": {"Accept": "application/json"}}])
def test_judge_answers_json_when_asked(db, kwargs):
    headers = {"User-Agent": "portal-checker/1.0", **kwargs.get("headers", {})}
    response = Client().get("/judge", kwargs.get("data"), headers=headers, REMOTE_ADDR="203.0.113.9")
    assert response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert data["remote_addr"] == "203.0.113.9"
    assert data["headers"]["User-Agent"] == "portal-checker/1.0"
    echo = parse_judge_body(response.content)
    assert echo.remote_addr == "203.0.113.9"
    assert anonymity_of(echo, {"192.0.2.1"}) == "elite"


def test_judge_needs_no_key_and_is_not_cached(db):
    response = Client().get("/judge")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert Client().post("/judge").status_code == 405


def test_judge_behind_trusted_proxies_reports_the_peer_and_hides_their_hop(db, settings):
    settings.NUM_PROXIES = 1
    response = Client().get("/judge", {"format": "json"}, headers={"X-Forwarded-For": "198.51.100.7"},
                            REMOTE_ADDR="10.0.0.2")
    data = json.loads(response.content)
    assert data["remote_addr"] == "198.51.100.7"
    assert "X-Forwarded-For" not in data["headers"]  # only our own load balancer's hop
    response = Client().get("/judge", {"format": "json"},
                            headers={"X-Forwarded-For": "192.0.2.55, 198.51.100.7"}, REMOTE_ADDR="10.0.0.2")
    data = json.loads(response.content)
    assert data["remote_addr"] == "198.51.100.7"
    assert data["headers"]["X-Forwarded-For"] == "192.0.2.55"  # what the checked proxy added


def test_the_portals_own_judge_serves_a_real_check(live_server, account, make_key, api, settings, proxies):
    """End to end: the engine checks a real proxy against this portal's /judge."""
    from tests.checker.servers import closed_port

    settings.CHECKER_JUDGE_URL = live_server.url.replace("127.0.0.1", "localhost") + "/judge"
    settings.CHECKER_ALLOW_PRIVATE = True
    settings.CHECKER_TIMEOUT_S = 5.0
    key = make_key(account, scopes=["checker:read", "checker:write"])
    dead = closed_port()
    text = f"127.0.0.1:{proxies['http']}\nsocks5://127.0.0.1:{proxies['socks5']}\n127.0.0.1:{dead}"
    response = api(key).post("check", {"proxies_text": text, "include_anonymity": True})
    assert response.status_code == 202
    job_id = response.json_body["data"]["job_id"]
    job = api(key).get(f"jobs/{job_id}").json_body["data"]
    assert (job["status"], job["done"], job["live"]) == ("completed", 3, 2)
    items = {i["proxy_norm"]: i for i in api(key).get(f"jobs/{job_id}/items").json_body["data"]}
    live = items[f"socks5://127.0.0.1:{proxies['socks5']}"]
    assert (live["status"], live["protocol"], live["exit_ip"], live["anonymity"]) == ("live", "socks5", "127.0.0.1", "elite")
    assert items[f"127.0.0.1:{dead}"]["error"] == "refused"

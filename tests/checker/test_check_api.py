"""POST /check and the job endpoints, against real proxy servers on 127.0.0.1."""

import uuid

import pytest

from billing.models import Plan
from checker.engine.testing import closed_port
from checker.models import CheckItem, CheckJob

READ = ["checker:read"]
WRITE = ["checker:write"]
BOTH = ["checker:read", "checker:write"]


def test_check_job_finds_live_proxies_with_protocol_and_dead_ones_with_reason(
    account, make_key, api, submit, checker_on, proxies, silent_server
):
    key = make_key(account, scopes=BOTH)
    dead_port = closed_port()
    text = "\n".join([
        "# my list",
        f"127.0.0.1:{proxies['http']}",
        f"socks5://127.0.0.1:{proxies['socks5']}",
        f"127.0.0.1:{proxies['socks4']}",
        f"alice:s3cret@127.0.0.1:{proxies['http_auth']}",
        f"127.0.0.1:{proxies['socks5_auth']}:bob:pa55",
        f"127.0.0.1:{dead_port}",
        f"127.0.0.1:{silent_server.port}",
        "",
        f"127.0.0.1:{proxies['http']}",  # duplicate
        "not a proxy",
    ])
    response = submit(key, {"proxies_text": text})
    assert response.status_code == 202, response.json_body
    data = response.json_body["data"]
    assert data["status"] == "queued"
    assert data["total"] == 7
    assert data["invalid"] == 1
    job_id = data["job_id"]
    assert uuid.UUID(job_id)

    job = api(key).get(f"jobs/{job_id}").json_body["data"]
    assert job["status"] == "completed"
    assert (job["total"], job["done"], job["live"]) == (7, 7, 5)
    assert job["created_at"].endswith("Z") and job["started_at"] and job["finished_at"]

    items = api(key).get(f"jobs/{job_id}/items").json_body
    assert items["meta"]["total"] == 7
    by_norm = {i["proxy_norm"]: i for i in items["data"]}
    assert by_norm[f"127.0.0.1:{proxies['http']}"]["protocol"] == "http"
    assert by_norm[f"socks5://127.0.0.1:{proxies['socks5']}"]["protocol"] == "socks5"
    assert by_norm[f"127.0.0.1:{proxies['socks4']}"]["protocol"] == "socks4"
    assert by_norm[f"alice:s3cret@127.0.0.1:{proxies['http_auth']}"]["status"] == "live"
    assert by_norm[f"bob:pa55@127.0.0.1:{proxies['socks5_auth']}"]["protocol"] == "socks5"
    for norm, item in by_norm.items():
        if item["status"] == "live":
            assert item["exit_ip"] == "127.0.0.1"
            assert item["connect_ms"] is not None and item["ttfb_ms"] is not None
            assert item["error"] is None
    assert by_norm[f"127.0.0.1:{dead_port}"] | {} and by_norm[f"127.0.0.1:{dead_port}"]["status"] == "dead"
    assert by_norm[f"127.0.0.1:{dead_port}"]["error"] == "refused"
    assert by_norm[f"127.0.0.1:{silent_server.port}"]["error"] == "timeout"

    live = api(key).get(f"jobs/{job_id}/items", status="live").json_body
    assert live["meta"]["total"] == 5
    assert {i["status"] for i in live["data"]} == {"live"}
    dead = api(key).get(f"jobs/{job_id}/items", status="dead", limit=1).json_body
    assert dead["meta"] == {"page": 1, "limit": 1, "total": 2}
    assert len(dead["data"]) == 1

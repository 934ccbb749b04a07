"""POST /check and the job endpoints, against real proxy servers on 127.0.0.1."""

import uuid

import pytest

from accounts.models import Plan
from checker.models import CheckItem, CheckJob
from tests.checker.servers import closed_port

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


def _client_get(key, path, **params):
    """GET that does not touch `.content` (exports are streamed)."""
    from django.test import Client

    return Client().get(f"/api/v1/{path}", params, headers={"Authorization": f"Bearer {key}"})


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_job_export_streams_txt_csv_json(account, make_key, api, submit, checker_on, proxies):
    key = make_key(account, scopes=BOTH)
    dead = closed_port()
    text = f"127.0.0.1:{proxies['http']}\n127.0.0.1:{dead}\n"
    job_id = submit(key, {"proxies_text": text}).json_body["data"]["job_id"]

    txt = _client_get(key, f"jobs/{job_id}/export", format="txt")
    assert txt.status_code == 200
    assert txt.streaming
    assert txt["Content-Type"].startswith("text/plain")
    assert "attachment" in txt["Content-Disposition"]
    assert _body(txt) == f"127.0.0.1:{proxies['http']}\n"

    csv_text = _body(_client_get(key, f"jobs/{job_id}/export", format="csv"))
    lines = csv_text.strip().splitlines()
    assert lines[0] == "proxy_norm,status,protocol,connect_ms,ttfb_ms,exit_ip,country,anonymity,error"
    assert len(lines) == 3
    assert any(line.startswith(f"127.0.0.1:{dead},dead,") and line.endswith(",refused") for line in lines)

    import json

    rows = json.loads(_body(_client_get(key, f"jobs/{job_id}/export", format="json")))
    assert {r["status"] for r in rows} == {"live", "dead"}
    assert set(rows[0]) == {"proxy_norm", "status", "protocol", "connect_ms", "ttfb_ms", "exit_ip",
                            "country", "anonymity", "error"}

    bad = api(key).get(f"jobs/{job_id}/export", format="xml")
    assert bad.status_code == 400
    assert bad.json_body["error_type"] == "validation_error"
    assert "format" in bad.json_body["meta"]["fields"]


def test_body_over_two_megabytes_is_413_envelope(account, make_key, api):
    key = make_key(account, scopes=BOTH)
    line = "10.0.0.1:8080\n"
    body = {"proxies_text": line * (2 * 1024 * 1024 // len(line) + 10)}
    response = api(key).post("check", body)
    assert response.status_code == 413
    assert response.json_body["result"] is False
    assert response.json_body["error_type"] == "payload_too_large"
    assert CheckJob.objects.count() == 0


def test_body_just_under_the_limit_is_not_413(account, make_key, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
    key = make_key(account, scopes=BOTH)
    text = "#" * (2 * 1024 * 1024 - 100)
    response = api(key).post("check", {"proxies_text": text})
    assert response.status_code == 400  # nothing usable, but not too large
    assert response.json_body["error_type"] == "bad_request"


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "not a proxy\nstill:not\n999.1:99999"])
def test_no_valid_proxy_is_400_bad_request(account, make_key, api, text):
    key = make_key(account, scopes=BOTH)
    response = api(key).post("check", {"proxies_text": text})
    assert response.status_code == 400
    assert response.json_body["error_type"] == "bad_request"
    assert CheckJob.objects.count() == 0


@pytest.mark.parametrize("body", [{}, {"proxies_text": 5}, {"proxies_text": "1.2.3.4:80", "include_anonymity": "maybe"},
                                  {"proxies_text": "1.2.3.4:80", "target_url": "ftp://x"},
                                  {"proxies_text": "1.2.3.4:80", "expect_text": "hello"}])
def test_bad_body_is_validation_error(account, make_key, api, body):
    key = make_key(account, scopes=BOTH)
    response = api(key).post("check", body)
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"
    assert response.json_body["meta"]["fields"]
    assert CheckJob.objects.count() == 0


def test_malformed_json_is_bad_request(account, make_key, api):
    key = make_key(account, scopes=BOTH)
    response = api(key).post("check", b'{"proxies_text": ')
    assert response.status_code == 400
    assert response.json_body["error_type"] == "bad_request"


def test_job_larger_than_plan_allows_is_validation_error(account, make_key, api):
    Plan.objects.filter(tier="free").update(max_check_job_size=3)
    key = make_key(account, scopes=BOTH)
    text = "\n".join(f"203.0.113.{i}:8080" for i in range(1, 5))
    response = api(key).post("check", {"proxies_text": text})
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"
    assert "proxies_text" in response.json_body["meta"]["fields"]
    assert "3" in response.json_body["error"]
    assert CheckJob.objects.count() == 0
    # duplicates do not count against the limit
    text = "\n".join(["203.0.113.1:8080"] * 10 + ["203.0.113.2:8080"])
    ok = api(key).post("check", {"proxies_text": text})
    assert ok.status_code == 202
    assert ok.json_body["data"]["total"] == 2


def test_premium_plan_allows_bigger_jobs(account, make_key, api):
    from datetime import timedelta

    from django.utils import timezone

    Plan.objects.filter(tier="free").update(max_check_job_size=2)
    Plan.objects.filter(tier="premium").update(max_check_job_size=5)
    account.premium_until = timezone.now() + timedelta(days=3)
    account.save()
    key = make_key(account, scopes=BOTH)
    text = "\n".join(f"203.0.113.{i}:8080" for i in range(1, 5))
    assert api(key).post("check", {"proxies_text": text}).status_code == 202


def test_queued_job_is_reported_before_a_worker_runs_it(account, make_key, api):
    key = make_key(account, scopes=BOTH)
    # no on_commit execution here: the job stays queued
    response = api(key).post("check", {"proxies_text": "203.0.113.9:3128\n"})
    job_id = response.json_body["data"]["job_id"]
    job = api(key).get(f"jobs/{job_id}").json_body["data"]
    assert job == {"job_id": job_id, "status": "queued", "total": 1, "done": 0, "live": 0,
                   "created_at": job["created_at"], "started_at": None, "finished_at": None}


def test_jobs_list_newest_first_and_paginated(account, make_key, api):
    key = make_key(account, scopes=BOTH)
    ids = [api(key).post("check", {"proxies_text": f"203.0.113.{i}:80"}).json_body["data"]["job_id"] for i in range(3)]
    listing = api(key).get("jobs").json_body
    assert [j["job_id"] for j in listing["data"]] == ids[::-1]
    assert listing["meta"] == {"page": 1, "limit": 20, "total": 3}
    page2 = api(key).get("jobs", page=2, limit=2).json_body
    assert [j["job_id"] for j in page2["data"]] == [ids[0]]
    assert api(key).get("jobs", limit=101).status_code == 400
    assert api(key).get("jobs", limit=0).status_code == 400


def test_items_limit_bounds_and_status_filter_validation(account, make_key, api):
    key = make_key(account, scopes=BOTH)
    job_id = api(key).post("check", {"proxies_text": "203.0.113.1:80"}).json_body["data"]["job_id"]
    assert api(key).get(f"jobs/{job_id}/items", limit=200).status_code == 200
    assert api(key).get(f"jobs/{job_id}/items", limit=201).json_body["error_type"] == "validation_error"
    assert api(key).get(f"jobs/{job_id}/items", status="maybe").json_body["error_type"] == "validation_error"
    assert api(key).get(f"jobs/{job_id}/items").json_body["meta"]["limit"] == 50


def test_items_of_jobs_stored_interleaved_page_in_id_order(account, make_key, api):
    """Each job's items, whatever other jobs' items lie between them in the table."""
    key = make_key(account, scopes=BOTH)
    first, second = (CheckJob.objects.create(account=account, total=5) for _ in range(2))
    for i in range(5):
        for job in (first, second):
            CheckItem.objects.create(job=job, proxy_norm=f"203.0.113.{i}:80", status="live" if i % 2 else "dead")
    for job in (first, second):
        ids = list(job.items.order_by("id").values_list("proxy_norm", flat=True))
        pages = [api(key).get(f"jobs/{job.job_id}/items", limit=2, page=n).json_body for n in (1, 2, 3)]
        assert [i["proxy_norm"] for p in pages for i in p["data"]] == ids
        assert {p["meta"]["total"] for p in pages} == {5}
        live = api(key).get(f"jobs/{job.job_id}/items", status="live").json_body
        assert [i["proxy_norm"] for i in live["data"]] == ids[1::2] and live["meta"]["total"] == 2


def test_other_tenants_job_and_malformed_ids_are_404(account, outsider_account, make_key, api):
    mine = make_key(account, scopes=BOTH)
    theirs = make_key(outsider_account, scopes=BOTH)
    job_id = api(theirs).post("check", {"proxies_text": "203.0.113.1:80"}).json_body["data"]["job_id"]
    for path in (f"jobs/{job_id}", f"jobs/{job_id}/items", f"jobs/{job_id}/export"):
        response = api(mine).get(path)
        assert response.status_code == 404, path
        assert response.json_body["error_type"] == "not_found"
    for bad in ("not-a-uuid", "123", str(uuid.uuid4())):
        assert api(mine).get(f"jobs/{bad}").status_code == 404
        assert api(mine).get(f"jobs/{bad}/items").status_code == 404
    assert api(mine).get("jobs").json_body["meta"]["total"] == 0


def test_scopes_are_enforced(account, make_key, api):
    reader = make_key(account, scopes=READ)
    writer = make_key(account, scopes=WRITE)
    denied = api(reader).post("check", {"proxies_text": "203.0.113.1:80"})
    assert denied.status_code == 403
    assert denied.json_body["error_type"] == "insufficient_scope"
    assert denied.json_body["meta"]["required"] == "checker:write"
    job_id = api(writer).post("check", {"proxies_text": "203.0.113.1:80"}).json_body["data"]["job_id"]
    for path in ("jobs", f"jobs/{job_id}", f"jobs/{job_id}/items", f"jobs/{job_id}/export", "public-proxies",
                 "public-proxies/export", "premium/proxies"):
        response = api(writer).get(path)
        assert response.status_code == 403, path
        assert response.json_body["meta"]["required"] == "checker:read"
    other = make_key(account, scopes=["orders:read"])
    assert api(other).get("public-proxies").status_code == 403


def test_idempotency_key_replays_the_first_job(account, make_key, api):
    key = make_key(account, scopes=BOTH)
    body = {"proxies_text": "203.0.113.1:80\n203.0.113.2:80"}
    first = api(key).post("check", body, headers={"Idempotency-Key": "abc-1"})
    again = api(key).post("check", body, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 202
    assert first.json_body["data"]["job_id"] == again.json_body["data"]["job_id"]
    assert CheckJob.objects.count() == 1
    other = api(key).post("check", {"proxies_text": "203.0.113.3:80"}, headers={"Idempotency-Key": "abc-1"})
    assert other.status_code == 409
    assert other.json_body["error_type"] == "conflict"


def test_check_rate_category_is_check(account, make_key, api):
    Plan.objects.filter(tier="free").update(limit_check=2)
    from accounts.selectors import forget_plan_limits

    forget_plan_limits()
    key = make_key(account, scopes=BOTH)
    codes = [api(key).post("check", {"proxies_text": "203.0.113.1:80"}).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    # the general category is unaffected
    assert api(key).get("jobs").status_code == 200


def test_anonymity_and_target_url_through_a_real_proxy(account, make_key, api, submit, checker_on, proxies, aio):
    from tests.checker.servers import HeaderProxy, TextSite

    # The judge by name: its Host header must not carry the checker's own address (127.0.0.1
    # here), which would read as "transparent".
    checker_on.CHECKER_JUDGE_URL = checker_on.CHECKER_JUDGE_URL.replace("127.0.0.1", "localhost")
    site = aio.run(TextSite(body="<h1>welcome to the shop</h1>").start())
    via = aio.run(HeaderProxy(add_headers={"Via": "1.1 test-proxy"}).start())
    try:
        key = make_key(account, scopes=BOTH)
        text = f"127.0.0.1:{proxies['http']}\nhttp://127.0.0.1:{via.port}\n"
        job_id = submit(key, {"proxies_text": text, "include_anonymity": True, "target_url": site.url,
                              "expect_text": "welcome"}).json_body["data"]["job_id"]
        items = {i["proxy_norm"]: i for i in api(key).get(f"jobs/{job_id}/items").json_body["data"]}
        assert items[f"127.0.0.1:{proxies['http']}"]["status"] == "live"
        assert items[f"127.0.0.1:{proxies['http']}"]["anonymity"] == "elite"
        assert items[f"http://127.0.0.1:{via.port}"]["anonymity"] == "anonymous"

        job_id = submit(key, {"proxies_text": text, "target_url": site.url,
                              "expect_text": "not on the page"}).json_body["data"]["job_id"]
        items = api(key).get(f"jobs/{job_id}/items").json_body["data"]
        assert {i["status"] for i in items} == {"dead"}
        assert {i["error"] for i in items} == {"expect_text_missing"}
    finally:
        aio.run(site.stop())
        aio.run(via.stop())


def test_private_addresses_are_refused_unless_allowed(account, make_key, api, submit, settings, judge_server, proxies):
    settings.CHECKER_JUDGE_URL = judge_server.url
    settings.CHECKER_ALLOW_PRIVATE = False
    settings.CHECKER_TIMEOUT_S = 3.0
    key = make_key(account, scopes=BOTH)
    job_id = submit(key, {"proxies_text": f"127.0.0.1:{proxies['http']}\n10.0.0.1:8080"}).json_body["data"]["job_id"]
    items = api(key).get(f"jobs/{job_id}/items").json_body["data"]
    assert {i["error"] for i in items} == {"blocked_address"}
    assert CheckItem.objects.filter(status="live").count() == 0


def test_job_items_page_tells_an_empty_page_from_an_unknown_job(account, outsider_account, make_key, api):
    """A job's items come in one query that keeps to the account's jobs; the job is read only
    when the page is empty or the request refused, so 404 still comes first."""
    mine = api(make_key(account, scopes=READ))
    own = CheckJob.objects.create(account=account, total=2)
    CheckItem.objects.bulk_create(CheckItem(job=own, proxy_norm=f"10.0.0.{i}:80", status="live") for i in range(2))
    empty = CheckJob.objects.create(account=account, total=0)
    theirs = CheckJob.objects.create(account=outsider_account, total=1)
    CheckItem.objects.create(job=theirs, proxy_norm="10.9.9.9:80", status="live")

    page = mine.get(f"jobs/{own.job_id}/items").json_body
    assert [i["proxy_norm"] for i in page["data"]] == ["10.0.0.0:80", "10.0.0.1:80"] and page["meta"]["total"] == 2
    past = mine.get(f"jobs/{own.job_id}/items", page=3, limit=1)
    assert past.status_code == 200 and past.json_body["data"] == [] and past.json_body["meta"]["total"] == 2
    nothing = mine.get(f"jobs/{empty.job_id}/items")
    assert nothing.status_code == 200 and nothing.json_body["data"] == [] and nothing.json_body["meta"]["total"] == 0
    assert mine.get(f"jobs/{own.job_id}/items", status="dead").json_body["data"] == []

    for job_id in (theirs.job_id, uuid.uuid4()):
        for params in ({}, {"status": "maybe"}, {"page": "0"}):
            refused = mine.get(f"jobs/{job_id}/items", **params)
            assert refused.status_code == 404 and refused.json_body["error_type"] == "not_found", params
    for params in ({"status": "maybe"}, {"page": "0"}):
        refused = mine.get(f"jobs/{own.job_id}/items", **params)
        assert refused.status_code == 400 and refused.json_body["error_type"] == "validation_error", params

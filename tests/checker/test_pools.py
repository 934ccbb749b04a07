"""Public and premium pools: import, re-check and uptime, the list endpoints and their
filters, the streamed export, premium access, checkpool."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone

from checker.models import PoolProxy, PoolShard
from checker.services.pools import pool_import, pool_recheck
from checker.tasks import recheck_pool
from tests.checker.servers import closed_port, start_pproxy, stop_process

READ = ["checker:read"]


def _pool(pool="public", norm="203.0.113.1:8080", **fields):
    now = timezone.now()
    host, port = norm.rsplit("@", 1)[-1].rsplit(":", 1)
    defaults = {
        "protocol": "http", "host": host, "port": int(port), "country": "US", "anonymity": "elite",
        "latency_ms": 100, "last_status": "live", "last_checked_at": now, "history": "1", "uptime_score": 1.0,
    }
    defaults.update(fields)
    return PoolProxy.objects.create(pool=pool, proxy_norm=norm, **defaults)


# ----------------------------------------------------------------------------- import
def test_pool_import_counts_imported_duplicates_and_invalid(db):
    text = "1.2.3.4:8080\n1.2.3.4:8080\nsocks5://5.6.7.8:1080\nuser:pw@9.9.9.9:3128\n# comment\n\ngarbage\n"
    assert pool_import(pool="public", text=text) == {"imported": 3, "duplicates": 1, "invalid": 1}
    again = pool_import(pool="public", text="1.2.3.4:8080\n10.1.1.1:80\n", source="feed-b")
    assert again == {"imported": 1, "duplicates": 1, "invalid": 0}
    # the same proxy may sit in the other pool
    assert pool_import(pool="premium", text="1.2.3.4:8080")["imported"] == 1
    socks = PoolProxy.objects.get(pool="public", proxy_norm="socks5://5.6.7.8:1080")
    assert (socks.scheme, socks.host, socks.port, socks.last_status) == ("socks5", "5.6.7.8", 1080, "unchecked")
    creds = PoolProxy.objects.get(proxy_norm="user:pw@9.9.9.9:3128")
    assert (creds.username, creds.password) == ("user", "pw")
    assert PoolProxy.objects.get(proxy_norm="10.1.1.1:80").source == "feed-b"


def test_pool_import_refuses_an_unknown_pool(db):
    from core.errors import DomainValidationError

    with pytest.raises(DomainValidationError):
        pool_import(pool="inventory", text="1.2.3.4:80")
    assert PoolProxy.objects.count() == 0


# ----------------------------------------------------------------------------- re-check
def test_recheck_marks_live_and_dead_and_keeps_uptime_over_recent_checks(db, checker_on, proxies):
    proc, port = start_pproxy("socks5")
    try:
        dead = closed_port()
        text = f"127.0.0.1:{proxies['http']}\n127.0.0.1:{port}\n127.0.0.1:{dead}\n"
        pool_import(pool="public", text=text)
        assert recheck_pool("public") == {"shards": 1, "enqueued": 1}  # the shard ran eagerly
        assert PoolShard.objects.get().checked == 3 and PoolShard.objects.get().live == 2
        http = PoolProxy.objects.get(proxy_norm=f"127.0.0.1:{proxies['http']}")
        assert (http.last_status, http.protocol, http.uptime_score, http.history) == ("live", "http", 1.0, "1")
        assert http.latency_ms is not None and http.exit_ip == "127.0.0.1" and http.anonymity
        flaky = PoolProxy.objects.get(proxy_norm=f"127.0.0.1:{port}")
        assert flaky.protocol == "socks5"
        gone = PoolProxy.objects.get(proxy_norm=f"127.0.0.1:{dead}")
        assert (gone.last_status, gone.uptime_score, gone.last_error) == ("dead", 0.0, "refused")
    finally:
        stop_process(proc)

    out = StringIO()
    call_command("checkpool", "--pool", "public", stdout=out)
    assert "Checked 3 proxies of the public pool: 1 live, 2 dead." in out.getvalue()
    flaky.refresh_from_db()
    assert (flaky.last_status, flaky.history, flaky.uptime_score) == ("dead", "10", 0.5)
    assert flaky.protocol == "socks5"  # what it was last seen as


def test_uptime_window_keeps_the_last_twenty_checks(db, checker_on, proxies):
    proxy = _pool(norm=f"127.0.0.1:{proxies['http']}", host="127.0.0.1", history="0" * 20, uptime_score=0.0)
    pool_recheck(pool="public")
    proxy.refresh_from_db()
    assert proxy.history == "0" * 19 + "1"
    assert proxy.uptime_score == pytest.approx(0.05)


def test_recheck_walks_the_pool_in_chunks(db, checker_on):
    for i in range(5):
        _pool(norm=f"127.0.0.1:{closed_port() if i == 0 else 1 + i}", last_status="unchecked")
    assert pool_recheck(pool="public", chunk_size=2) == {"checked": 5, "live": 0, "dead": 5, "busy": 0}
    assert PoolProxy.objects.filter(last_status="dead").count() == 5
    assert pool_recheck(pool="premium") == {"checked": 0, "live": 0, "dead": 0, "busy": 0}


def test_checkpool_refuses_a_bad_pool(db):
    with pytest.raises(CommandError, match="--pool"):
        call_command("checkpool", "--pool", "everything")


# ----------------------------------------------------------------------------- listing
@pytest.fixture
def reader(account, make_key, api):
    return api(make_key(account, scopes=READ))


def test_public_list_shows_only_proxies_whose_latest_check_succeeded(reader):
    now = timezone.now()
    _pool(norm="203.0.113.1:80", last_checked_at=now - timedelta(minutes=1))
    _pool(norm="203.0.113.2:80", last_status="dead")
    _pool(norm="203.0.113.3:80", last_status="unchecked", last_checked_at=None)
    _pool(pool="premium", norm="203.0.113.4:80")
    latest = _pool(norm="socks5://203.0.113.5:1080", protocol="socks5", country="", anonymity="",
                   latency_ms=None, uptime_score=0.75, last_checked_at=now)
    response = reader.get("public-proxies")
    assert response.status_code == 200
    body = response.json_body
    assert [p["proxy_norm"] for p in body["data"]] == ["socks5://203.0.113.5:1080", "203.0.113.1:80"]
    assert body["meta"]["total"] == 2 and body["meta"]["page"] == 1 and body["meta"]["limit"] == 50
    assert body["meta"]["refreshed_at"] == latest.last_checked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["data"][0] == {
        "proxy_norm": "socks5://203.0.113.5:1080", "protocol": "socks5", "country": None, "anonymity": None,
        "latency_ms": None, "uptime_score": 0.75, "checked_at": latest.last_checked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_list_total_follows_rechecks_and_admin_deletions(reader, checker_on, proxies, staff_client):
    """Totals are cached per pool version: every write to the pool shows at once."""
    proc, port = start_pproxy("http")
    try:
        pool_import(pool="public", text=f"127.0.0.1:{port}\n127.0.0.1:{proxies['http']}\n")
        assert reader.get("public-proxies").json_body["meta"]["total"] == 0  # nothing checked yet
        pool_recheck(pool="public")
        assert reader.get("public-proxies").json_body["meta"]["total"] == 2
    finally:
        stop_process(proc)
    pool_recheck(pool="public")  # the stopped one is dead now
    body = reader.get("public-proxies").json_body
    assert body["meta"]["total"] == 1 and [p["proxy_norm"] for p in body["data"]] == [f"127.0.0.1:{proxies['http']}"]
    survivor = PoolProxy.objects.get(proxy_norm=f"127.0.0.1:{proxies['http']}")
    response = staff_client.post("/admin/checker/poolproxy/", {
        "action": "delete_selected", "_selected_action": [survivor.pk], "post": "yes"})
    assert response.status_code == 302
    assert reader.get("public-proxies").json_body["meta"]["total"] == 0


def test_total_and_refresh_time_are_read_again_once_the_pool_changes(reader):
    """Both come from one cache entry per pool version; pool_changed (every write) moves it."""
    from checker.selectors import pool_changed

    now = timezone.now()
    proxy = _pool(norm="203.0.113.1:80", last_checked_at=now - timedelta(minutes=5))
    first = reader.get("public-proxies").json_body["meta"]
    assert first["total"] == 1
    _pool(norm="203.0.113.2:80", last_checked_at=now)
    assert reader.get("public-proxies").json_body["meta"] == first  # the same version: the cached figures
    pool_changed(pool="public")
    second = reader.get("public-proxies").json_body["meta"]
    assert second["total"] == 2 and second["refreshed_at"] == now.strftime("%Y-%m-%dT%H:%M:%SZ")
    PoolProxy.objects.filter(pk=proxy.pk).update(last_status="dead")
    pool_changed(pool="public")
    assert reader.get("public-proxies").json_body["meta"]["total"] == 1


def test_public_list_filters(reader):
    now = timezone.now()
    _pool(norm="203.0.113.1:80", protocol="http", country="US", anonymity="elite", latency_ms=50, uptime_score=1.0)
    _pool(norm="203.0.113.2:1080", protocol="socks5", country="DE", anonymity="anonymous", latency_ms=500,
          uptime_score=0.5)
    _pool(norm="203.0.113.3:1080", protocol="socks4", country="US", anonymity="transparent", latency_ms=900,
          uptime_score=0.2, last_checked_at=now - timedelta(hours=3))
    _pool(norm="203.0.113.4:443", protocol="https", country="FR", anonymity="elite", latency_ms=80,
          uptime_score=0.9, last_checked_at=now - timedelta(days=2))

    def norms(**params):
        response = reader.get("public-proxies", **params)
        assert response.status_code == 200, response.json_body
        return sorted(p["proxy_norm"] for p in response.json_body["data"])

    assert norms() == ["203.0.113.1:80", "203.0.113.2:1080", "203.0.113.3:1080"]  # default: a day fresh
    assert norms(fresh_minutes=5000) == ["203.0.113.1:80", "203.0.113.2:1080", "203.0.113.3:1080", "203.0.113.4:443"]
    assert norms(fresh_minutes=60) == ["203.0.113.1:80", "203.0.113.2:1080"]
    assert norms(protocol="socks5") == ["203.0.113.2:1080"]
    assert norms(protocol="https", fresh_minutes=5000) == ["203.0.113.4:443"]
    assert norms(country="us") == ["203.0.113.1:80", "203.0.113.3:1080"]
    assert norms(anonymity="elite") == ["203.0.113.1:80"]
    assert norms(max_latency_ms=500) == ["203.0.113.1:80", "203.0.113.2:1080"]
    assert norms(min_uptime=0.5) == ["203.0.113.1:80", "203.0.113.2:1080"]
    assert norms(min_uptime=1) == ["203.0.113.1:80"]
    assert norms(country="US", anonymity="transparent", max_latency_ms=1000) == ["203.0.113.3:1080"]
    assert norms(country="JP") == []


@pytest.mark.parametrize("params", [
    {"protocol": "ftp"}, {"country": "USA"}, {"country": "1"}, {"anonymity": "invisible"},
    {"fresh_minutes": "0"}, {"fresh_minutes": "abc"}, {"max_latency_ms": "-1"}, {"max_latency_ms": "1.5"},
    {"min_uptime": "1.5"}, {"min_uptime": "-0.1"}, {"min_uptime": "abc"}, {"min_uptime": "nan"},
    {"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"page": "0"},
])
def test_bad_filters_are_validation_errors(reader, params):
    response = reader.get("public-proxies", **params)
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"
    assert set(response.json_body["meta"]["fields"]) == set(params)


def test_limit_bounds_and_pages(reader):
    for i in range(1, 6):
        _pool(norm=f"203.0.113.{i}:80", last_checked_at=timezone.now() - timedelta(seconds=i))
    assert len(reader.get("public-proxies", limit=200).json_body["data"]) == 5
    first = reader.get("public-proxies", limit=2).json_body
    second = reader.get("public-proxies", limit=2, page=2).json_body
    assert [p["proxy_norm"] for p in first["data"]] == ["203.0.113.1:80", "203.0.113.2:80"]
    assert [p["proxy_norm"] for p in second["data"]] == ["203.0.113.3:80", "203.0.113.4:80"]
    assert second["meta"] == {**second["meta"], "page": 2, "limit": 2, "total": 5}
    assert reader.get("public-proxies", limit=1).json_body["meta"]["limit"] == 1


# ----------------------------------------------------------------------------- export
def _export(key, path="public-proxies/export", **params):
    return Client().get(f"/api/v1/{path}", params, headers={"Authorization": f"Bearer {key}"})


def test_public_export_is_streamed_in_every_format(account, make_key):
    key = make_key(account, scopes=READ)
    for i in range(1, 251):
        _pool(norm=f"203.0.{i // 200}.{i % 200}:8080", protocol="socks5" if i % 2 else "http", country="US")
    _pool(norm="203.0.113.250:80", last_status="dead")

    txt = _export(key, format="txt", protocol="socks5")
    assert isinstance(txt, StreamingHttpResponse)
    assert txt.status_code == 200 and txt["Content-Type"].startswith("text/plain")
    lines = b"".join(txt.streaming_content).decode().splitlines()
    assert len(lines) == 125 and all(line.endswith(":8080") for line in lines)

    default = _export(key)
    assert isinstance(default, StreamingHttpResponse)
    assert len(b"".join(default.streaming_content).decode().splitlines()) == 250

    csv_response = _export(key, format="csv", country="US")
    assert isinstance(csv_response, StreamingHttpResponse) and csv_response["Content-Type"].startswith("text/csv")
    rows = b"".join(csv_response.streaming_content).decode().splitlines()
    assert rows[0] == "proxy_norm,protocol,country,anonymity,latency_ms,uptime_score,checked_at"
    assert len(rows) == 251

    json_response = _export(key, format="json", protocol="http")
    assert isinstance(json_response, StreamingHttpResponse)
    items = json.loads(b"".join(json_response.streaming_content))
    assert len(items) == 125 and {i["protocol"] for i in items} == {"http"}
    assert set(items[0]) == {"proxy_norm", "protocol", "country", "anonymity", "latency_ms", "uptime_score", "checked_at"}


def test_export_rows_equal_the_list_items_in_csv_and_json(account, make_key, api):
    """The exports carry exactly the list endpoint's items, special characters and blanks included."""
    key = make_key(account, scopes=READ)
    now = timezone.now().replace(microsecond=0)
    _pool(norm='us"er:p,w\\é@203.0.113.7:8080', last_checked_at=now, uptime_score=0.3333)
    _pool(norm="socks4://203.0.113.8:1080", protocol="socks4", country="", anonymity="", latency_ms=None,
          uptime_score=1.0, last_checked_at=now - timedelta(minutes=5))
    listed = api(key).get("public-proxies").json_body["data"]
    assert len(listed) == 2
    assert json.loads(b"".join(_export(key, format="json").streaming_content)) == listed
    import csv as csv_module

    rows = list(csv_module.DictReader(b"".join(_export(key, format="csv").streaming_content).decode().splitlines()))
    as_text = [{k: "" if v is None else str(v) for k, v in item.items()} for item in listed]
    assert rows == as_text


def test_export_refuses_bad_format_and_filters_with_the_envelope(account, make_key):
    key = make_key(account, scopes=READ)
    for params in ({"format": "xml"}, {"protocol": "gopher"}, {"min_uptime": "2"}):
        response = _export(key, **params)
        assert response.status_code == 400
        assert json.loads(response.content)["error_type"] == "validation_error"


def test_export_counts_against_the_export_rate_category(account, make_key):
    from accounts.models import Plan
    from accounts.selectors import forget_plan_limits

    Plan.objects.filter(tier="free").update(limit_export=1)
    forget_plan_limits()
    key = make_key(account, scopes=READ)
    assert _export(key).status_code == 200
    limited = _export(key)
    assert limited.status_code == 429 and limited["Retry-After"]
    assert Client().get("/api/v1/public-proxies", headers={"Authorization": f"Bearer {key}"}).status_code == 200


# ----------------------------------------------------------------------------- premium
def test_premium_pool_needs_a_premium_account(account, make_key, api):
    _pool(pool="premium", norm="198.51.100.1:3128")
    _pool(pool="public", norm="203.0.113.1:80")
    key = make_key(account, scopes=READ)
    denied = api(key).get("premium/proxies")
    assert denied.status_code == 403
    assert denied.json_body["error_type"] == "premium_required"
    assert _export(key, "premium/proxies/export").status_code == 403

    account.premium_until = timezone.now() + timedelta(days=30)
    account.save()
    allowed = api(key).get("premium/proxies", protocol="http")
    assert allowed.status_code == 200
    assert [p["proxy_norm"] for p in allowed.json_body["data"]] == ["198.51.100.1:3128"]
    assert "refreshed_at" in allowed.json_body["meta"]
    assert api(key).get("premium/proxies", min_uptime=3).status_code == 400
    lines = b"".join(_export(key, "premium/proxies/export").streaming_content).decode().split()
    assert lines == ["198.51.100.1:3128"]


def test_lapsed_premium_loses_the_premium_pool(account, make_key, api):
    account.premium_until = timezone.now() - timedelta(seconds=1)
    account.save()
    key = make_key(account, scopes=READ)
    assert api(key).get("premium/proxies").json_body["error_type"] == "premium_required"


# ----------------------------------------------------------------------------- indexes
SEED_SQL = """
INSERT INTO checker_poolproxy (pool, proxy_norm, scheme, protocol, host, port, username, password, country,
    anonymity, exit_ip, latency_ms, last_status, last_error, last_checked_at, history, uptime_score, source,
    created_at)
SELECT CASE WHEN g % 10 = 0 THEN 'premium' ELSE 'public' END,
       '10.' || (g / 65536) || '.' || ((g / 256) % 256) || '.' || (g % 256) || ':8080', '',
       (ARRAY['http','https','socks4','socks5'])[1 + g % 4], '10.0.0.1', 8080, '', '',
       (ARRAY['US','DE','FR','GB','NL','BR','IN','CN','RU','JP','CA','PL','UA','ID','VN','TR','IT','ES','KR','MX'])[1 + (g / 7) % 20],
       (ARRAY['transparent','anonymous','elite'])[1 + (g / 3) % 3], '', (g * 7919) % 10000,
       CASE WHEN g % 3 = 0 THEN 'dead' ELSE 'live' END, '',
       now() - make_interval(secs => (g * 104729) % 259200), '1', ((g * 31) % 1000) / 1000.0, 'seed', now()
FROM generate_series(1::bigint, {rows}) AS g
"""


@pytest.mark.postgres
@pytest.mark.parametrize("params, index", [
    ({}, "pool_live_checked"),
    ({"protocol": "socks5", "fresh_minutes": "4320"}, "pool_live_protocol"),
    ({"country": "DE", "fresh_minutes": "4320"}, "pool_live_country"),
    ({"anonymity": "elite", "fresh_minutes": "4320"}, "pool_live_anonymity"),
    ({"max_latency_ms": "5", "fresh_minutes": "4320"}, "pool_live_latency"),
    ({"min_uptime": "0.999", "fresh_minutes": "4320"}, "pool_live_uptime"),
])
def test_every_list_filter_is_served_by_an_index(db, settings, params, index):
    """With a realistic spread of 20 000 rows, each filter's page comes from its partial index
    on the live rows of a pool (no sequential scan)."""
    from django.db import connection

    from checker import selectors

    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute(SEED_SQL.format(rows=20_000))
        cursor.execute("ANALYZE checker_poolproxy")
    qs = selectors.pool_proxies(pool="public", filters=selectors.parse_pool_filters(params))
    sql, sql_params = qs[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, sql_params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


# ----------------------------------------------------------------------------- admin
@pytest.fixture
def staff_client(db):
    from accounts.models import User

    User.objects.create_superuser(email="ops@example.com", password="ops-pass-123456")
    client = Client()
    assert client.login(email="ops@example.com", password="ops-pass-123456")
    return client


def test_admin_upload_adds_proxies_to_a_pool(staff_client, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    assert staff_client.get("/admin/checker/poolproxy/upload/").status_code == 200
    upload = SimpleUploadedFile("pool.txt", b"198.51.100.1:3128\n198.51.100.1:3128\nbad\n")
    response = staff_client.post("/admin/checker/poolproxy/upload/", {
        "pool": "premium", "file": upload, "text": "socks5://198.51.100.2:1080", "source": "vendor-x",
    }, follow=True)
    assert response.status_code == 200
    assert "Premium pool: 2 imported, 1 duplicates, 1 invalid lines." in response.content.decode()
    assert set(PoolProxy.objects.filter(pool="premium", source="vendor-x").values_list("proxy_norm", flat=True)) == {
        "198.51.100.1:3128", "socks5://198.51.100.2:1080"}
    empty = staff_client.post("/admin/checker/poolproxy/upload/", {"pool": "public", "source": "x"})
    assert empty.status_code == 200 and "Upload a file or paste a list." in empty.content.decode()


def test_admin_lists_render(staff_client, account):
    from checker.models import CheckItem, CheckJob

    job = CheckJob.objects.create(account=account, total=1, status="running")
    CheckItem.objects.create(job=job, proxy_norm="203.0.113.1:80", status="dead", error="refused")
    _pool()
    for url in ("/admin/checker/checkjob/", f"/admin/checker/checkjob/{job.pk}/change/",
                "/admin/checker/checkitem/", "/admin/checker/poolproxy/?pool=public&last_status=live"):
        assert staff_client.get(url).status_code == 200, url
    response = staff_client.post("/admin/checker/checkjob/", {"action": "cancel_jobs", "_selected_action": [job.pk]})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"

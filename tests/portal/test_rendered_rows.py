"""api.rendered_rows: a list page renders each version of a row once, and a row changed in
any way (save, queryset update, raw SQL, in the same transaction or not) shows its change on
the next read. Driven through GET /proxy, whose rows are rendered that way."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from api import rendered_rows
from billing.services import ledger_post
from checker.models import CheckItem, CheckJob
from orders.models import OrderProxy
from orders.residential.api import SubUserOut
from orders.residential.models import SubUserProxy
from tests.orders.residential.subuser_fixtures import datacenter_order, residential_order

RW = ["proxies:read", "proxies:write"]
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="rows have versions on PostgreSQL only")


@pytest.fixture
def client(api, account, make_key):
    return api(make_key(account, scopes=RW))


@pytest.fixture
def order(account):
    return residential_order(account, gb="10")


def _create(client, order, name: str) -> str:
    r = client.post("proxy", {"name": name, "order_id": order.public_id})
    assert r.status_code == 201, r.json_body
    return r.json_body["data"]["id"]


def _listed(client, query: str = "") -> tuple[list[dict], dict]:
    r = client.get(f"proxy{query}")
    assert r.status_code == 200, r.json_body
    return r.json_body["data"], r.json_body["meta"]


@pytest.fixture
def renders(monkeypatch):
    """The sub-user rows the serializer rendered (by name)."""
    names = []
    to_representation = SubUserOut.to_representation

    def counting(self, instance):
        names.append(instance.name)
        return to_representation(self, instance)

    monkeypatch.setattr(SubUserOut, "to_representation", counting)
    return names


def test_every_kind_of_write_shows_on_the_next_read(client, order):
    ids = [_create(client, order, f"proxy {i}") for i in range(3)]
    assert [p["name"] for p in _listed(client)[0]] == ["proxy 2", "proxy 1", "proxy 0"]
    _listed(client)

    proxy = SubUserProxy.objects.get(public_id=ids[0])
    proxy.name = "saved"
    proxy.save()
    SubUserProxy.objects.filter(public_id=ids[1]).update(traffic_used_bytes=1_500_000_000)  # no save, no signal
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {SubUserProxy._meta.db_table} SET name = %s WHERE public_id = %s", ["raw", ids[2]])

    rows, meta = _listed(client)
    assert [p["name"] for p in rows] == ["raw", "proxy 1", "saved"]
    assert rows[1]["traffic_used_gb"] == "1.5"
    assert meta["total"] == 3
    # the same text the detail endpoint renders for each row
    assert rows == [client.get(f"proxy/{p['id']}").json_body["data"] for p in rows]


def test_a_row_written_twice_in_one_transaction_shows_the_second_write(client, order):
    """Both writes share the transaction's id (`xmin`); each version still has its own place."""
    proxy_id = _create(client, order, "first")
    for name in ("second", "third"):
        SubUserProxy.objects.filter(public_id=proxy_id).update(name=name)
        assert _listed(client)[0][0]["name"] == name


@on_postgresql
def test_only_rows_changed_since_the_last_read_are_rendered_again(client, order, renders):
    ids = [_create(client, order, f"proxy {i}") for i in range(4)]
    _listed(client)
    renders.clear()
    assert len(_listed(client)[0]) == 4
    assert renders == []
    SubUserProxy.objects.filter(public_id=ids[1]).update(status="disabled", disabled_reason="limit")
    rows, _meta = _listed(client)
    assert renders == ["proxy 1"]
    assert [(p["status"], p["disabled_reason"]) for p in rows][2] == ("disabled", "limit")


def test_deleted_rows_leave_the_page_and_the_total(client, order):
    ids = [_create(client, order, f"proxy {i}") for i in range(3)]
    _listed(client)
    assert client.delete(f"proxy/{ids[1]}").status_code == 200
    SubUserProxy.objects.filter(public_id=ids[2]).delete()
    rows, meta = _listed(client)
    assert [p["id"] for p in rows] == [ids[0]] and meta["total"] == 1


def test_pages_and_the_total_past_the_end(client, order):
    ids = [_create(client, order, f"proxy {i}") for i in range(5)]
    rows, meta = _listed(client, "?limit=2&page=2")
    assert [p["id"] for p in rows] == [ids[2], ids[1]]
    assert meta == {"page": 2, "limit": 2, "total": 5}
    assert _listed(client, "?limit=2&page=9") == ([], {"page": 9, "limit": 2, "total": 5})
    assert _listed(client, "?status=disabled") == ([], {"page": 1, "limit": 50, "total": 0})


def test_a_settings_change_renders_the_rows_again(client, order):
    _create(client, order, "proxy")
    assert _listed(client)[0][0]["host"] != "gw.example.test"
    with override_settings(RESIDENTIAL_GATEWAY_HOST="gw.example.test"):
        row = _listed(client)[0][0]
    assert row["host"] == "gw.example.test" and row["connection"]["url"].endswith("@gw.example.test:" + str(row["port"]))


def test_another_tenants_rows_never_show(client, order, api, make_key, outsider_account):
    _create(client, order, "ours")
    outsider = api(make_key(outsider_account, scopes=RW))
    _create(outsider, residential_order(outsider_account), "theirs")
    for _ in range(2):
        assert [p["name"] for p in _listed(client)[0]] == ["ours"]
        assert [p["name"] for p in _listed(outsider)[0]] == ["theirs"]


@on_postgresql
def test_a_process_keeps_at_most_rows_kept(client, order, monkeypatch):
    monkeypatch.setattr(rendered_rows, "ROWS_KEPT", 3)
    rendered_rows._RENDERED.clear()
    for i in range(5):
        _create(client, order, f"proxy {i}")
    for _ in range(2):
        assert [p["name"] for p in _listed(client)[0]] == [f"proxy {i}" for i in reversed(range(5))]
        assert len(rendered_rows._RENDERED) <= 3


def test_an_orders_proxy_count_follows_its_proxies(account, api, make_key):
    """The order's row does not change when one of its proxies is released: the count its list
    shows is part of what names the rendered row (OrderOut.rendered_per_row_version)."""
    client = api(make_key(account, scopes=["orders:read"]))
    order = datacenter_order(account)
    proxies = [OrderProxy.objects.create(order=order, host="127.0.0.1", port=8000 + i) for i in range(3)]
    for _ in range(2):
        assert client.get("orders").json_body["data"][0]["proxy_count"] == 3
        assert [p["port"] for p in client.get(f"orders/{order.public_id}/proxies").json_body["data"]] == [8000, 8001, 8002]
    OrderProxy.objects.filter(pk=proxies[1].pk).update(released_at=timezone.now())
    OrderProxy.objects.filter(pk=proxies[2].pk).update(port=9002)
    assert client.get("orders").json_body["data"][0]["proxy_count"] == 2
    assert [p["port"] for p in client.get(f"orders/{order.public_id}/proxies").json_body["data"]] == [8000, 9002]
    assert client.get(f"orders/{order.public_id}").json_body["data"]["proxy_count"] == 2
    OrderProxy.objects.filter(pk=proxies[0].pk).update(released_at=timezone.now())
    assert client.get("orders").json_body["data"][0]["proxy_count"] == 1
    assert client.get(f"orders/{order.public_id}").json_body["data"] == client.get("orders").json_body["data"][0]


def test_a_jobs_progress_and_the_ledger_show_at_once(account, api, make_key):
    client = api(make_key(account, scopes=["checker:read", "balance:read"]))
    job = CheckJob.objects.create(account=account, total=10)
    assert client.get("jobs").json_body["data"][0]["done"] == 0
    assert client.get(f"jobs/{job.job_id}").json_body["data"]["done"] == 0
    CheckJob.objects.filter(pk=job.pk).update(done=7, live=5, status="running")
    row = client.get("jobs").json_body["data"][0]
    assert (row["status"], row["done"], row["live"]) == ("running", 7, 5)
    assert client.get(f"jobs/{job.job_id}").json_body["data"] == row
    before = client.get("account/transactions").json_body["meta"]["total"]
    ledger_post(account=account, amount=Decimal("5.00"), type="adjustment", reference="goodwill-1", description="goodwill")
    listed = client.get("account/transactions").json_body
    assert listed["meta"]["total"] == before + 1
    assert (listed["data"][0]["amount"], listed["data"][0]["description"]) == ("5.00", "goodwill")


def test_a_jobs_items_show_their_results_at_once(account, api, make_key):
    client = api(make_key(account, scopes=["checker:read"]))
    job = CheckJob.objects.create(account=account, total=2)
    items = [CheckItem.objects.create(job=job, proxy_norm=f"127.0.0.1:{8000 + i}", status="dead") for i in range(2)]
    for _ in range(2):
        rows = client.get(f"jobs/{job.job_id}/items").json_body["data"]
        assert [(r["proxy_norm"], r["status"], r["exit_ip"]) for r in rows] == [
            ("127.0.0.1:8000", "dead", None), ("127.0.0.1:8001", "dead", None)]
    CheckItem.objects.filter(pk=items[1].pk).update(status="live", exit_ip="127.0.0.9", connect_ms=12)
    rows = client.get(f"jobs/{job.job_id}/items").json_body["data"]
    assert (rows[1]["status"], rows[1]["exit_ip"], rows[1]["connect_ms"], rows[1]["country"]) == ("live", "127.0.0.9", 12, None)


def test_details_of_unknown_or_another_tenants_rows_are_404(account, api, make_key, outsider_account):
    outsider = api(make_key(outsider_account, scopes=["proxies:read", "proxies:write", "orders:read", "checker:read"]))
    theirs = _create(outsider, residential_order(outsider_account), "theirs")
    job = CheckJob.objects.create(account=outsider_account, total=1)
    ours = api(make_key(account, scopes=["proxies:read", "orders:read", "checker:read"]))
    for _ in range(2):  # the second time with their rows rendered in this process
        assert outsider.get(f"proxy/{theirs}").status_code == 200
        assert outsider.get(f"jobs/{job.job_id}").status_code == 200
        for path in (f"proxy/{theirs}", "proxy/prx_unknown", f"jobs/{job.job_id}", "jobs/not-a-uuid",
                     f"orders/{outsider.get('orders').json_body['data'][0]['id']}", "orders/ord_unknown"):
            r = ours.get(path)
            assert (r.status_code, r.json_body["error_type"]) == (404, "not_found"), path


def test_a_query_that_cannot_carry_its_total_is_paged_and_rendered_the_usual_way(client, order, account):
    """A DISTINCT query's COUNT subquery would count something else: it is counted apart."""
    for i in range(3):
        _create(client, order, f"proxy {i}")
    queryset = SubUserProxy.objects.filter(account=account).select_related("order").order_by("id").distinct()
    rows, meta = rendered_rows.paginate_rendered(queryset, {"limit": "2"}, SubUserOut, default_limit=50, max_limit=200)
    assert meta == {"page": 1, "limit": 2, "total": 3}
    assert rows == SubUserOut(list(queryset[:2]), many=True).data

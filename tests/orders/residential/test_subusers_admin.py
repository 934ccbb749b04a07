"""Operator admin for sub-user proxies and usage: lists, search, actions."""

import pytest
from django.test import Client

from accounts.models import User
from orders.residential import services
from orders.residential.models import SubUserProxy

from .subuser_fixtures import deliver, record, residential_order


@pytest.fixture
def ops(db):
    User.objects.create_superuser(email="ops@example.com", password="ops-Password-123")
    client = Client()
    assert client.login(email="ops@example.com", password="ops-Password-123")
    return client


@pytest.fixture
def proxy(account):
    order = residential_order(account, gb="1")
    return services.subuser_create(account=account, order_id=order.public_id, name="ops-visible")


def test_changelists_render_and_search(ops, proxy):
    deliver([record(proxy.username, 10, 20, id="adm-1")])
    r = ops.get("/admin/orders/subuserproxy/", {"q": proxy.public_id})
    assert r.status_code == 200 and "ops-visible" in r.content.decode()
    assert proxy.password not in ops.get(f"/admin/orders/subuserproxy/{proxy.pk}/change/").content.decode()
    r = ops.get("/admin/orders/usagerecord/", {"q": "adm-1"})
    assert r.status_code == 200 and "adm-1" in r.content.decode()


def test_disable_and_reconcile_actions(ops, proxy):
    r = ops.post("/admin/orders/subuserproxy/", {"action": "subuser_disable", "_selected_action": [proxy.pk]})
    assert r.status_code == 302
    proxy.refresh_from_db()
    assert (proxy.status, proxy.disabled_reason) == ("disabled", "disabled_by_user")
    SubUserProxy.objects.filter(pk=proxy.pk).update(disabled_reason="order_traffic_exhausted")
    ops.post("/admin/orders/subuserproxy/", {"action": "subuser_reconcile", "_selected_action": [proxy.pk]})
    proxy.refresh_from_db()
    assert proxy.status == "active"

"""A suspended account reads its dashboard but changes nothing through it.

Every route of the dashboard namespace is POSTed to as the suspended account's owner, with
data that would really act on an active account (the control test below proves it does):
each is refused with 403 and a page saying why, and not one row of the database changes.
"""

from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.models import Invitation, Membership, User
from accounts.permissions import DASHBOARD_GUARD_EXEMPT
from accounts.services import account_set_active, invitation_create
from orders.models import InventoryProxy, Order, OrderProxy
from orders.services import order_list_link_create
from tests.conftest import PASSWORD
from tests.orders.residential.subuser_fixtures import datacenter_order
from tests.security.objects import TenantObjects
from tests.security.routes import dashboard_routes

pytestmark = pytest.mark.django_db

REASON = "Unpaid chargeback"
REFUSAL = "This account is suspended"


def _stock(type_code: str, country: str, count: int) -> None:
    InventoryProxy.objects.bulk_create(
        InventoryProxy(type=type_code, country=country, host=f"10.9.0.{i}", port=9000 + i, username=f"u{i}",
                       password=f"p{i}", protocol="http")
        for i in range(count)
    )


@pytest.fixture
def world(tenants, django_capture_on_commit_callbacks):
    """Tenant A with one of every object a dashboard action can touch, made while it is active."""
    a = tenants.a
    objects = TenantObjects(a, capture_on_commit=django_capture_on_commit_callbacks)
    ids = {
        "proxy_id": objects.id_for("proxy_id", "proxies/<str:proxy_id>/"),
        "job_id": objects.id_for("job_id", "checker/jobs/<str:job_id>/"),
        "key_id": objects.id_for("key_id", "keys/<str:key_id>/revoke/"),
        "membership_id": objects.id_for("membership_id", "team/<int:membership_id>/role/"),
        "invitation_id": objects.id_for("invitation_id", "team/invitations/<int:invitation_id>/revoke/"),
        "order_id": datacenter_order(a.account).public_id,  # extendable (a residential one is not)
        "fmt": "txt",
        "endpoint_id": objects.id_for("endpoint_id", "settings/webhooks/<str:endpoint_id>/"),
        "delivery_id": objects.id_for("delivery_id", "settings/webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>/resend/"),
        "token": invitation_create(account=a.account, email="newbie@tenant-a.example", role="member",
                                   invited_by=a.user, ip=None),
    }
    _stock("datacenter", "DE", 3)
    order = Order.objects.get(public_id=ids["order_id"])
    held = InventoryProxy.objects.create(type="datacenter", country="DE", host="10.9.2.1", port=9100,
                                         status="allocated", order=order)
    OrderProxy.objects.create(order=order, host=held.host, port=held.port, country="DE", inventory=held)
    ids["ip_id"] = objects.id_for("ip_id", "authorized-ips/<str:ip_id>/remove")
    ids["link_id"] = order_list_link_create(account=a.account, order_id=order.public_id)[0].public_id
    residential = objects.make_residential_order()
    client = Client()
    client.force_login(a.user)
    return SimpleNamespace(tenant=a, ids=ids, residential=residential, client=client)


def _suspend(account) -> None:
    account_set_active(account=account, active=False, reason=REASON)


# Data that makes each main action succeed on an active account (see the control test).
def _action_data(world) -> dict[str, dict]:
    return {
        "dashboard:orders": {"action": "place", "type": "datacenter", "quantity": "1", "period": "30",
                             "country": "DE", "form_token": "probe"},
        "dashboard:order_extend": {"period": "30"},
        "dashboard:billing_address_create": {"currency": "BTC"},
        "dashboard:billing_premium_upgrade": {},
        "dashboard:checker": {"proxies_text": "127.0.0.1:9\n127.0.0.1:10"},
        "dashboard:checker_job_cancel": {},
        "dashboard:team": {"email": "someone@elsewhere.example", "role": "member"},
        "dashboard:member_role": {"role": "viewer"},
        "dashboard:member_remove": {},
        "dashboard:invitation_revoke": {},
        "dashboard:settings": {"name": "Renamed by a suspended owner"},
        "dashboard:apikeys": {"name": "made while suspended", "scopes": ["balance:read"], "expiration": "30d"},
        "dashboard:apikey_revoke": {},
        "dashboard:proxies": {"name": "new-subuser", "order": world.residential, "protocol": "http",
                              "rotation": "rotating", "sticky_ttl_minutes": "10"},
        "dashboard:proxy_detail": {"name": "renamed", "protocol": "socks5", "rotation": "rotating",
                                   "sticky_ttl_minutes": "10"},
        "dashboard:proxy_status": {"status": "disabled"},
        "dashboard:proxy_delete": {},
        "dashboard:order_replace": {"proxy": "10.9.2.1:9100"},
        "dashboard:order_list_link_create": {},
        "dashboard:order_list_link_revoke": {},
        "dashboard:authorized_ip_add": {"ip": "8.8.4.4"},
        "dashboard:authorized_ip_remove": {},
        # A public address literal passes the address guard without DNS; nothing is delivered here.
        "dashboard:webhooks": {"url": "https://93.184.216.34/hook", "events": ["order.activated"]},
        "dashboard:webhook_toggle": {},
        "dashboard:webhook_delete": {},
        "dashboard:webhook_test": {},
        "dashboard:webhook_resend": {},
    }


MAIN_ACTIONS = sorted(_action_data(SimpleNamespace(residential="")))


def database_state() -> dict:
    """Every row of every table (sessions aside: signing in writes one), to compare later."""
    state = {}
    for model in apps.get_models():
        if model is Session or model._meta.proxy or not model._meta.managed:
            continue
        rows = model.objects.order_by("pk").values_list()
        state[model._meta.label] = [tuple(map(repr, row)) for row in rows]
    return state


def _changes(before: dict, after: dict) -> dict:
    return {
        label: {"removed": [r for r in rows if r not in after[label]],
                "added": [r for r in after[label] if r not in rows]}
        for label, rows in before.items() if rows != after[label]
    }


def _routes():
    return {route.name: route for route in dashboard_routes()}


def _url(world, name: str) -> str:
    return _routes()[name].fill(world.ids)


@pytest.mark.parametrize("name", MAIN_ACTIONS)
def test_the_probe_data_acts_on_an_active_account(world, name, django_capture_on_commit_callbacks):
    """The control: without suspension the same request changes the database."""
    before = database_state()
    response = world.client.post(_url(world, name), _action_data(world)[name])
    assert response.status_code in (200, 302), response.content.decode()[:2000]
    assert database_state() != before, f"{name}: the probe changed nothing even on an active account"


@pytest.mark.parametrize("route", dashboard_routes(), ids=lambda r: r.name)
def test_every_dashboard_post_of_a_suspended_account_is_refused_and_changes_nothing(world, route):
    _suspend(world.tenant.account)
    data = _action_data(world).get(route.name, {"name": "x", "role": "viewer", "status": "disabled"})
    url = route.fill(world.ids)
    before = database_state()
    response = world.client.post(url, data)
    changes = _changes(before, database_state())
    if route.name in DASHBOARD_GUARD_EXEMPT:
        assert response.status_code in (302, 403, 404), (url, response.status_code)
    else:
        assert response.status_code == 403, (url, response.status_code, response.content.decode()[:1500])
        html = response.content.decode()
        assert REFUSAL in html and REASON in html, html[:2000]
    assert not changes, (url, changes)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_unsafe_methods_are_refused_too(world, method):
    _suspend(world.tenant.account)
    response = getattr(world.client, method)(_url(world, "dashboard:settings"))
    assert response.status_code == 403 and REFUSAL in response.content.decode()


def test_every_dashboard_view_is_behind_the_guard_or_exempt_for_a_reason():
    unguarded = [
        route.name for route in dashboard_routes()
        if not hasattr(route.callback, "dashboard_capability") and route.name not in DASHBOARD_GUARD_EXEMPT
    ]
    assert not unguarded, f"dashboard views outside accounts.permissions.dashboard_view: {unguarded}"


def test_suspended_owner_signs_in_and_reads_every_page_with_a_banner(world):
    _suspend(world.tenant.account)
    client = Client()
    assert client.login(email=world.tenant.user.email, password=PASSWORD)
    for path in ("/", "/orders/", f"/orders/{world.ids['order_id']}/", "/billing/", "/proxies/",
                 f"/proxies/{world.ids['proxy_id']}/", "/stats/", "/checker/", f"/checker/jobs/{world.ids['job_id']}/",
                 "/keys/", "/team/", "/audit/", "/settings/"):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert REFUSAL in html and REASON in html, path


def test_pages_of_a_suspended_account_offer_no_action_forms(world):
    _suspend(world.tenant.account)
    get = world.client.get
    team = get("/team/").content.decode()
    assert "Send invitation" not in team and "Change role" not in team and ">Remove</button>" not in team
    assert ">Save</button>" not in get("/settings/").content.decode()
    keys = get("/keys/").content.decode()
    assert "Create API Key" not in keys and ">Revoke</button>" not in keys
    assert "API Keys</a>" in keys  # still listed in the navigation, for reading
    assert ">Place order</button>" not in get("/orders/").content.decode()
    order_page = get(f"/orders/{world.ids['order_id']}/").content.decode()
    assert ">Extend</button>" not in order_page and ">Replace</button>" not in order_page
    assert "Create list link" not in order_page and ">Revoke</button>" not in order_page
    assert "Add IP" not in get("/proxies/").content.decode()
    billing = get("/billing/").content.decode()
    assert "Create address" not in billing and "Upgrade to premium" not in billing
    assert "Not while the account is suspended." in billing


def test_a_suspended_account_banner_is_absent_when_active(world):
    assert REFUSAL not in world.client.get("/").content.decode()


def test_switching_account_and_signing_out_still_work(world):
    """The user's own session, not the account's state: both stay possible."""
    a = world.tenant
    own = Membership.objects.exclude(account=a.account).filter(user=a.member).first()
    _suspend(a.account)
    client = Client()
    client.force_login(a.member)
    client.post("/switch-account/", {"account": a.account.public_id})
    assert client.get("/").context["current_account"] == a.account
    response = client.post("/switch-account/", {"account": own.account.public_id})
    assert response.status_code == 302
    assert client.get("/").context["current_account"] == own.account
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302  # signed out: to the login page


def test_an_invitation_to_a_suspended_account_cannot_be_accepted(world):
    _suspend(world.tenant.account)
    invitee = User.objects.create_user(email="newbie@tenant-a.example", password=PASSWORD)
    client = Client()
    client.force_login(invitee)
    url = f"/invitations/{world.ids['token']}/"
    before = database_state()
    response = client.post(url)
    assert response.status_code == 403 and REFUSAL in response.content.decode()
    assert not _changes(before, database_state())
    assert not Membership.objects.filter(user=invitee, account=world.tenant.account).exists()
    assert Invitation.objects.get(email="newbie@tenant-a.example", revoked_at__isnull=True).accepted_at is None


def test_an_invitation_to_a_suspended_account_creates_no_user(world):
    Invitation.objects.filter(email="newbie@tenant-a.example").delete()
    token = invitation_create(account=world.tenant.account, email="fresh@tenant-a.example", role="member",
                              invited_by=world.tenant.user, ip=None)
    _suspend(world.tenant.account)
    before = database_state()
    response = Client().post(f"/invitations/{token}/", {"password1": "a-Long-pass-123", "password2": "a-Long-pass-123"})
    assert response.status_code == 403 and REFUSAL in response.content.decode()
    assert not _changes(before, database_state())
    assert not User.objects.filter(email="fresh@tenant-a.example").exists()


def test_reactivation_restores_the_actions(world):
    account = world.tenant.account
    _suspend(account)
    assert world.client.post("/settings/", {"name": "Blocked"}).status_code == 403
    account_set_active(account=account, active=True)
    assert world.client.post("/settings/", {"name": "Back"}).status_code == 302
    account.refresh_from_db()
    assert account.name == "Back"

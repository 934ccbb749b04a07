"""A member who leaves an account takes the API keys they created with them.

Whatever ends an admin's right to keys in an account — removal from the Team page or the
admin, the user deleted, the role lowered below admin — revokes the keys that member created
there, in the same transaction and in the audit log; the very next API request with one is
401. Other members' keys and operator keys keep working. The keys table names each key's
creator.
"""

import re

import pytest
from django.contrib.admin.sites import site
from django.test import Client

from accounts.models import AuditLogEntry, Membership, Role, User
from apikeys.models import ApiKey
from apikeys.services import apikey_create
from tests.conftest import PASSWORD, ApiClient

pytestmark = pytest.mark.django_db


def _key(account, user, name):
    _, full = apikey_create(account=account, name=name, scopes=["balance:read", "orders:write", "orders:read"],
                            expiration="never", created_by=user)
    return full


@pytest.fixture
def team(tenants, make_key):
    """Tenant A with an owner, two admins and a member, each admin holding a key; an operator key."""
    a = tenants.a
    admin = User.objects.create_user(email="ada@tenant-a.example", password=PASSWORD)
    other_admin = User.objects.create_user(email="otto@tenant-a.example", password=PASSWORD)
    Membership.objects.create(user=admin, account=a.account, role=Role.ADMIN)
    Membership.objects.create(user=other_admin, account=a.account, role=Role.ADMIN)
    _, operator_key = apikey_create(account=a.account, name="operator key", scopes=["balance:read"],
                                    expiration="never", created_by=None, actor_label="operator (createapikey)")
    owner_client = Client()
    owner_client.force_login(a.user)
    return {
        "a": a, "admin": admin, "other_admin": other_admin, "owner_client": owner_client,
        "admin_key": _key(a.account, admin, "ada script"),
        "other_key": _key(a.account, other_admin, "otto script"),
        "operator_key": operator_key,
    }


def _status(key, path="/api/v1/account") -> int:
    return ApiClient(key).get(path).status_code


def _place(key):
    return ApiClient(key).post("/api/v1/orders", {"type": "residential", "quantity": "1"})


def _membership(user, account) -> Membership:
    return Membership.objects.get(user=user, account=account)


def _assert_only_admin_key_dead(team) -> None:
    assert _status(team["admin_key"]) == 401
    assert _status(team["other_key"]) == 200
    assert _status(team["operator_key"]) == 200
    assert _status(team["a"].key) == 200  # the owner's


def test_removing_an_admin_revokes_their_keys_at_once(team):
    a = team["a"]
    assert _status(team["admin_key"]) == 200 and _place(team["admin_key"]).status_code == 201
    balance = a.account.__class__.objects.get(pk=a.account.pk).balance
    response = team["owner_client"].post(f"/team/{_membership(team['admin'], a.account).pk}/remove/")
    assert response.status_code == 302
    _assert_only_admin_key_dead(team)
    refused = _place(team["admin_key"])
    assert refused.status_code == 401 and refused.json_body["error_type"] == "unauthorized"
    a.account.refresh_from_db()
    assert a.account.balance == balance  # nothing more was spent
    key = ApiKey.objects.get(name="ada script")
    assert key.revoked_at is not None and key.revoked_by == a.user
    entry = AuditLogEntry.objects.filter(account=a.account, action="apikey.revoked").get()
    assert "ada script" in entry.target and entry.actor == a.user
    assert entry.details == {"reason": "member.removed", "member": "ada@tenant-a.example"}


def test_lowering_an_admin_below_admin_revokes_their_keys(team):
    a = team["a"]
    membership = _membership(team["admin"], a.account)
    response = team["owner_client"].post(f"/team/{membership.pk}/role/", {"role": "member"})
    assert response.status_code == 302
    _assert_only_admin_key_dead(team)
    entry = AuditLogEntry.objects.get(account=a.account, action="apikey.revoked")
    assert entry.details["reason"] == "member.role_changed"


def test_raising_an_admin_to_owner_keeps_their_keys(team):
    membership = _membership(team["admin"], team["a"].account)
    team["owner_client"].post(f"/team/{membership.pk}/role/", {"role": "owner"})
    assert _status(team["admin_key"]) == 200


def test_removing_a_member_in_one_account_keeps_their_keys_in_another(team, tenants):
    b = tenants.b
    Membership.objects.create(user=team["admin"], account=b.account, role=Role.ADMIN)
    their_b_key = _key(b.account, team["admin"], "ada at b")
    team["owner_client"].post(f"/team/{_membership(team['admin'], team['a'].account).pk}/remove/")
    assert _status(team["admin_key"]) == 401
    assert _status(their_b_key) == 200


def _admin_client():
    operator = User.objects.create_superuser(email="root@operator.example", password=PASSWORD)
    client = Client()
    client.force_login(operator)
    return client, operator


def test_removing_a_membership_in_the_admin_revokes_its_keys(team):
    membership = _membership(team["admin"], team["a"].account)
    admin_client, operator = _admin_client()
    model_admin = site._registry[Membership]
    request = _request(admin_client, operator)
    model_admin.delete_model(request, membership)
    _assert_only_admin_key_dead(team)
    assert ApiKey.objects.get(name="ada script").revoked_by == operator


def test_bulk_deleting_memberships_in_the_admin_revokes_their_keys(team):
    a = team["a"]
    admin_client, operator = _admin_client()
    request = _request(admin_client, operator)
    site._registry[Membership].delete_queryset(
        request, Membership.objects.filter(user__in=[team["admin"], team["other_admin"]], account=a.account)
    )
    assert _status(team["admin_key"]) == 401 and _status(team["other_key"]) == 401
    assert _status(a.key) == 200 and _status(team["operator_key"]) == 200


def test_lowering_a_role_in_the_admin_revokes_the_keys(team):
    membership = _membership(team["admin"], team["a"].account)
    admin_client, operator = _admin_client()
    response = admin_client.post(
        f"/admin/accounts/membership/{membership.pk}/change/",
        {"user": team["admin"].pk, "account": team["a"].account.pk, "role": "viewer"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    _assert_only_admin_key_dead(team)


def test_deleting_a_user_revokes_their_keys_in_every_account(team, tenants):
    b = tenants.b
    Membership.objects.create(user=team["admin"], account=b.account, role=Role.ADMIN)
    their_b_key = _key(b.account, team["admin"], "ada at b")
    admin_client, operator = _admin_client()
    response = admin_client.post(f"/admin/accounts/user/{team['admin'].pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(email="ada@tenant-a.example").exists()
    _assert_only_admin_key_dead(team)
    assert _status(their_b_key) == 401
    key = ApiKey.objects.get(name="ada script")
    assert key.revoked_at is not None


def test_bulk_deleting_users_in_the_admin_revokes_their_keys(team):
    admin_client, operator = _admin_client()
    site._registry[User].delete_queryset(_request(admin_client, operator), User.objects.filter(pk=team["admin"].pk))
    _assert_only_admin_key_dead(team)


def _request(client, user):
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    request = RequestFactory().post("/admin/")
    request.user = user
    request.session = client.session
    request._messages = FallbackStorage(request)
    return request


# --- the keys table names each key's creator -----------------------------------------------

def _rows(html: str) -> dict[str, list[str]]:
    rows = {}
    for row in re.findall(r'<tr data-name="[^"]*">(.*?)</tr>', html, flags=re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        rows[cells[0]] = cells
    return rows


def test_keys_table_shows_who_created_each_key(team):
    html = team["owner_client"].get("/keys/").content.decode()
    headers = re.findall(r'<th scope="col"[^>]*>(?:<a [^>]*>)?([^<]+)', html)
    assert "Created by" in headers
    column = headers.index("Created by")
    rows = _rows(html)
    assert rows["ada script"][column] == "ada@tenant-a.example"
    assert rows["otto script"][column] == "otto@tenant-a.example"
    assert rows["operator key"][column] == "operator"
    assert rows["all scopes"][column] == "alice@tenant-a.example"


def test_keys_table_sorts_by_creator(team):
    html = team["owner_client"].get("/keys/?sort=created_by").content.decode()
    names = list(_rows(html))
    assert names.index("ada script") < names.index("all scopes") < names.index("operator key") < names.index("otto script")


def test_revoked_keys_of_a_removed_admin_leave_the_table(team):
    team["owner_client"].post(f"/team/{_membership(team['admin'], team['a'].account).pk}/remove/")
    html = team["owner_client"].get("/keys/").content.decode()
    assert "ada script" not in html and "otto script" in html


def test_removal_and_revocation_are_one_transaction(team, monkeypatch):
    """If revoking fails, the member stays: never a removed member with live keys."""
    from apikeys import services

    def broken(**kwargs):
        raise RuntimeError("revocation failed")

    monkeypatch.setattr(services, "apikey_revoke", broken)
    membership = _membership(team["admin"], team["a"].account)
    client = team["owner_client"]
    client.raise_request_exception = False
    assert client.post(f"/team/{membership.pk}/remove/").status_code == 500
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert _status(team["admin_key"]) == 200


@pytest.mark.redis
def test_a_snapshotted_key_of_a_removed_admin_is_refused_on_its_next_request(team, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL)")
    client = ApiClient(team["admin_key"])
    for _ in range(3):  # first sight, then the snapshot is taken and used
        assert client.get("/api/v1/account").status_code == 200
    team["owner_client"].post(f"/team/{_membership(team['admin'], team['a'].account).pk}/remove/")
    assert client.get("/api/v1/account").status_code == 401
    assert _status(team["other_key"]) == 200

"""Operator admin for users, accounts, memberships, invitations and the audit log."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from accounts.models import Account, AuditLogEntry, Invitation, Membership, User
from accounts.services import audit_log, invitation_create
from tests.conftest import PASSWORD


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email="ops@example.com", password=PASSWORD)


@pytest.fixture
def ops(client, operator):
    client.force_login(operator)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/accounts/user/", "/admin/accounts/user/?q=owner&is_staff__exact=0",
        "/admin/accounts/account/", "/admin/accounts/account/?q=owner%40example.com&is_active__exact=1",
        "/admin/accounts/membership/?role__exact=member&q=acme",
        "/admin/accounts/invitation/?q=invitee",
        "/admin/accounts/auditlogentry/?q=member.invited",
    ],
)
def test_changelists_search_and_filter(ops, owner, account, member, path):
    invitation_create(account=account, email="invitee@example.com", role="member", invited_by=owner, ip="10.0.0.9")
    response = ops.get(path)
    assert response.status_code == 200


def test_account_search_finds_by_member_email_once(ops, account, owner, member):
    response = ops.get("/admin/accounts/account/", {"q": "example.com"})
    assert response.status_code == 200
    names = [a.name for a in response.context["cl"].result_list]
    assert sorted(names) == sorted(set(names))  # no duplicate rows through the join
    assert "Acme" in names


def test_account_balance_is_read_only(ops, account):
    page = ops.get(f"/admin/accounts/account/{account.pk}/change/")
    assert page.status_code == 200
    assert "balance" not in page.context["adminform"].form.fields
    assert "is_active" not in page.context["adminform"].form.fields
    ops.post(f"/admin/accounts/account/{account.pk}/change/", {
        "name": "Renamed", "balance": "1000.00", "is_active": "",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })
    account.refresh_from_db()
    assert account.name == "Renamed"
    assert str(account.balance) == "0.00" and account.is_active


def test_operator_suspends_and_reactivates_account_via_actions(ops, operator, account, make_key, api):
    client = api(make_key(account, scopes=["balance:read"]))
    assert client.get("account").status_code == 200

    confirm = ops.post("/admin/accounts/account/", {"action": "suspend_accounts", ACTION_CHECKBOX_NAME: [account.pk]})
    assert confirm.status_code == 200 and b"Suspend accounts" in confirm.content
    account.refresh_from_db()
    assert account.is_active  # nothing happens before the operator confirms

    ops.post("/admin/accounts/account/", {
        "action": "suspend_accounts", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1", "reason": "unpaid abuse report",
    })
    account.refresh_from_db()
    assert not account.is_active and account.suspended_reason == "unpaid abuse report"
    entry = AuditLogEntry.objects.get(account=account, action="account.suspended")
    assert entry.actor == operator and entry.actor_label == "operator ops@example.com"

    response = client.get("account")
    assert response.status_code == 403
    assert response.json_body["error_type"] == "account_inactive"
    assert response.json_body["result"] is False and response.json_body["data"] is None

    ops.post("/admin/accounts/account/", {"action": "reactivate_accounts", ACTION_CHECKBOX_NAME: [account.pk]})
    account.refresh_from_db()
    assert account.is_active and account.suspended_reason == ""
    assert AuditLogEntry.objects.filter(account=account, action="account.reactivated").exists()
    assert client.get("account").status_code == 200


def test_suspension_is_visible_in_admin_list_filter(ops, account, outsider_account):
    from accounts.services import account_set_active

    account_set_active(account=account, active=False, reason="test")
    response = ops.get("/admin/accounts/account/", {"is_active__exact": "0"})
    assert [a.pk for a in response.context["cl"].result_list] == [account.pk]


def test_accounts_cannot_be_added_or_deleted_in_admin(ops, account):
    assert ops.get("/admin/accounts/account/add/").status_code == 403
    assert ops.get(f"/admin/accounts/account/{account.pk}/delete/").status_code == 403
    assert Account.objects.filter(pk=account.pk).exists()


def test_audit_log_is_read_only(ops, account, owner):
    entry = audit_log(account=account, actor=owner, action="key.created", target="k", ip="10.0.0.1")
    assert ops.get("/admin/accounts/auditlogentry/add/").status_code == 403
    view = ops.get(f"/admin/accounts/auditlogentry/{entry.pk}/change/")
    assert view.status_code == 200 and b'type="submit" value="Save"' not in view.content
    ops.post(f"/admin/accounts/auditlogentry/{entry.pk}/change/", {"action": "forged"})
    assert ops.post(f"/admin/accounts/auditlogentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.action == "key.created"


def test_operator_creates_user_with_email_login(ops):
    response = ops.post("/admin/accounts/user/add/", {
        "email": "staffer@example.com", "usable_password": "true",
        "password1": PASSWORD, "password2": PASSWORD,
    })
    assert response.status_code == 302
    assert User.objects.get(email="staffer@example.com").check_password(PASSWORD)


def test_membership_change_in_admin_is_audited(ops, account, member):
    membership = Membership.objects.get(user=member, account=account)
    response = ops.post(f"/admin/accounts/membership/{membership.pk}/change/", {
        "user": member.pk, "account": account.pk, "role": "viewer",
    })
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == "viewer"
    assert AuditLogEntry.objects.filter(account=account, action="member.role_changed").exists()


def test_revoke_invitation_action(ops, owner, account, client):
    token = invitation_create(account=account, email="gone@example.com", role="member", invited_by=owner, ip=None)
    invitation = Invitation.objects.get()
    ops.post("/admin/accounts/invitation/", {"action": "revoke_invitations", ACTION_CHECKBOX_NAME: [invitation.pk]})
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    ops.logout()
    assert ops.get(f"/invitations/{token}/").status_code == 404


def test_non_staff_cannot_open_admin(client, owner):
    client.force_login(owner)
    response = client.get("/admin/accounts/account/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_one_accounts_section_gathers_the_account_models(ops):
    html = ops.get("/admin/").content.decode()
    assert html.count('title="Models in the Accounts application"') == 1
    section = html.split('title="Models in the Accounts application"')[1].split("</table>")[0]
    for path in ("/admin/accounts/account/", "/admin/accounts/user/", "/admin/accounts/membership/",
                 "/admin/accounts/invitation/", "/admin/accounts/plan/", "/admin/accounts/auditlogentry/",
                 "/admin/account/emailaddress/", "/admin/mfa/authenticator/", "/admin/auth/group/"):
        assert f'href="{path}"' in section, path
    assert section.index("/admin/accounts/account/") < section.index("/admin/accounts/user/")
    assert "Authentication and Authorization" not in html and ">MFA<" not in html
    assert 'title="Models in the API keys application"' in html
    accounts_page = ops.get("/admin/accounts/").content.decode()
    assert 'href="/admin/account/emailaddress/"' in accounts_page
    assert ops.get("/admin/account/").status_code == 200  # allauth's own app page still lists its model


def test_every_list_fits_a_laptop_screen():
    """At most 9 columns in any admin list (the action checkbox aside), so lists fit 1366 px."""
    from django.contrib import admin

    wide = {f"{m._meta.label}: {len(a.list_display)}" for m, a in admin.site._registry.items()
            if len(a.list_display) > 9}
    assert not wide

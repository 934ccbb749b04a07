"""Team page: members, invitations, roles, removal; role rights of accounts/permissions.py."""

import re

import pytest
from django.utils import timezone

from accounts.models import AuditLogEntry, Invitation, Membership, Role, User
from accounts.services import invitation_create
from tests.conftest import PASSWORD


def _html(response):
    return response.content.decode()


@pytest.fixture
def as_user(client):
    def login(user, account=None):
        client.force_login(user)
        if account is not None:
            response = client.post("/switch-account/", {"account": account.public_id})
            assert response.status_code == 302
        return client

    return login


@pytest.fixture
def viewer(account):
    user = User.objects.create_user(email="viewer@example.com", password=PASSWORD)
    Membership.objects.create(user=user, account=account, role=Role.VIEWER)
    return user


@pytest.fixture
def admin_user(account):
    user = User.objects.create_user(email="admin@example.com", password=PASSWORD)
    Membership.objects.create(user=user, account=account, role=Role.ADMIN)
    return user


def _membership(user, account):
    return Membership.objects.get(user=user, account=account)


def test_dashboard_needs_login(client, db):
    response = client.get("/team/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_owner_invites_by_email(as_user, owner, account, mailoutbox, django_capture_on_commit_callbacks):
    client = as_user(owner)
    page = client.get("/team/")
    assert '<label for="id_email">E-mail address</label>' in _html(page)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/team/", {"email": "New.Person@Example.com", "role": "admin"})
    assert response.status_code == 302
    invitation = Invitation.objects.get(account=account)
    assert invitation.email == "new.person@example.com" and invitation.role == Role.ADMIN
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new.person@example.com"]
    assert re.search(r"/invitations/[\w-]+/", mailoutbox[0].body)
    assert "new.person@example.com" in _html(client.get("/team/"))  # pending invitations table
    entry = AuditLogEntry.objects.get(account=account, action="member.invited")
    assert entry.actor == owner and entry.ip_address == "127.0.0.1"


def test_invite_errors_show_beside_the_field(as_user, owner, account, member, mailoutbox):
    client = as_user(owner)
    bad = client.post("/team/", {"email": "not an address", "role": "member"})
    assert bad.status_code == 200
    html = _html(bad)
    field = html[html.index('<label for="id_email">') :]
    assert "field-error" in field[: field.index("</div>")]
    already = client.post("/team/", {"email": member.email, "role": "member"})
    assert "already a member" in _html(already)
    owner_role = client.post("/team/", {"email": "x@example.com", "role": "owner"})
    assert owner_role.status_code == 200 and "field-error" in _html(owner_role)
    assert not Invitation.objects.exists()
    assert mailoutbox == []


def test_viewer_and_member_see_team_read_only(as_user, viewer, member, account):
    for user in (viewer, member):
        client = as_user(user, account)
        html = _html(client.get("/team/"))
        assert "owner@example.com" in html
        assert "Send invitation" not in html and "Change role" not in html and ">Remove<" not in html
        response = client.post("/team/", {"email": "sneaky@example.com", "role": "admin"})
        assert response.status_code == 302
        target = _membership(viewer, account)
        assert client.post(f"/team/{target.pk}/role/", {"role": "admin"}).status_code == 403
        assert client.post(f"/team/{target.pk}/remove/").status_code == 403
    assert not Invitation.objects.exists()
    assert _membership(viewer, account).role == Role.VIEWER


def test_owner_changes_role_and_removes(as_user, owner, member, account):
    client = as_user(owner)
    target = _membership(member, account)
    response = client.post(f"/team/{target.pk}/role/", {"role": "viewer"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == Role.VIEWER
    assert AuditLogEntry.objects.filter(account=account, action="member.role_changed").exists()
    client.post(f"/team/{target.pk}/remove/")
    assert not Membership.objects.filter(pk=target.pk).exists()
    assert AuditLogEntry.objects.filter(account=account, action="member.removed", target=member.email).exists()
    # The removed member keeps their own account but sees nothing of this one any more.
    client.logout()
    client.force_login(member)
    client.post("/switch-account/", {"account": account.public_id})
    assert "Acme" not in _html(client.get("/"))


def test_admin_cannot_touch_ownership(as_user, admin_user, owner, member, account):
    client = as_user(admin_user, account)
    owner_ms = _membership(owner, account)
    client.post(f"/team/{owner_ms.pk}/role/", {"role": "member"})
    client.post(f"/team/{owner_ms.pk}/remove/")
    owner_ms.refresh_from_db()
    assert owner_ms.role == Role.OWNER
    member_ms = _membership(member, account)
    client.post(f"/team/{member_ms.pk}/role/", {"role": "owner"})
    member_ms.refresh_from_db()
    assert member_ms.role == Role.MEMBER
    client.post(f"/team/{member_ms.pk}/role/", {"role": "admin"})
    member_ms.refresh_from_db()
    assert member_ms.role == Role.ADMIN


def test_last_owner_cannot_step_down(as_user, owner, account):
    client = as_user(owner)
    own = _membership(owner, account)
    response = client.post(f"/team/{own.pk}/role/", {"role": "admin"}, follow=True)
    assert "at least one owner" in _html(response)
    own.refresh_from_db()
    assert own.role == Role.OWNER


def test_another_accounts_membership_ids_are_404(as_user, outsider, member, account, owner):
    client = as_user(outsider)
    target = _membership(member, account)
    assert client.post(f"/team/{target.pk}/role/", {"role": "viewer"}).status_code == 404
    assert client.post(f"/team/{target.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=target.pk, role=Role.MEMBER).exists()


def test_switching_to_an_account_you_do_not_belong_to_is_refused(as_user, outsider, account):
    client = as_user(outsider)
    response = client.post("/switch-account/", {"account": account.public_id}, follow=True)
    html = _html(response)
    assert "not a member of that account" in html
    assert "Acme" not in html


def test_account_switcher_moves_between_accounts(as_user, member, account):
    client = as_user(member)
    html = _html(client.get("/"))
    assert "Member&#x27;s own" in html and "Acme" in html  # both in the switcher
    assert _html(client.get("/settings/")).count('value="Member&#x27;s own"') == 1
    client.post("/switch-account/", {"account": account.public_id})
    assert 'value="Acme"' in _html(client.get("/settings/"))
    assert "owner@example.com" in _html(client.get("/team/"))


def test_new_user_accepts_invitation_with_a_password(client, owner, account, mailoutbox):
    token = invitation_create(account=account, email="joiner@example.com", role="member", invited_by=owner, ip=None)
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200 and "Join Acme" in _html(page)
    mismatch = client.post(f"/invitations/{token}/", {"password1": PASSWORD, "password2": "other-pass-99"})
    assert "field-error" in _html(mismatch)
    weak = client.post(f"/invitations/{token}/", {"password1": "12345678", "password2": "12345678"})
    assert "field-error" in _html(weak)
    assert not User.objects.filter(email="joiner@example.com").exists()
    response = client.post(f"/invitations/{token}/", {"password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    user = User.objects.get(email="joiner@example.com")
    assert _membership(user, account).role == Role.MEMBER
    assert "Acme" in _html(client.get("/"))
    # The link works once.
    client.logout()
    assert client.get(f"/invitations/{token}/").status_code == 404


def test_existing_user_logs_in_then_accepts(client, owner, account, outsider):
    token = invitation_create(account=account, email=outsider.email, role="viewer", invited_by=owner, ip=None)
    assert "Log in to accept" in _html(client.get(f"/invitations/{token}/"))
    # Anonymous POST with a password must not create anything for an existing address.
    client.post(f"/invitations/{token}/", {"password1": PASSWORD, "password2": PASSWORD})
    assert not Membership.objects.filter(user=outsider, account=account).exists()
    client.force_login(outsider)
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert _membership(outsider, account).role == Role.VIEWER
    assert "Acme" in _html(client.get("/"))


def test_invitation_for_someone_else_is_refused(client, owner, account, outsider):
    token = invitation_create(account=account, email="someone@example.com", role="admin", invited_by=owner, ip=None)
    client.force_login(outsider)
    assert "Log out and log in as" in _html(client.get(f"/invitations/{token}/"))
    client.post(f"/invitations/{token}/")
    assert not Membership.objects.filter(user=outsider, account=account).exists()


def test_expired_or_unknown_invitation_is_404(client, owner, account):
    token = invitation_create(account=account, email="late@example.com", role="member", invited_by=owner, ip=None)
    Invitation.objects.update(expires_at=timezone.now())
    assert client.get(f"/invitations/{token}/").status_code == 404
    assert client.get("/invitations/not-a-token/").status_code == 404


def test_audit_log_lists_this_accounts_entries_only(as_user, owner, account, outsider, outsider_account):
    from accounts.services import audit_log

    audit_log(account=account, actor=owner, action="key.created", target="acme-key", ip="10.0.0.1")
    audit_log(account=outsider_account, actor=outsider, action="key.created", target="other-key", ip="10.9.9.9")
    html = _html(as_user(owner).get("/audit/"))
    assert "acme-key" in html and "10.0.0.1" in html and "other-key" not in html


def test_settings_rename_by_owner_not_by_viewer(as_user, owner, viewer, account):
    client = as_user(viewer, account)
    client.post("/settings/", {"name": "Hijacked"})
    account.refresh_from_db()
    assert account.name == "Acme"
    client.logout()
    client = as_user(owner)
    empty = client.post("/settings/", {"name": ""})
    assert "field-error" in _html(empty)
    client.post("/settings/", {"name": "Acme Ltd"})
    account.refresh_from_db()
    assert account.name == "Acme Ltd"
    assert AuditLogEntry.objects.filter(account=account, action="account.renamed").exists()


def test_user_without_any_account_gets_the_no_account_page(client, db):
    user = User.objects.create_user(email="lonely@example.com", password=PASSWORD)
    client.force_login(user)
    response = client.get("/", follow=True)
    assert "No account yet" in _html(response)


def test_owner_revokes_a_pending_invitation(as_user, owner, account, outsider, client):
    token = invitation_create(account=account, email="maybe@example.com", role="member", invited_by=owner, ip=None)
    invitation = Invitation.objects.get()
    # Another account's owner cannot touch it.
    other = as_user(outsider)
    assert other.post(f"/team/invitations/{invitation.pk}/revoke/").status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    other.logout()
    owner_client = as_user(owner)
    assert "Revoke invitation to maybe@example.com" in _html(owner_client.get("/team/"))
    owner_client.post(f"/team/invitations/{invitation.pk}/revoke/")
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert AuditLogEntry.objects.filter(account=account, action="member.invitation_revoked").exists()
    owner_client.logout()
    assert owner_client.get(f"/invitations/{token}/").status_code == 404


def test_members_cannot_revoke_invitations(as_user, owner, member, account):
    invitation_create(account=account, email="maybe@example.com", role="member", invited_by=owner, ip=None)
    invitation = Invitation.objects.get()
    client = as_user(member, account)
    assert client.post(f"/team/invitations/{invitation.pk}/revoke/").status_code == 403
    invitation.refresh_from_db()
    assert invitation.revoked_at is None

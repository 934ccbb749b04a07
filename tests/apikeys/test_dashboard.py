"""The API Keys page: owners and admins only, create (shown once), search, sort, revoke."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditLogEntry, Membership, Role
from accounts.services import user_create_with_account
from apikeys.models import ApiKey
from tests.conftest import PASSWORD

KEY_RE = re.compile(r"pk_live_[0-9A-Za-z]{38}")


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def _create(client, *, name="CI pipeline", scopes=("balance:read", "orders:read"), expiration="90d", **extra):
    data = {"name": name, "scopes": list(scopes), "expiration": expiration, **extra}
    return client.post("/keys/", data, follow=True, REMOTE_ADDR="203.0.113.7")


def _role_client(account, email, role):
    user, _ = user_create_with_account(email=email, password=PASSWORD)
    Membership.objects.create(user=user, account=account, role=role)
    client = Client()
    client.force_login(user)
    client.post("/switch-account/", {"account": account.public_id})
    return client


def test_page_shows_the_create_dialog_with_grouped_scopes_and_expirations(owner_client):
    response = owner_client.get("/keys/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<dialog id="create-key-dialog"' in html
    assert ">Create API Key</h2>" in html
    for legend in ("Permissions", "Proxies", "Statistics", "Account &amp; Billing", "Orders", "Checker"):
        assert f"<legend>{legend}</legend>" in html
    for label in ("30 days", "90 days", "6 months", "1 year", "No expiration"):
        assert f">{label}</option>" in html
    assert 'value="proxies:read"' in html and "<code>proxies:read</code>" in html
    assert "<table" in html and ">Last used" in html


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_get_403_and_no_nav_link(account, role):
    client = _role_client(account, f"{role}@example.com", role)
    assert client.get("/keys/").status_code == 403
    assert client.post("/keys/", {"name": "x", "scopes": ["geo:read"], "expiration": "never"}).status_code == 403
    overview = client.get("/").content.decode()
    assert 'href="/keys/"' not in overview
    assert not ApiKey.objects.filter(account=account).exists()


def test_admin_may_manage_keys(account):
    client = _role_client(account, "admin@example.com", Role.ADMIN)
    response = _create(client)
    assert response.status_code == 200
    assert ApiKey.objects.filter(account=account).count() == 1


def test_anonymous_is_sent_to_login(db):
    response = Client().get("/keys/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_created_key_is_shown_once_then_only_its_prefix(owner_client, account, api):
    response = _create(owner_client)
    html = response.content.decode()
    keys = KEY_RE.findall(html)
    assert len(set(keys)) == 1
    full_key = keys[0]
    assert "Your New API Key" in html and "This API key will not be shown again" in html
    assert "data-open-on-load" in html and 'data-copy="#new-api-key"' in html and ">Done</button>" in html
    api_key = ApiKey.objects.get(account=account)
    assert api_key.scopes == ["balance:read", "orders:read"]
    assert api_key.display_prefix == f"{full_key[:12]}..."
    # The key works.
    assert api(full_key).get("account").status_code == 200
    # A reload no longer has it, only the prefix.
    again = owner_client.get("/keys/").content.decode()
    assert full_key not in again and full_key[8:] not in again
    assert api_key.display_prefix in again
    assert "Your New API Key" not in again


def test_the_key_is_not_in_the_session_store_between_post_and_redirect(owner_client, account):
    from django.contrib.sessions.models import Session

    response = owner_client.post("/keys/", {"name": "n", "scopes": ["geo:read"], "expiration": "never"})
    assert response.status_code == 302
    pad_cookie = response.cookies["apikey_reveal"]
    assert pad_cookie["httponly"] and pad_cookie["path"] == "/keys/"
    stored = " ".join(s.session_data + repr(s.get_decoded()) for s in Session.objects.all())
    assert not KEY_RE.search(stored)
    assert not KEY_RE.search(pad_cookie.value)
    page = owner_client.get("/keys/").content.decode()
    full_key = KEY_RE.search(page).group(0)
    assert ApiKey.objects.get(account=account).key_hash != full_key


def test_expiration_choice_sets_the_expiry(owner_client, account):
    _create(owner_client, name="a", expiration="30d")
    _create(owner_client, name="b", expiration="never")
    a = ApiKey.objects.get(name="a")
    assert abs(a.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert ApiKey.objects.get(name="b").expires_at is None


def test_form_errors_are_shown_beside_the_fields(owner_client, account):
    response = owner_client.post("/keys/", {"name": "", "expiration": "forever", "ip_allowlist": "10.0.0.300"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Give the key a name." in html
    assert "Choose at least one permission." in html
    assert 'id="id_expiration_error"' in html
    assert "<dialog id=\"create-key-dialog\" aria-labelledby=\"create-key-title\" open data-open-on-load>" in html
    assert not ApiKey.objects.exists()


def test_bad_ip_allowlist_is_a_field_error(owner_client):
    response = owner_client.post(
        "/keys/", {"name": "x", "scopes": ["geo:read"], "expiration": "never", "ip_allowlist": "10.0.0.300"}
    )
    assert response.status_code == 400
    assert "Not an IP address or CIDR range: 10.0.0.300" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_ip_allowlist_from_the_form_is_stored_normalised(owner_client):
    _create(owner_client, ip_allowlist="192.0.2.10\n198.51.100.0/24")
    assert ApiKey.objects.get().ip_allowlist == ["192.0.2.10/32", "198.51.100.0/24"]


def test_eleventh_key_is_refused_with_a_clear_message(owner_client, account, make_key):
    for i in range(10):
        make_key(account, scopes=["geo:read"], name=f"k{i}")
    response = owner_client.post("/keys/", {"name": "eleven", "scopes": ["geo:read"], "expiration": "never"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "already has 10 active API keys" in html and "Revoke one before creating another" in html
    assert ApiKey.objects.filter(account=account).count() == 10
    assert not KEY_RE.search(html)


def test_revoked_and_expired_keys_do_not_count_nor_show(owner_client, account, make_key):
    make_key(account, name="old")
    ApiKey.objects.filter(name="old").update(expires_at=timezone.now() - timedelta(days=1))
    make_key(account, name="gone")
    ApiKey.objects.filter(name="gone").update(revoked_at=timezone.now())
    make_key(account, name="live one")
    html = owner_client.get("/keys/").content.decode()
    assert "live one" in html and ">old<" not in html and ">gone<" not in html
    assert "1 of 10 keys in use" in html


def _row_names(html):
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr data-name="[^"]*">\s*<td>([^<]*)</td>', body)


def test_search_filters_by_name_on_the_server(owner_client, account, make_key):
    make_key(account, name="Monitoring script")
    make_key(account, name="CI pipeline")
    make_key(account, name="monitoring backup")
    names = _row_names(owner_client.get("/keys/", {"q": "MONITOR"}).content.decode())
    assert sorted(names) == ["Monitoring script", "monitoring backup"]
    html = owner_client.get("/keys/", {"q": "nothing"}).content.decode()
    assert _row_names(html) == [] and "No active API key matches" in html


def test_columns_sort_by_header_links(owner_client, account, make_key):
    now = timezone.now()
    for i, name in enumerate(["bravo", "alpha", "charlie"]):
        make_key(account, name=name)
        ApiKey.objects.filter(name=name).update(created_at=now - timedelta(days=i))
    ApiKey.objects.filter(name="alpha").update(expires_at=now + timedelta(days=5))
    ApiKey.objects.filter(name="charlie").update(expires_at=now + timedelta(days=50))
    html = owner_client.get("/keys/").content.decode()
    assert _row_names(html) == ["bravo", "alpha", "charlie"]  # newest first by default
    assert 'href="?sort=name"' in html
    assert _row_names(owner_client.get("/keys/?sort=name").content.decode()) == ["alpha", "bravo", "charlie"]
    by_name = owner_client.get("/keys/?sort=name").content.decode()
    assert 'aria-sort="ascending"' in by_name and 'href="?sort=-name"' in by_name
    assert _row_names(owner_client.get("/keys/?sort=-name").content.decode()) == ["charlie", "bravo", "alpha"]
    assert _row_names(owner_client.get("/keys/?sort=created").content.decode()) == ["charlie", "alpha", "bravo"]
    # No expiration sorts after every date.
    assert _row_names(owner_client.get("/keys/?sort=expires").content.decode()) == ["alpha", "charlie", "bravo"]
    # Unknown sort falls back to the default rather than failing.
    assert owner_client.get("/keys/?sort=key_hash").status_code == 200
    # Search and sort combine.
    assert 'href="?sort=-name&amp;q=a"' in owner_client.get("/keys/?sort=name&q=a").content.decode()


def test_revoke_confirmation_page_and_revocation(owner_client, account, make_key, api):
    full_key = make_key(account, scopes=["balance:read"], name="to revoke")
    api_key = ApiKey.objects.get(name="to revoke")
    confirm = owner_client.get(f"/keys/{api_key.public_id}/revoke/")
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert f'<dialog id="revoke-{api_key.public_id}" aria-labelledby="revoke-{api_key.public_id}-title" open' in html
    assert "Revoke API Key" in html and 'name="csrfmiddlewaretoken"' in html
    assert api(full_key).get("account").status_code == 200
    response = owner_client.post(f"/keys/{api_key.public_id}/revoke/", REMOTE_ADDR="198.51.100.9", follow=True)
    assert response.status_code == 200
    assert "was revoked" in response.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None and api_key.revoked_by.email == "owner@example.com"
    assert api(full_key).get("account").status_code == 401
    entry = AuditLogEntry.objects.get(action="apikey.revoked")
    assert entry.ip_address == "198.51.100.9" and entry.actor.email == "owner@example.com"


def test_revoke_needs_post_with_csrf(account, owner, make_key):
    make_key(account, name="k")
    api_key = ApiKey.objects.get()
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(f"/keys/{api_key.public_id}/revoke/").status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_another_tenants_key_is_404(owner_client, outsider_account, make_key):
    make_key(outsider_account, name="theirs")
    theirs = ApiKey.objects.get(name="theirs")
    assert owner_client.get(f"/keys/{theirs.public_id}/revoke/").status_code == 404
    assert owner_client.post(f"/keys/{theirs.public_id}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert "theirs" not in owner_client.get("/keys/").content.decode()


def test_creation_is_audited_with_the_client_ip(owner_client, account):
    _create(owner_client, name="audited")
    entry = AuditLogEntry.objects.get(action="apikey.created")
    assert entry.account == account and entry.actor.email == "owner@example.com"
    assert entry.ip_address == "203.0.113.7"
    assert "audited" in entry.target and "pk_live_" in entry.target
    assert not KEY_RE.search(entry.target + repr(entry.details))


def test_page_is_not_cached(owner_client):
    assert owner_client.get("/keys/")["Cache-Control"] == "no-store"


@pytest.mark.parametrize("length", [101, 100_000])
def test_a_search_longer_than_any_name_finds_nothing_without_an_error(owner_client, account, make_key, length):
    make_key(account, name="a" * 100)
    response = owner_client.get("/keys/", {"q": "a" * length})
    assert response.status_code == 200
    html = response.content.decode()
    assert "No active API key matches" in html and len(html) < 50_000


def test_a_search_as_long_as_a_name_still_finds_it(owner_client, account, make_key):
    make_key(account, name="b" * 100)
    html = owner_client.get("/keys/", {"q": "b" * 100}).content.decode()
    assert f'<tr data-name="{"b" * 100}">' in html


def test_keys_without_expiry_say_never_and_revoked_keys_are_under_a_filter(owner_client, account, owner, make_key):
    from apikeys.services import apikey_revoke

    make_key(account, name="Forever key", expiration="never")
    make_key(account, name="Old key", expiration="never")
    old = ApiKey.objects.get(name="Old key")
    apikey_revoke(account=account, key_id=old.public_id, revoked_by=owner)
    html = owner_client.get("/keys/").content.decode()
    row = html.split("Forever key")[1].split("</tr>")[0]
    assert "<td>Never</td>" in row
    assert "Old key" not in html and "Revoked and expired" in html
    revoked = owner_client.get("/keys/", {"show": "revoked"}).content.decode()
    assert 'aria-label="Revoked and expired API keys"' in revoked
    row = revoked.split("Old key")[1].split("</tr>")[0]
    assert "Revoked" in row and f"by {owner.email}" in row
    assert "Forever key" not in revoked

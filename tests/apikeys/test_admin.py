"""Operators list keys in the admin (never the secret) and can revoke them."""

import pytest
from django.test import Client

from accounts.models import AuditLogEntry, User
from apikeys.models import ApiKey


@pytest.fixture
def admin_client(db):
    user = User.objects.create_superuser(email="root@example.com", password="root-pass-123456")
    client = Client()
    client.force_login(user)
    return client


def test_changelist_lists_keys_with_useful_columns(admin_client, account, make_key):
    make_key(account, scopes=["geo:read", "stats:read"], name="Monitoring")
    key = ApiKey.objects.get()
    html = admin_client.get("/admin/apikeys/apikey/").content.decode()
    for text in ("Monitoring", key.display_prefix, "geo:read, stats:read", account.name):
        assert text in html
    assert key.key_hash not in html
    assert "Monitoring" in admin_client.get("/admin/apikeys/apikey/", {"q": "monitor"}).content.decode()
    # a term no random base62 id can contain ("zzz" did match a key's random public id in a CI run)
    assert "Monitoring" not in admin_client.get("/admin/apikeys/apikey/", {"q": "no-such-key"}).content.decode()
    assert "Monitoring" in admin_client.get("/admin/apikeys/apikey/", {"state": "active"}).content.decode()
    assert "Monitoring" not in admin_client.get("/admin/apikeys/apikey/", {"state": "revoked"}).content.decode()


def test_admin_cannot_add_or_edit_keys(admin_client, account, make_key):
    make_key(account, name="k")
    key = ApiKey.objects.get()
    assert admin_client.get("/admin/apikeys/apikey/add/").status_code == 403
    admin_client.post(f"/admin/apikeys/apikey/{key.pk}/change/", {"name": "renamed"})
    key.refresh_from_db()
    assert key.name == "k"


def test_revoke_action_revokes_and_audits_as_operator(admin_client, account, make_key, api):
    full_key = make_key(account, scopes=["balance:read"], name="leaked")
    make_key(account, scopes=["balance:read"], name="keep")
    leaked = ApiKey.objects.get(name="leaked")
    response = admin_client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke_selected", "_selected_action": [leaked.pk]},
        follow=True, REMOTE_ADDR="192.0.2.44",
    )
    assert response.status_code == 200 and "Revoked 1 API key" in response.content.decode()
    leaked.refresh_from_db()
    assert leaked.revoked_at is not None
    assert ApiKey.objects.get(name="keep").revoked_at is None
    assert api(full_key).get("account").status_code == 401
    entry = AuditLogEntry.objects.get(action="apikey.revoked")
    assert entry.account == account and entry.ip_address == "192.0.2.44"
    assert entry.actor_label == "operator (root@example.com)"

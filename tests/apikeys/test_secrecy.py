"""The full key exists only in the creation response: not in the database, logs, or later pages."""

import logging
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from apikeys.models import ApiKey

KEY_RE = re.compile(r"pk_live_[0-9A-Za-z]{38}")


def _secret_part(full_key: str) -> str:
    return full_key[len("pk_live_") :]


def _all_database_text() -> str:
    """Every row of every table, as text (binary columns decoded leniently)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - table names from introspection
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("latin-1")
                    chunks.append(str(value))
    return "\n".join(chunks)


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def _create_via_dashboard(client, **extra) -> str:
    response = client.post(
        "/keys/", {"name": "secret test", "scopes": ["balance:read", "geo:read"], "expiration": "30d", **extra},
        follow=True,
    )
    keys = set(KEY_RE.findall(response.content.decode()))
    assert len(keys) == 1
    return keys.pop()


def test_full_key_is_nowhere_in_the_database(owner_client, account, api, make_key):
    full_key = _create_via_dashboard(owner_client)
    other = make_key(account, scopes=["geo:read"])
    assert api(full_key).get("account").status_code == 200
    assert api(full_key, header="x-api-key").get("account").status_code == 200
    owner_client.get("/keys/")
    text = _all_database_text()
    assert "secret test" in text  # the scan does see the key's row
    for key in (full_key, other):
        assert key not in text
        assert _secret_part(key) not in text
        assert _secret_part(key)[:20] not in text


def test_full_key_is_not_logged(owner_client, account, api, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")  # Django's own default is INFO
    with CaptureQueriesContext(connection):  # also logs every SQL statement at DEBUG
        full_key = _create_via_dashboard(owner_client)
        for path in ("account", "plans", "no-such-endpoint"):
            api(full_key).get(path)
        api(full_key + "x").get("account")
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {getattr(r, 'sql', '')} {getattr(r, 'params', '')}"
                       for r in caplog.records)
    assert any("apikeys_apikey" in r.getMessage() or "apikeys_apikey" in str(getattr(r, "sql", ""))
               for r in caplog.records), "SQL logging was not captured"
    assert _secret_part(full_key) not in logged


def test_full_key_is_absent_from_every_later_page(owner_client, owner, account, api):
    full_key = _create_via_dashboard(owner_client)
    api(full_key).get("account")
    secret = _secret_part(full_key)
    key = ApiKey.objects.get()
    pages = [owner_client.get(path) for path in ("/keys/", "/keys/?sort=name", f"/keys/{key.public_id}/revoke/", "/audit/")]
    admin = User.objects.create_superuser(email="root@example.com", password="root-pass-123456")
    admin_client = Client()
    admin_client.force_login(admin)
    pages += [
        admin_client.get("/admin/apikeys/apikey/"),
        admin_client.get(f"/admin/apikeys/apikey/{key.pk}/change/"),
        admin_client.get("/admin/apikeys/apikey/?q=secret"),
    ]
    for response in pages:
        assert response.status_code == 200, response.request["PATH_INFO"]
        content = response.content.decode()
        assert secret not in content
    assert key.display_prefix in pages[0].content.decode()
    assert key.display_prefix in pages[4].content.decode()
    assert key.key_hash not in pages[5].content.decode()  # the admin does not show the hash either

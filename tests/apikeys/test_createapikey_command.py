"""`manage.py createapikey` (README: Operator tools)."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import AuditLogEntry
from apikeys.models import ApiKey


def _run(*args):
    out = io.StringIO()
    call_command("createapikey", *args, stdout=out)
    return out.getvalue()


def _exit_code(argv, capsys):
    """The exit status manage.py would return (run_from_argv exits with CommandError.returncode after
    printing the message to stderr; run_from_argv itself is not called because it closes the test's
    database connection)."""
    try:
        call_command("createapikey", *argv, stdout=io.StringIO(), stderr=io.StringIO())
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, ""


def test_prints_the_key_alone_on_the_last_line(owner, account, api):
    output = _run("--email", "owner@example.com", "--scopes", "balance:read,orders:read", "--name", "ops")
    last = output.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"pk_live_[0-9A-Za-z]{38}", last)
    key = ApiKey.objects.get(account=account)
    assert key.name == "ops" and key.scopes == ["balance:read", "orders:read"] and key.expires_at is None
    assert api(last).get("account").status_code == 200
    entry = AuditLogEntry.objects.get(action="apikey.created")
    assert entry.actor is None and entry.actor_label.startswith("operator")


def test_expiry_option(owner, account):
    _run("--email", "OWNER@example.com", "--scopes", "geo:read", "--expires", "1y")
    assert ApiKey.objects.get().expires_at is not None


def test_unknown_scope_is_an_error(owner, capsys):
    with pytest.raises(CommandError, match="Unknown scope"):
        _run("--email", "owner@example.com", "--scopes", "balance:read,admin:all")
    code, err = _exit_code(["--email", "owner@example.com", "--scopes", "nope:read"], capsys)
    assert code != 0 and "Unknown scope(s): nope:read" in err
    assert not ApiKey.objects.exists()


def test_unknown_email_is_an_error(db, capsys):
    with pytest.raises(CommandError, match="No user with e-mail"):
        _run("--email", "nobody@example.com", "--scopes", "geo:read")
    code, err = _exit_code(["--email", "nobody@example.com", "--scopes", "geo:read"], capsys)
    assert code != 0 and "nobody@example.com" in err


def test_bad_expiry_is_an_error(owner, capsys):
    code, err = _exit_code(["--email", "owner@example.com", "--scopes", "geo:read", "--expires", "2y"], capsys)
    assert code != 0 and "2y" in err
    assert not ApiKey.objects.exists()


def test_eleventh_key_is_an_error(owner, account, make_key, capsys):
    for i in range(10):
        make_key(account, scopes=["geo:read"], name=f"k{i}")
    with pytest.raises(CommandError, match="maximum"):
        _run("--email", "owner@example.com", "--scopes", "geo:read")
    code, err = _exit_code(["--email", "owner@example.com", "--scopes", "geo:read"], capsys)
    assert code != 0 and "10 active API keys" in err
    assert ApiKey.objects.count() == 10

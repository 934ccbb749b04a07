"""`manage.py createaccount` (README: Operator tools): a verified user and its own account, as owner."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command

from accounts.models import Account, Membership, Role, User
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def test_creates_verified_owner_with_account(db, client):
    out = StringIO()
    call_command("createaccount", "--email", "Ops.Customer@Example.com", "--password", PASSWORD,
                 "--name", "Customer Ltd", stdout=out)
    user = User.objects.get(email="ops.customer@example.com")
    account = Account.objects.get(name="Customer Ltd")
    assert Membership.objects.get(user=user, account=account).role == Role.OWNER
    assert EmailAddress.objects.get(user=user).verified
    assert account.public_id in out.getvalue()
    # The e-mail is verified, so the user can log in straight away.
    response = client.post("/accounts/login/", {"login": "ops.customer@example.com", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"


def test_default_account_name_comes_from_the_email(db):
    call_command("createaccount", "--email", "jane@example.com", "--password", PASSWORD, stdout=StringIO())
    assert Membership.objects.get(user__email="jane@example.com").account.name == "jane's account"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--email", "not-an-email", "--password", PASSWORD], "Not a valid e-mail address"),
        (["--email", "a@example.com", "--password", "short"], "at least 8 characters"),
        (["--email", "owner@example.com", "--password", PASSWORD], "already exists"),
    ],
)
def test_bad_input_is_a_clear_error(owner, args, message):
    users_before = User.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("createaccount", *args, stdout=StringIO())
    assert User.objects.count() == users_before


def test_duplicate_email_in_other_case_is_refused(owner):
    with pytest.raises(CommandError, match="already exists"):
        call_command("createaccount", "--email", "OWNER@example.com", "--password", PASSWORD, stdout=StringIO())


def test_command_line_exit_status_and_message(tmp_path):
    """The real process: non-zero exit and the message on stderr (fresh SQLite file)."""
    env = {"PORTAL_ALLOW_DEMO_SECRETS": "1", "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
           "PORTAL_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    bad = subprocess.run([*manage, "createaccount", "--email", "nope", "--password", PASSWORD],
                         env=env, cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0
    assert "Not a valid e-mail address" in bad.stderr
    good = subprocess.run([*manage, "createaccount", "--email", "cli@example.com", "--password", PASSWORD],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert "cli@example.com" in good.stdout
    again = subprocess.run([*manage, "createaccount", "--email", "cli@example.com", "--password", PASSWORD],
                           env=env, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode != 0 and "already exists" in again.stderr
    missing = subprocess.run([*manage, "createaccount", "--email", "x@example.com"],
                             env=env, cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode != 0 and "--password" in missing.stderr


def test_commands_run_beside_the_embedded_default_with_no_environment(tmp_path):
    """After `python3 dev.py run`, the README's `.venv/bin/python manage.py …` needs no variables;
    a production configuration without its own SECRET_KEY is still refused."""
    env = {"PORTAL_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    made = subprocess.run([*manage, "createaccount", "--email", "plain@example.com", "--password", PASSWORD],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "portal.sqlite3").exists()
    production = subprocess.run([*manage, "check"], env={**env, "DATABASE_URL": "postgres://u:p@127.0.0.1:1/x"},
                                cwd=ROOT, capture_output=True, text=True)
    assert production.returncode != 0 and "SECRET_KEY must be set" in production.stderr

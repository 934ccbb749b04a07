"""`python3 dev.py run` with BIND: links in e-mails (invitations, list links) and the checker's
judge carry the address the portal is served on, unless SITE_URL says otherwise."""

import subprocess
import sys
from pathlib import Path

import pytest

import dev

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("bind", "site_url"), [
    ("127.0.0.1:8001", "http://127.0.0.1:8001"),
    ("192.0.2.10:9000", "http://192.0.2.10:9000"),
    ("portal.lan:8000", "http://portal.lan:8000"),
    ("[::1]:8002", "http://[::1]:8002"),
    ("0.0.0.0:8003", "http://127.0.0.1:8003"),
])
def test_bind_sets_site_url(bind, site_url):
    assert dev.run_env({"BIND": bind})["SITE_URL"] == site_url


def test_default_bind_and_a_given_site_url_win():
    assert dev.run_env({})["SITE_URL"] == "http://127.0.0.1:8000"
    given = dev.run_env({"BIND": "0.0.0.0:8000", "SITE_URL": "https://proxies.example.com"})
    assert given["SITE_URL"] == "https://proxies.example.com"
    assert "SITE_URL" not in dev.run_env({"BIND": "unix:/run/portal.sock"})


def test_settings_and_the_judge_follow_the_bind(tmp_path):
    env = dev.run_env({"BIND": "127.0.0.1:8011", "PORTAL_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    env.pop("DEBUG")  # the settings alone, with the demo secrets tests use
    env["PORTAL_ALLOW_DEMO_SECRETS"] = "1"
    code = (
        "from django.conf import settings;"
        "print('=>', settings.SITE_URL, settings.CHECKER_JUDGE_URL, '127.0.0.1' in settings.ALLOWED_HOSTS)"
    )
    out = subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("=>"))
    assert line.split() == ["=>", "http://127.0.0.1:8011", "http://127.0.0.1:8011/judge", "True"]


def test_invitation_link_uses_site_url(settings, owner, account, mailoutbox,
                                      django_capture_on_commit_callbacks):
    from accounts.services import invitation_create

    settings.SITE_URL = "http://127.0.0.1:8011/"
    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(account=account, email="joiner@example.com", role="member", invited_by=owner, ip=None)
    assert "http://127.0.0.1:8011/invitations/" in mailoutbox[0].body

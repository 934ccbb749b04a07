"""The admin sits behind the dashboard's sign-in: allauth's form, its rate limits and TOTP.

- `/admin/login/` never takes a password: GET and POST send the visitor to allauth's login
  (`/accounts/login/?next=/admin/`), signed-in customers get a 403.
- A staff session opens the admin only if it passed TOTP in allauth, when the user has an
  authenticator or `ADMIN_REQUIRE_MFA` is on (the default with DEBUG off); staff without
  an authenticator are sent to set one up. Every admin URL follows the same rule.
- The admin's password change is allauth's; no other login view is mounted; the API does
  not accept a session cookie.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.contrib.auth.views import LoginView
from django.core import mail
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from tests.conftest import PASSWORD
from tests.security.routes import iter_routes

ROOT = Path(__file__).resolve().parents[2]
ADMIN_LOGIN_NEXT = "/accounts/login/?next=/admin/"


def totp_code(secret: str) -> str:
    """The authenticator app's current code (waits out the last second of a period)."""
    period = mfa_settings.TOTP_PERIOD
    if period - time.time() % period < 1.5:
        time.sleep(period - time.time() % period + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def with_totp(user) -> str:
    """Gives `user` an authenticator app, as allauth's activation does; returns its secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def admin_opens(client) -> bool:
    return client.get("/admin/").status_code == 200


def sign_in(client, email: str, password: str = PASSWORD):
    """allauth's login form, as the admin's redirect leads to it."""
    return client.post(ADMIN_LOGIN_NEXT, {"login": email, "password": password, "next": "/admin/"})


def sets_up_totp(response) -> bool:
    """The admin sent the user to allauth's TOTP set-up (behind its password confirmation)."""
    last = response.redirect_chain[-1][0] if response.redirect_chain else ""
    return last.startswith("/accounts/2fa/totp/activate/") or last == (
        "/accounts/reauthenticate/?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F")


def final_location(client, path: str) -> str:
    response = client.get(path, follow=True)
    assert response.status_code == 200, (path, response.status_code)
    return response.redirect_chain[-1][0] if response.redirect_chain else path


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email="ops@example.com", password=PASSWORD)


@pytest.fixture
def mfa_required(settings):
    settings.ADMIN_REQUIRE_MFA = True


@pytest.fixture
def mfa_optional(settings):
    settings.ADMIN_REQUIRE_MFA = False


# --- finding: the stock admin login -------------------------------------------------------

def test_admin_login_post_with_the_right_password_opens_no_admin_session(operator, mfa_optional):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": operator.email, "password": PASSWORD,
                                                          "next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/"), response["Location"]
    assert "_auth_user_id" not in client.session
    index = client.get("/admin/")
    assert index.status_code == 302 and "/admin/login/" in index["Location"]


def test_admin_login_page_is_the_dashboard_sign_in(operator, mfa_optional):
    client = Client()
    assert client.get("/admin/login/")["Location"].startswith("/accounts/login/?next=")
    assert final_location(client, "/admin/") == "/accounts/login/?next=%2Fadmin%2F"
    page = client.get(ADMIN_LOGIN_NEXT).content.decode()
    assert 'name="login"' in page and 'name="password"' in page


def test_admin_sign_in_is_rate_limited_even_for_the_right_password(operator, mfa_optional):
    """Whatever page the admin sends a visitor to, repeated failures lock the right password out."""
    client = Client(REMOTE_ADDR="198.51.100.23")
    login_url = final_location(client, "/admin/")
    refused_at = None
    for attempt in range(1, 16):
        response = client.post(login_url, {"login": operator.email, "username": operator.email,
                                           "password": f"wrong-{attempt}", "next": "/admin/"})
        assert response.status_code in (200, 302, 429), response.status_code
        if response.status_code == 429 or b"Too many failed login attempts" in response.content:
            refused_at = attempt
            break
    assert refused_at is not None and refused_at <= 11, "repeated failed admin logins were never refused"
    client.post(login_url, {"login": operator.email, "username": operator.email, "password": PASSWORD,
                            "next": "/admin/"})
    assert "_auth_user_id" not in client.session, "the right password logged in during the lock-out"
    assert not admin_opens(client)


def test_admin_with_totp_opens_only_after_the_code(operator, mfa_optional):
    secret = with_totp(operator)
    client = Client()
    client.post("/admin/login/", {"username": operator.email, "password": PASSWORD, "next": "/admin/"})
    assert not admin_opens(client), "the admin login skipped the TOTP step"

    response = sign_in(client, operator.email)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/authenticate/")
    assert not admin_opens(client), "the password alone opened the admin"

    response = client.post("/accounts/2fa/authenticate/", {"code": "000000" if totp_code(secret) != "000000"
                                                           else "111111"})
    assert not admin_opens(client), "a wrong code opened the admin"
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert admin_opens(client)


def test_staff_without_totp_is_sent_to_set_it_up_when_required(operator, mfa_required):
    client = Client()
    sign_in(client, operator.email)
    assert "_auth_user_id" in client.session
    response = client.get("/admin/", follow=True)
    assert sets_up_totp(response), response.redirect_chain
    assert "The admin requires two-factor authentication" in response.content.decode()
    for path in ("/admin/accounts/user/", "/admin/login/?next=/admin/accounts/user/"):
        assert sets_up_totp(client.get(path, follow=True))


def test_without_the_requirement_a_password_only_staff_user_gets_the_admin(operator, mfa_optional):
    client = Client()
    response = sign_in(client, operator.email)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert admin_opens(client)


# --- class: every way into a staff session -----------------------------------------------

def test_a_session_without_totp_is_asked_for_the_code_before_the_admin(operator, mfa_optional):
    """Sessions opened without the TOTP step (the old admin form, a login by other means) of a
    user who has an authenticator get a code prompt, then the admin."""
    secret = with_totp(operator)
    client = Client()
    client.force_login(operator)
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/2fa/reauthenticate/?next=%2Fadmin%2F"
    assert "Enter a code from your authenticator app to open the admin" in response.content.decode()
    response = client.post("/accounts/2fa/reauthenticate/?next=%2Fadmin%2F", {"code": totp_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert admin_opens(client)


def _admin_routes():
    routes = [r for r in iter_routes() if r.template.startswith("admin/")]
    assert len(routes) > 50, "the admin's routes were not found"
    return routes


def _admin_path(route) -> str:
    if route.is_regex:  # the admin's catch-all and per-app index
        return "/admin/accounts/"
    return route.fill({name: "1" for name in route.params})


@pytest.mark.parametrize("method", ["get", "post"])
def test_no_admin_url_serves_a_staff_session_without_totp(operator, mfa_required, method):
    client = Client()
    client.force_login(operator)
    served = []
    for route in _admin_routes():
        path = _admin_path(route)
        response = getattr(client, method)(path)
        location = response.get("Location", "")
        if not (response.status_code == 302 and (location.startswith("/admin/login/")
                                                 or location.startswith("/accounts/2fa/")
                                                 or route.name == "admin:logout")):
            served.append((path, response.status_code, location))
        if "_auth_user_id" not in client.session:  # the logout view ended it: sign in again
            client.force_login(operator)
    assert served == []


def test_customers_get_no_admin_login_form(owner):
    client = Client()
    client.force_login(owner)
    for method in ("get", "post"):
        response = getattr(client, method)("/admin/login/?next=/admin/")
        assert response.status_code == 403, (method, response.status_code)
        assert b'name="password"' not in response.content
    sign_in(client, owner.email)
    assert not admin_opens(client)


def test_admin_password_change_is_allauths(operator, mfa_optional):
    client = Client()
    sign_in(client, operator.email)
    assert admin_opens(client)
    response = client.get("/admin/password_change/")
    assert response.status_code == 302 and response["Location"] == "/accounts/password/change/"
    client.post("/admin/password_change/", {"old_password": PASSWORD, "new_password1": "a-New-passw0rd-77",
                                            "new_password2": "a-New-passw0rd-77"})
    operator.refresh_from_db()
    assert operator.check_password(PASSWORD), "the admin's own password form changed the password"
    assert client.get("/admin/password_change/done/")["Location"] == "/accounts/password/change/"


def test_admin_logout_ends_the_session(operator, mfa_optional):
    client = Client()
    sign_in(client, operator.email)
    assert admin_opens(client)
    client.post("/admin/logout/")
    assert "_auth_user_id" not in client.session
    assert final_location(client, "/admin/") == "/accounts/login/?next=%2Fadmin%2F"


def test_password_reset_never_opens_the_admin_without_the_code(operator, mfa_required, settings):
    """Even configured to sign in after a reset, allauth asks for the TOTP code first."""
    settings.ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
    with_totp(operator)
    client = Client()
    client.post("/accounts/password/reset/", {"email": operator.email})
    link = re.search(r"http://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[-1].body).group(1)
    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"password1": "a-New-passw0rd-77", "password2": "a-New-passw0rd-77"})
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert not admin_opens(client)


def test_no_other_login_view_is_mounted(db):  # the 404 page reads the brand
    """Django's and DRF's login views would take a password without allauth's limits and TOTP."""
    logins = [str(r) for r in iter_routes()
              if isinstance(r.view_class, type) and issubclass(r.view_class, LoginView)]
    assert logins == []
    for path in ("/api-auth/login/", "/accounts/login/code/", "/login/", "/admin/login/?username=x"):
        response = Client().get(path)
        assert response.status_code in (302, 404), (path, response.status_code)
        assert b'name="password"' not in response.content


def test_the_api_ignores_a_staff_session(operator, mfa_optional):
    client = Client()
    sign_in(client, operator.email)
    assert admin_opens(client)
    response = client.get("/api/v1/account")
    assert response.status_code == 401
    assert response.json()["error_type"] == "unauthorized"


# --- operators: createsuperuser, then the dashboard sign-in, TOTP, the admin ----------------

def test_createsuperuser_operator_signs_in_sets_up_totp_and_opens_the_admin(db, mfa_required, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", interactive=False, email="root@example.com", verbosity=0)
    assert EmailAddress.objects.filter(email="root@example.com", verified=True, primary=True).exists()

    client = Client()
    response = sign_in(client, "root@example.com")
    assert response.status_code == 302 and response["Location"] == "/admin/", "the operator could not sign in"
    setup = client.get("/admin/", follow=True)
    assert sets_up_totp(setup)
    # allauth asks for the password again before adding an authenticator
    response = client.post(setup.redirect_chain[-1][0], {"password": PASSWORD})
    assert response["Location"] == "/accounts/2fa/totp/activate/"
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    secret = client.session["mfa.totp.secret"]
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302, response.content.decode()[-2000:]

    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/2fa/reauthenticate/")
    response = client.post(response.redirect_chain[-1][0], {"code": totp_code(secret)})
    assert response["Location"] == "/admin/"
    assert admin_opens(client)


def _settings_value(env: dict) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "ADMIN_REQUIRE_MFA")}
    result = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
         " 'portal.settings'); django.setup(); from django.conf import settings;"
         " print(settings.ADMIN_REQUIRE_MFA)"],
        cwd=ROOT, env={**base, "PORTAL_ALLOW_DEMO_SECRETS": "1", **env}, capture_output=True, text=True, timeout=120,
    )
    return (result.stdout.strip().splitlines() or [""])[-1] if result.returncode == 0 else result.stderr


def test_admin_require_mfa_is_on_by_default_without_debug():
    assert _settings_value({"DEBUG": "0"}) == "True"
    assert _settings_value({"DEBUG": "1"}) == "False"
    assert _settings_value({"DEBUG": "1", "ADMIN_REQUIRE_MFA": "1"}) == "True"
    assert _settings_value({"DEBUG": "0", "ADMIN_REQUIRE_MFA": "0"}) == "False"
    assert "ADMIN_REQUIRE_MFA must be a boolean" in _settings_value({"ADMIN_REQUIRE_MFA": "maybe"})


def test_check_deploy_warns_when_the_requirement_is_off():
    from tests.security.test_web import _manage, production_env

    result = _manage(production_env(ADMIN_REQUIRE_MFA="0"), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0 and "portal.W009" in result.stdout + result.stderr, result.stdout + result.stderr

"""allauth pages inside the portal layout: sign-up, verification, log in/out, reset, TOTP."""

import re
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.utils.html import escape

from accounts.models import Membership, Role, User
from tests.conftest import PASSWORD

NEW_PASSWORD = "another-Secret-phrase-42"


def _link(mail, pattern=r"http://\S+"):
    match = re.search(pattern, mail.body)
    assert match, mail.body
    return match.group(0).replace("http://127.0.0.1:8000", "").replace("http://testserver", "")


def _html(response):
    return response.content.decode()


def _login(client, email, password=PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


def _totp(secret):
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_login_page_has_visible_labels_and_sign_in_button(client, db):
    html = _html(client.get("/accounts/login/"))
    assert '<label for="id_login">Email</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert re.search(r"<button[^>]*type=\"submit\"[^>]*>\s*Sign In\s*</button>", html)
    assert "css/portal.css" in html  # the portal's own layout, not allauth's bare one
    assert 'href="/accounts/password/reset/"' in html


def test_signup_verify_and_land_on_own_account(client, db, mailoutbox):
    response = client.post(
        "/accounts/signup/", {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert "Verify Your Email" in _html(client.get(response["Location"]))
    user = User.objects.get(email="new@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert not EmailAddress.objects.get(user=user).verified

    # Unverified: logging in is refused until the link is followed.
    assert len(mailoutbox) == 1
    confirm_url = _link(mailoutbox[0])
    page = client.get(confirm_url)
    assert page.status_code == 200 and "Confirm Email Address" in _html(page)
    response = client.post(confirm_url)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    overview = client.get("/")
    assert overview.status_code == 200
    assert escape(membership.account.name) in _html(overview)


def test_unverified_user_cannot_reach_dashboard(client, db, mailoutbox):
    client.post("/accounts/signup/", {"email": "slow@example.com", "password1": PASSWORD, "password2": PASSWORD})
    client.logout()
    response = _login(client, "slow@example.com")
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    assert client.get("/").status_code == 302


def test_signup_errors_show_beside_the_field(client, db):
    response = client.post(
        "/accounts/signup/", {"email": "not-an-email", "password1": PASSWORD, "password2": "different-pass-1"}
    )
    assert response.status_code == 200
    html = _html(response)
    email_field = html[html.index('<label for="id_email">') : html.index('<label for="id_password1">')]
    assert "field-error" in email_field and "valid email" in email_field.lower()
    password2 = html[html.index('<label for="id_password2">') :]
    assert "field-error" in password2[: password2.index("</div>")]
    assert not User.objects.filter(email="not-an-email").exists()


def test_duplicate_signup_is_refused_beside_the_email(client, owner):
    response = client.post(
        "/accounts/signup/", {"email": owner.email, "password1": PASSWORD, "password2": PASSWORD}
    )
    # allauth hides whether an address is registered: it "succeeds" but sends a notice instead.
    assert User.objects.filter(email=owner.email).count() == 1
    assert response.status_code in (200, 302)


def test_wrong_password_shows_an_error_and_stays_logged_out(client, owner):
    response = _login(client, owner.email, "wrong-password-123")
    assert response.status_code == 200
    assert "form-errors" in _html(response)
    assert client.get("/").status_code == 302


def test_login_and_logout(client, owner, account):
    response = _login(client, owner.email)
    assert response.status_code == 302
    assert account.name in _html(client.get("/"))
    confirm = client.get("/accounts/logout/")
    assert "Sign Out" in _html(confirm)
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_password_reset_flow(client, owner, mailoutbox):
    page = client.get("/accounts/password/reset/")
    assert '<label for="id_email">Email</label>' in _html(page)
    response = client.post("/accounts/password/reset/", {"email": owner.email})
    assert response.status_code == 302
    assert "Password Reset" in _html(client.get(response["Location"]))
    reset_url = _link(mailoutbox[0])
    response = client.get(reset_url)  # allauth moves the key into the session and redirects
    if response.status_code == 302:
        reset_url = response["Location"]
        response = client.get(reset_url)
    assert "New Password" in _html(response)
    mismatch = client.post(reset_url, {"password1": NEW_PASSWORD, "password2": "nope-nope-nope-1"})
    assert "field-error" in _html(mismatch)
    done = client.post(reset_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302
    client.logout()
    assert _login(client, owner.email, PASSWORD).status_code == 200  # old password refused
    assert _login(client, owner.email, NEW_PASSWORD).status_code == 302


def test_totp_activate_then_login_asks_for_a_code(client, owner, account):
    assert _login(client, owner.email).status_code == 302
    page = client.get("/accounts/2fa/totp/activate/")
    # allauth asks for the password again before security changes.
    assert page.status_code == 302 and page["Location"].startswith("/accounts/reauthenticate/")
    reauth = client.get(page["Location"])
    assert '<label for="id_password">Password</label>' in _html(reauth)
    response = client.post(page["Location"], {"password": PASSWORD})
    assert response.status_code == 302
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    html = _html(page)
    assert "Activate Authenticator App" in html and "data:image/svg+xml" in html
    secret = page.context["form"].secret
    bad = client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert "field-error" in _html(bad)
    response = client.post("/accounts/2fa/totp/activate/", {"code": _totp(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=owner, type=Authenticator.Type.TOTP).exists()

    client.post("/accounts/logout/")
    response = _login(client, owner.email)
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    page = client.get("/accounts/2fa/authenticate/")
    assert "Two-Factor Authentication" in _html(page)
    assert client.get("/").status_code == 302  # not logged in before the code
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "123456"})
    assert "field-error" in _html(wrong)
    response = client.post("/accounts/2fa/authenticate/", {"code": _totp(secret)})
    assert response.status_code == 302
    assert account.name in _html(client.get("/"))


@pytest.mark.parametrize(
    "path",
    ["/accounts/email/", "/accounts/password/change/", "/accounts/2fa/"],
)
def test_manage_pages_render_in_the_dashboard_layout(client, owner, path):
    _login(client, owner.email)
    response = client.get(path)
    assert response.status_code == 200
    assert '<nav aria-label="Main">' in _html(response)  # the dashboard's sidebar

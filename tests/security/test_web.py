"""Dashboard and deployment: CSRF on every form, security headers, production settings.

- Every dashboard page and allauth page refuses a POST without a CSRF token (403), and
  every `<form method="post">` a page renders carries the token.
- Pages carry a strict CSP (and no inline script or style it would block), frame denial,
  nosniff and a referrer policy; over HTTPS, HSTS and Secure/HttpOnly cookies.
- `manage.py check --deploy` is clean with production settings (DEBUG off, own secrets,
  freshly generated public xpubs), and DEBUG off with demo values refuses to start.
"""

import os
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import PASSWORD
from tests.security.conftest import require_collected_static
from tests.security.objects import (
    BEARER_PARAMS,
    TenantObjects,
    Unavailable,
    UnknownParameter,
    random_id_for,
)
from tests.security.routes import dashboard_routes, iter_routes

ROOT = Path(__file__).resolve().parents[2]


def _form_routes():
    routes = [r for r in dashboard_routes()]
    routes += [r for r in iter_routes() if r.template.startswith("accounts/") and not r.is_regex]
    return [pytest.param(r, id=f"/{r.template}") for r in routes]


def _page_routes():
    return [pytest.param(r, id=f"/{r.template}") for r in dashboard_routes() if not r.params]


def _fill(route, tenants, capture):
    objects = TenantObjects(tenants.a, capture)
    values = {}
    for param in route.params:
        try:
            values[param] = random_id_for(param) if param in BEARER_PARAMS else objects.id_for(param, route.template)
        except (Unavailable, UnknownParameter):
            values[param] = random_id_for(param)
    return route.fill(values)


@pytest.mark.parametrize("route", _form_routes())
def test_post_without_csrf_token_is_refused(route, tenants, django_capture_on_commit_callbacks):
    path = _fill(route, tenants, django_capture_on_commit_callbacks)
    for logged_in in (True, False):
        client = Client(enforce_csrf_checks=True)
        if logged_in:
            client.force_login(tenants.a.user)
        response = client.post(path, {"name": "x", "email": "x@example.com", "role": "admin",
                                      "login": tenants.a.user.email, "password": PASSWORD})
        assert response.status_code == 403, (
            f"POST {path} without a CSRF token ({'signed in' if logged_in else 'anonymous'}) "
            f"answered {response.status_code}: the view must not be csrf_exempt"
        )
        assert b"CSRF" in response.content or b"Forbidden" in response.content


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []  # [method, has_token, action]
        self.inline_scripts = 0
        self.inline_styles = 0
        self._in_form = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._in_form = [attrs.get("method", "get").lower(), False, attrs.get("action")]
            self.forms.append(self._in_form)
        elif tag == "input" and self._in_form is not None and attrs.get("name") == "csrfmiddlewaretoken":
            self._in_form[1] = True
        elif tag == "script" and not attrs.get("src") and attrs.get("type", "") in ("", "text/javascript", "module"):
            self.inline_scripts += 1
        elif tag == "style":
            self.inline_styles += 1
        if "style" in attrs:
            self.inline_styles += 1
        if any(name.startswith("on") for name in attrs):
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = None


@pytest.mark.parametrize("route", _page_routes())
def test_dashboard_page_has_csrf_tokens_and_security_headers(route, tenants):
    client = Client()
    client.force_login(tenants.a.user)
    response = client.get("/" + route.template, secure=True)
    if response.status_code in (301, 302, 405) or response.streaming or "html" not in response["Content-Type"]:
        pytest.skip(f"/{route.template} is not a page ({response.status_code} {response['Content-Type']})")
    assert response.status_code == 200, response.status_code

    csp = response["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    hsts = response["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts

    parser = _Forms()
    parser.feed(response.content.decode())
    for method, has_token, action in parser.forms:
        if method == "post":
            assert has_token, f"/{route.template}: a POST form (action={action!r}) has no CSRF token"
    assert parser.inline_scripts == 0, f"/{route.template}: inline script, blocked by the CSP"
    assert parser.inline_styles == 0, f"/{route.template}: inline style, blocked by the CSP"


def test_login_over_https_sets_secure_httponly_cookies(tenants):
    client = Client()
    login_page = client.get("/accounts/login/", secure=True)
    assert login_page.status_code == 200
    csrf = client.cookies["csrftoken"]
    assert csrf["secure"]
    response = client.post("/accounts/login/", {"login": tenants.a.user.email, "password": PASSWORD},
                           secure=True, HTTP_X_CSRFTOKEN=csrf.value)
    assert response.status_code == 302, response.status_code
    session = client.cookies["sessionid"]
    assert session["secure"] and session["httponly"]
    assert session["samesite"].lower() in ("lax", "strict")
    assert "max-age=31536000" in response["Strict-Transport-Security"]


def test_api_responses_are_not_sniffable_or_framable(tenants):
    response = tenants.a.api.get("account")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"].startswith("application/json")


def production_env(**overrides) -> dict:
    """Production settings: DEBUG off, own secrets, public xpubs from a fresh random seed."""
    from bip_utils import Bip44, Bip44Coins, Bip84, Bip84Coins

    seed = os.urandom(64)  # thrown away: only the account-level PUBLIC keys leave this function

    def xpub(cls, coin):
        return cls.FromSeed(seed, coin).Purpose().Coin().Account(0).PublicKey().ToExtended()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "DJANGO_", "DEBUG"))}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="portal.example.com",
        CSRF_TRUSTED_ORIGINS="https://portal.example.com",
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_PRELOAD="1",  # the README's production setting; check --deploy warns without it
        DEPOSIT_XPUB_BTC=xpub(Bip84, Bip84Coins.BITCOIN),
        DEPOSIT_XPUB_LTC=xpub(Bip84, Bip84Coins.LITECOIN),
        DEPOSIT_XPUB_ETH=xpub(Bip44, Bip44Coins.ETHEREUM),
        DEPOSIT_XPUB_TRX=xpub(Bip44, Bip44Coins.TRON),
        DEPOSIT_WEBHOOK_SECRET=secrets.token_hex(32),
        USAGE_WEBHOOK_SECRET=secrets.token_hex(32),
        PORTAL_VAR_DIR=str(Path(os.environ.get("TMPDIR", "/tmp")) / "portal-deploy-check"),
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def _manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_in_production_settings():
    result = _manage(production_env(), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"DEPOSIT_XPUB_BTC": None}, "DEPOSIT_XPUB_BTC"),
        ({"DEPOSIT_WEBHOOK_SECRET": "demo-webhook-secret"}, "DEPOSIT_WEBHOOK_SECRET"),
        ({"USAGE_WEBHOOK_SECRET": "demo-webhook-secret"}, "USAGE_WEBHOOK_SECRET"),
        ({"SECRET_KEY": "demo-insecure-secret-key-change-me-in-production-0123456789"}, "SECRET_KEY"),
    ],
    ids=["no-secret-key", "demo-xpub", "demo-deposit-secret", "demo-usage-secret", "demo-secret-key"],
)
def test_debug_off_with_demo_values_refuses_to_start(override, named):
    from django.conf import settings

    if named == "DEPOSIT_XPUB_BTC":
        override = {"DEPOSIT_XPUB_BTC": settings.DEMO_DEPOSIT_XPUBS["BTC"]}
    result = _manage(production_env(**override), "check")
    assert result.returncode != 0, f"started with demo {named}: {result.stdout}"
    assert named in result.stderr, result.stderr[-2000:]


def test_login_rotates_the_session_and_never_redirects_off_site(tenants):
    client = Client()
    session = client.session  # an anonymous session, as a fixation attacker would plant
    session["planted"] = "yes"
    session.save()
    before = session.session_key
    for number, target in enumerate(("https://evil.example/", "//evil.example/x", "/\\evil.example",
                                      "https:evil.example")):
        if number:
            client.logout()
        response = client.post(f"/accounts/login/?next={target}",
                               {"login": tenants.a.user.email, "password": PASSWORD, "next": target})
        assert response.status_code == 302, response.status_code
        if number == 0:
            assert client.session.session_key != before, "the session id survived the login (fixation)"
        location = response["Location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), location
        assert "evil.example" not in location


def test_customers_cannot_reach_the_admin(tenants):
    client = Client()
    client.force_login(tenants.a.user)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.get("/admin/billing/ledgerentry/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_collectstatic_succeeds_in_production_settings(collected_static):
    """A deploy with DEBUG off runs collectstatic (hashed, compressed): it must succeed."""
    root = require_collected_static(collected_static)
    assert (root / "staticfiles.json").exists()

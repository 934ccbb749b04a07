"""The operator's brand: one record edited in the admin, with the BRAND_* settings as its
defaults, shown in every page title and the sidebar, the e-mails' sender and subject, the
admin's header and the API docs' title; the favicon is served."""

import json

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User
from accounts.services import invitation_create
from branding.models import Brand
from tests.conftest import PASSWORD, dashboard_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand():
    return Brand.objects.create(pk=1, name="Northwind Proxies", primary_color="#0f766e",
                                support_email="help@northwind.test", terms_url="https://northwind.test/terms")


@pytest.fixture
def ops(client):
    client.force_login(User.objects.create_superuser(email="ops@example.com", password=PASSWORD))
    return client


def test_without_a_saved_brand_the_settings_name_it(settings, owner, account):
    settings.BRAND_NAME = "Acme Proxy Cloud"
    html = dashboard_client(owner, account).get("/orders/").content.decode()
    assert "<title>Orders · Acme Proxy Cloud</title>" in html
    assert "Proxy Portal" not in html


def test_pages_carry_the_brand_in_the_title_sidebar_footer_and_colour(brand, owner, account):
    client = dashboard_client(owner, account)
    html = client.get("/billing/").content.decode()
    assert "<title>Billing · Northwind Proxies</title>" in html
    assert '<div class="navbar-brand brand">' in html and ">Northwind Proxies</a>" in html
    assert 'href="https://northwind.test/terms"' in html and 'href="mailto:help@northwind.test"' in html
    assert "Proxy Portal" not in html
    css = client.get("/brand.css")
    assert css["Content-Type"].startswith("text/css") and b"--tblr-primary: #0f766e;" in css.content
    sign_in = " ".join(Client().get("/accounts/login/").content.decode().split())
    assert "<title> Sign In · Northwind Proxies</title>" in sign_in


def test_a_logo_on_another_origin_is_shown_and_allowed_by_the_pages_csp(owner, account):
    Brand.objects.create(pk=1, name="Northwind", primary_color="#0f766e", logo_url="https://cdn.northwind.test/logo.svg")
    response = dashboard_client(owner, account).get("/")
    assert '<img src="https://cdn.northwind.test/logo.svg" alt="Northwind"' in response.content.decode()
    assert "img-src 'self' data: https://cdn.northwind.test;" in response["Content-Security-Policy"]


def test_portal_emails_carry_the_brand_as_sender_name_and_subject_prefix(
    settings, brand, owner, account, django_capture_on_commit_callbacks,
):
    settings.DEFAULT_FROM_EMAIL = "noreply@northwind.test"
    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(account=account, email="new@example.com", role="member", invited_by=owner, ip=None)
    message = mail.outbox[-1]
    assert message.from_email == "Northwind Proxies <noreply@northwind.test>"
    assert message.subject == "[Northwind Proxies] You are invited to Acme"


def test_allauth_emails_carry_the_brand_too(brand, owner):
    Client().post("/accounts/password/reset/", {"email": owner.email})
    message = mail.outbox[-1]
    assert message.subject.startswith("[Northwind Proxies] ")
    assert message.from_email.startswith("Northwind Proxies <")
    assert "Hello from Northwind Proxies!" in message.body and "Thank you for using Northwind Proxies!" in message.body


def test_the_admin_header_and_title_carry_the_brand(brand, ops):
    html = ops.get("/admin/").content.decode()
    assert "Northwind Proxies administration" in html
    assert "<title>Site administration | Northwind Proxies admin</title>" in html


def test_the_api_docs_carry_the_brand(brand):
    assert "<title>Northwind Proxies API</title>" in Client().get("/api/v1/docs/").content.decode()
    schema = json.loads(Client().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    assert schema["info"]["title"] == "Northwind Proxies API"


def test_the_brand_is_one_record_edited_in_the_admin(ops, owner, account):
    assert ops.get("/admin/branding/brand/").url == "/admin/branding/brand/add/"
    form = ops.get("/admin/branding/brand/add/").content.decode()
    assert 'value="Proxy Portal"' in form  # the settings' defaults fill the first form
    data = {"name": "Contoso Proxies", "primary_color": "#aa3300", "logo_url": "", "favicon_url": "/static/contoso.ico",
            "support_email": "", "support_url": "", "terms_url": "", "privacy_url": ""}
    assert ops.post("/admin/branding/brand/add/", data).status_code == 302
    assert ops.get("/admin/branding/brand/").url == "/admin/branding/brand/1/change/"
    assert ops.get("/admin/branding/brand/add/").status_code == 403  # one brand only
    html = dashboard_client(owner, account).get("/").content.decode()
    assert "Contoso Proxies" in html and '<link rel="icon" href="/static/contoso.ico">' in html  # no stale cache

    bad = ops.post("/admin/branding/brand/1/change/", {**data, "primary_color": "red;}{x", "logo_url": "javascript:x"})
    assert bad.status_code == 200
    assert "Enter a colour as #rrggbb" in bad.content.decode() and "Enter an http(s) URL" in bad.content.decode()
    assert Brand.objects.get().primary_color == "#aa3300"


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response.url == "/static/favicon.svg"
    assert client.get("/", follow=False).status_code in (200, 302)


def test_authenticator_apps_list_the_brand_unless_an_issuer_is_set(settings, brand):
    from accounts.adapters import PortalMFAAdapter

    settings.MFA_TOTP_ISSUER = ""
    assert PortalMFAAdapter().get_totp_issuer() == "Northwind Proxies"
    settings.MFA_TOTP_ISSUER = "Northwind 2FA"
    assert PortalMFAAdapter().get_totp_issuer() == "Northwind 2FA"

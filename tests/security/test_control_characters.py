"""Names refuse control characters; e-mail subjects are always one line (issue 22 finding 8).

A line break in an account name used to make every invitation answer 500 (Django's
`BadHeaderError` on the subject). Every free-text name a user, an API client or an operator
sets — account, API key, sub-user proxy, an e-mail address — now refuses control characters
with a clear error beside the field (or a 400 `validation_error`), and every e-mail goes out
through `branding.services.mail_send`, whose subject is one line, so a name stored before this
still sends.
"""

import ast
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import Account, Invitation, User
from apikeys.models import ApiKey
from branding.models import Brand
from branding.selectors import brand_email_subject
from core.text import CONTROL_CHARACTERS_MESSAGE, single_line, validate_plain_text
from orders.residential.models import SubUserProxy
from tests.conftest import PASSWORD
from tests.orders.residential.subuser_fixtures import residential_order

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
INJECTION = "Acme\r\nBcc: x@y"
HOSTILE_NAMES = [
    pytest.param(INJECTION, id="crlf"),
    pytest.param("line\nbreak", id="lf"),
    pytest.param("tab\tname", id="tab"),
    pytest.param("escape\x1b[31m", id="esc"),
    pytest.param("next\x85line", id="nel"),
    pytest.param("para\u2029graph", id="paragraph-separator"),
    pytest.param("invoice\u202egpj.exe", id="bidi-override"),
    pytest.param("nul\x00", id="nul"),
]
MESSAGE_PART = "control characters are not allowed"


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def _field_error(html: str, field: str) -> bool:
    """The field's error is shown beside it (Django's own forms already refuse NUL, in their words)."""
    return f'id="id_{field}_error"' in html and (MESSAGE_PART in html or "Null characters are not allowed" in html)


# --- the helpers -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_validator_refuses_control_characters(name):
    with pytest.raises(Exception) as raised:
        validate_plain_text(name)
    assert CONTROL_CHARACTERS_MESSAGE in str(raised.value)


@pytest.mark.parametrize("name", ["Acme GmbH", "Ünïcödé & Co. — 東京", "O'Brien (EU) #2", "emoji 🚀", "עברית"])
def test_validator_accepts_ordinary_names(name):
    validate_plain_text(name)


def test_email_subject_is_one_line_with_the_prefix():
    Brand.objects.create(pk=1, name="Brand", primary_color="#123456")
    assert brand_email_subject(f"You are invited to {INJECTION}\u2028x") == "[Brand] You are invited to Acme Bcc: x@y x"
    assert single_line(" a\r\n\tb ") == "a b"


def test_every_email_goes_through_mail_send():
    """The class: no e-mail in the code is sent but by `branding.services.mail_send`, which
    flattens its subject to one line (and carries the brand)."""
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if any(part in {".venv", "tests", "migrations", "bench", "node_modules"} for part in path.parts):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in {"send_mail", "send_mass_mail", "EmailMessage", "EmailMultiAlternatives", "mail_admins"}:
                continue
            if path.relative_to(ROOT) != Path("branding/services.py"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"e-mails not sent by branding.services.mail_send: {offenders}"


# --- account name ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_renaming_the_account_with_control_characters_is_refused_beside_the_field(owner_client, account, name):
    response = owner_client.post("/settings/", {"name": name})
    assert response.status_code == 400
    assert _field_error(response.content.decode(), "name")
    account.refresh_from_db()
    assert account.name == "Acme"


def test_renaming_the_account_still_works(owner_client, account):
    assert owner_client.post("/settings/", {"name": "Acme Europe"}).status_code == 302
    account.refresh_from_db()
    assert account.name == "Acme Europe"


def test_an_account_named_with_crlf_before_still_sends_invitations(
    owner_client, account, mailoutbox, django_capture_on_commit_callbacks
):
    Account.objects.filter(pk=account.pk).update(name=INJECTION)  # as stored before names were checked
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/team/", {"email": "new@example.com", "role": "member"})
    assert response.status_code == 302
    assert Invitation.objects.filter(account=account, email="new@example.com").exists()
    (mail,) = mailoutbox
    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert mail.subject.endswith("You are invited to Acme Bcc: x@y")
    assert mail.to == ["new@example.com"] and not mail.bcc
    message = mail.message()
    assert message["Bcc"] is None and message["To"] == "new@example.com"


def test_createaccount_refuses_a_name_with_control_characters(db):
    with pytest.raises(CommandError, match=MESSAGE_PART):
        call_command("createaccount", email="cli@example.com", password="a-Long-pass-123", name=INJECTION,
                     stdout=StringIO())
    assert not User.objects.filter(email="cli@example.com").exists()


def test_an_account_name_made_from_an_odd_address_has_no_control_characters(db):
    from accounts.services import account_create_for_user

    user = User.objects.create_user(email='"a\x0bb"@example.com', password=PASSWORD)
    account = account_create_for_user(user=user)
    assert "\x0b" not in account.name and account.name.endswith("'s account")


def test_the_admin_refuses_an_account_name_with_control_characters(account):
    operator = User.objects.create_superuser(email="root@operator.example", password=PASSWORD)
    client = Client()
    client.force_login(operator)
    response = client.post(f"/admin/accounts/account/{account.pk}/change/", {"name": INJECTION})
    assert response.status_code == 200 and MESSAGE_PART in response.content.decode()
    account.refresh_from_db()
    assert account.name == "Acme"


def test_the_suspension_reason_refuses_control_characters(account):
    from accounts.admin import SuspendForm

    assert not SuspendForm({"reason": INJECTION}).is_valid()
    assert SuspendForm({"reason": "Chargeback on invoice 7"}).is_valid()


# --- API key name ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_an_api_key_name_with_control_characters_is_refused_beside_the_field(owner_client, account, name):
    response = owner_client.post("/keys/", {"name": name, "scopes": ["balance:read"], "expiration": "30d"})
    assert response.status_code == 400
    assert _field_error(response.content.decode(), "name")
    assert not ApiKey.objects.filter(account=account).exists()


def test_createapikey_refuses_a_name_with_control_characters(owner):
    with pytest.raises(CommandError, match=MESSAGE_PART):
        call_command("createapikey", email=owner.email, scopes="balance:read", name=INJECTION, stdout=StringIO())
    assert not ApiKey.objects.exists()


# --- sub-user proxy name -----------------------------------------------------------------------

@pytest.fixture
def order(account):
    return residential_order(account, gb="10")


@pytest.fixture
def proxies_api(api, account, make_key):
    return api(make_key(account, scopes=["proxies:read", "proxies:write"]))


def _refused_400(response) -> None:
    body = response.json_body
    assert response.status_code == 400, body
    assert body["result"] is False and body["data"] is None and body["error_type"] == "validation_error"
    assert MESSAGE_PART in " ".join(body["meta"]["fields"]["name"])


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_api_create_proxy_with_a_control_character_name_is_400(proxies_api, order, name):
    _refused_400(proxies_api.post("proxy", {"name": name, "order_id": order.public_id}))
    assert not SubUserProxy.objects.exists()


def test_api_update_proxy_with_a_control_character_name_is_400(proxies_api, order):
    created = proxies_api.post("proxy", {"name": "scraper", "order_id": order.public_id})
    assert created.status_code == 201
    proxy_id = created.json_body["data"]["id"]
    _refused_400(proxies_api.patch(f"proxy/{proxy_id}", {"name": INJECTION}))
    assert SubUserProxy.objects.get(public_id=proxy_id).name == "scraper"


def test_dashboard_proxy_name_with_control_characters_is_refused_beside_the_field(owner_client, order):
    data = {"name": INJECTION, "order": order.public_id, "protocol": "http", "rotation": "rotating",
            "sticky_ttl_minutes": "10"}
    response = owner_client.post("/proxies/", data)
    assert response.status_code == 400 and _field_error(response.content.decode(), "name")
    assert not SubUserProxy.objects.exists()
    assert owner_client.post("/proxies/", {**data, "name": "web"}).status_code == 302
    proxy = SubUserProxy.objects.get()
    edit = owner_client.post(f"/proxies/{proxy.public_id}/", {**data, "name": "bad\x1bname"})
    assert edit.status_code == 400 and _field_error(edit.content.decode(), "name")
    proxy.refresh_from_db()
    assert proxy.name == "web"


# --- e-mail addresses --------------------------------------------------------------------------

ODD_ADDRESS = '"a\x0bb"@example.com'  # a quoted local part Django's EmailValidator lets through


def test_an_invitation_to_an_address_with_control_characters_is_refused(owner_client, account):
    response = owner_client.post("/team/", {"email": ODD_ADDRESS, "role": "member"})
    assert response.status_code == 200 and _field_error(response.content.decode(), "email")  # the Team page's way
    assert not Invitation.objects.exists()


def test_signup_refuses_an_address_with_control_characters(client, db):
    response = client.post("/accounts/signup/", {"email": ODD_ADDRESS, "password1": "a-Long-pass-123",
                                                 "password2": "a-Long-pass-123"})
    assert response.status_code == 200 and MESSAGE_PART in response.content.decode()
    assert not User.objects.exists()

"""PATCH /account {low_balance_threshold}, and balance.low: sent once when a charge leaves the
balance under the threshold, again only after the balance has risen above it."""

from decimal import Decimal

import pytest
from django.core import mail

from accounts.models import Account, AuditLogEntry
from billing.services import ledger_post
from events.services import endpoint_create
from tests.conftest import dashboard_client
from tests.events import conftest as webhook_fixtures
from tests.orders.conftest import fund

pytestmark = pytest.mark.django_db

receiver, webhook_settings = webhook_fixtures.receiver, webhook_fixtures.webhook_settings  # fixtures

_refs = iter(range(10_000))


def charge(account, amount):
    ledger_post(account=account, type="charge", amount=-Decimal(amount), reference=f"test-charge:{next(_refs)}",
                description="Test charge")


@pytest.fixture
def settings_api(api, account, make_key):
    return api(make_key(account, scopes=["balance:read", "balance:write"]))


@pytest.fixture
def hook(account, receiver):
    endpoint = endpoint_create(account=account, url=receiver.url, events=["balance.low"])
    receiver.secret = endpoint.secret
    return endpoint


def test_threshold_is_set_shown_and_turned_off(settings_api, account):
    assert settings_api.get("account").json_body["data"]["low_balance_threshold"] is None
    set_ = settings_api.patch("account", {"low_balance_threshold": "10.00"})
    assert set_.status_code == 200, set_.json_body
    assert set_.json_body["data"]["low_balance_threshold"] == "10.00"
    assert settings_api.get("account").json_body["data"]["low_balance_threshold"] == "10.00"
    assert settings_api.patch("account", {"low_balance_threshold": "7.5"}).json_body["data"]["low_balance_threshold"] == "7.50"
    off = settings_api.patch("account", {"low_balance_threshold": None})
    assert off.status_code == 200 and off.json_body["data"]["low_balance_threshold"] is None
    assert Account.objects.get(pk=account.pk).low_balance_threshold is None
    assert AuditLogEntry.objects.filter(account=account, action="account.low_balance_threshold").count() == 3


@pytest.mark.parametrize("body", [
    {}, {"low_balance_threshold": "ten"}, {"low_balance_threshold": "-1.00"}, {"low_balance_threshold": "1.234"},
    {"low_balance_threshold": True}, {"low_balance_threshold": {"a": 1}}, {"low_balance_threshold": "NaN"},
    {"low_balance_threshold": "1e30"},
])
def test_bad_thresholds_are_refused_and_change_nothing(settings_api, account, body):
    settings_api.patch("account", {"low_balance_threshold": "5.00"})
    response = settings_api.patch("account", body)
    assert response.status_code == 400, response.json_body
    assert response.json_body["error_type"] == "validation_error"
    assert list(response.json_body["meta"]["fields"]) == ["low_balance_threshold"]
    assert Account.objects.get(pk=account.pk).low_balance_threshold == Decimal("5.00")


def test_patch_needs_balance_write(api, account, make_key):
    reader = api(make_key(account, scopes=["balance:read"]))
    refused = reader.patch("account", {"low_balance_threshold": "10.00"})
    assert refused.status_code == 403 and refused.json_body["error_type"] == "insufficient_scope"
    assert reader.get("account").status_code == 200


def test_balance_low_is_sent_once_until_the_balance_rises_above_again(
    settings_api, account, hook, receiver, owner, django_capture_on_commit_callbacks,
):
    fund(account, 20)
    settings_api.patch("account", {"low_balance_threshold": "10.00"})
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        charge(account, "5.00")  # 15.00: above
        charge(account, "6.00")  # 9.00: under — sent
        charge(account, "1.00")  # 8.00: still under — not again
    (event,) = receiver.events()
    assert event["type"] == "balance.low"
    assert event["data"] == {**settings_api.get("account").json_body["data"], "balance": "9.00"}
    assert len(mail.outbox) == 1 and owner.email in mail.outbox[0].to and "10.00" in mail.outbox[0].subject
    with django_capture_on_commit_callbacks(execute=True):
        fund(account, "2.00")  # 10.00: not above yet
        charge(account, "1.00")  # 9.00
    assert len(receiver.events()) == 1
    with django_capture_on_commit_callbacks(execute=True):
        fund(account, "5.00")  # 14.00: above again
        charge(account, "4.50")  # 9.50: under — sent again
    assert [e["data"]["balance"] for e in receiver.events()] == ["9.00", "9.50"]


def test_no_alert_without_a_threshold_or_on_a_credit(account, hook, receiver, django_capture_on_commit_callbacks):
    fund(account, 20)
    with django_capture_on_commit_callbacks(execute=True):
        charge(account, "19.00")
    assert receiver.events() == []
    Account.objects.filter(pk=account.pk).update(low_balance_threshold=Decimal("50.00"))
    with django_capture_on_commit_callbacks(execute=True):
        fund(account, "5.00")  # a credit that stays under the threshold sends nothing
    assert receiver.events() == []


def test_dashboard_settings_set_and_refuse(owner, account):
    client = dashboard_client(owner, account)
    saved = client.post("/settings/", {"low_balance_threshold": "12.5"}, follow=True)
    assert saved.status_code == 200 and "12.50 USD" in saved.content.decode()
    assert Account.objects.get(pk=account.pk).low_balance_threshold == Decimal("12.50")
    refused = client.post("/settings/", {"low_balance_threshold": "twelve"})
    assert refused.status_code == 400 and "such as" in refused.content.decode()
    assert Account.objects.get(pk=account.pk).low_balance_threshold == Decimal("12.50")
    off = client.post("/settings/", {"low_balance_threshold": ""}, follow=True)
    assert "turned off" in off.content.decode()
    assert Account.objects.get(pk=account.pk).low_balance_threshold is None


def test_dashboard_viewer_cannot_change_it(account, member):
    from accounts.models import Membership

    Membership.objects.filter(user=member, account=account).update(role="viewer")
    client = dashboard_client(member, account)
    page = client.get("/settings/").content.decode()
    assert "low-balance alert is off" in page and 'name="low_balance_threshold"' not in page
    client.post("/settings/", {"low_balance_threshold": "5.00"})
    assert Account.objects.get(pk=account.pk).low_balance_threshold is None

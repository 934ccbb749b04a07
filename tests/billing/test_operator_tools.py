import csv
import io
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import AuditLogEntry
from billing.models import LedgerEntry
from billing.services import deposit_address_create
from tests.billing.conftest import BTC_VECTOR_0, fund


def balance_of(account):
    account.refresh_from_db()
    return account.balance


def test_adjustbalance_credits_and_debits_with_a_reason(owner, account):
    out = io.StringIO()
    call_command("adjustbalance", "--email", owner.email, "--amount", "25.00", "--reason", "Goodwill", stdout=out)
    assert "25.00" in out.getvalue()
    call_command("adjustbalance", "--email", owner.email.upper(), "--amount", "-10.50", "--reason", "Correction",
                 stdout=io.StringIO())
    assert balance_of(account) == Decimal("14.50")
    entries = LedgerEntry.objects.filter(account=account, type="adjustment").order_by("id")
    assert [e.amount for e in entries] == [Decimal("25.00"), Decimal("-10.50")]
    assert "Goodwill" in entries[0].description
    assert AuditLogEntry.objects.filter(account=account, action="balance.adjusted").count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "owner@example.com", "--amount", "-0.01", "--reason", "x"], "balance"),
        (["--email", "nobody@example.com", "--amount", "5", "--reason", "x"], "No user"),
        (["--email", "owner@example.com", "--amount", "abc", "--reason", "x"], "amount"),
        (["--email", "owner@example.com", "--amount", "0", "--reason", "x"], "non-zero"),
        (["--email", "owner@example.com", "--amount", "1.234", "--reason", "x"], "two decimal"),
        (["--email", "owner@example.com", "--amount", "NaN", "--reason", "x"], "amount"),
        (["--email", "owner@example.com", "--amount", "5", "--reason", "  "], "reason"),
    ],
)
def test_adjustbalance_refuses_bad_input_and_overdrafts(owner, account, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("adjustbalance", *args, stdout=io.StringIO())
    assert balance_of(account) == Decimal("0.00")
    assert not LedgerEntry.objects.exists()


def test_admin_credit_or_debit_action_shows_a_form_then_posts_an_adjustment(admin_client, account):
    url = "/admin/billing/accountbalance/"
    response = admin_client.post(url, {"action": "credit_or_debit_balance", ACTION_CHECKBOX_NAME: [account.pk]})
    assert response.status_code == 200
    assert b"Amount" in response.content and b"Reason" in response.content
    response = admin_client.post(url, {
        "action": "credit_or_debit_balance", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1",
        "amount": "12.34", "reason": "Refund for outage",
    })
    assert response.status_code == 302
    assert balance_of(account) == Decimal("12.34")
    entry = LedgerEntry.objects.get()
    assert entry.type == "adjustment" and "Refund for outage" in entry.description


def test_admin_action_refuses_to_overdraw(admin_client, account):
    response = admin_client.post("/admin/billing/accountbalance/", {
        "action": "credit_or_debit_balance", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1",
        "amount": "-5.00", "reason": "oops",
    }, follow=True)
    assert b"lower than" in response.content
    assert balance_of(account) == Decimal("0.00")


def test_admin_action_with_a_bad_amount_redisplays_the_form(admin_client, account):
    response = admin_client.post("/admin/billing/accountbalance/", {
        "action": "credit_or_debit_balance", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1",
        "amount": "0", "reason": "x",
    })
    assert response.status_code == 200
    assert b"must not be zero" in response.content
    assert not LedgerEntry.objects.exists()


def test_ledger_admin_is_read_only(admin_client, account):
    entry = fund(account, "5", reference="adm")
    assert admin_client.get("/admin/billing/ledgerentry/").status_code == 200
    assert admin_client.get("/admin/billing/ledgerentry/add/").status_code == 403
    response = admin_client.post(f"/admin/billing/ledgerentry/{entry.pk}/change/", {"description": "x"})
    assert response.status_code == 403
    assert admin_client.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.get(pk=entry.pk).description == "Test funding"


@pytest.mark.parametrize(
    "page",
    ["billing/accountbalance", "accounts/plan", "billing/depositaddress", "billing/deposit", "billing/depositdelivery"],
)
def test_operator_admin_lists_open(admin_client, account, page):
    deposit_address_create(account=account, currency="BTC")
    assert admin_client.get(f"/admin/{page}/").status_code == 200


def test_exportaddresses_writes_every_issued_address(account, outsider_account):
    deposit_address_create(account=account, currency="BTC")
    deposit_address_create(account=outsider_account, currency="USDT", network="TRC20")
    out = io.StringIO()
    call_command("exportaddresses", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 2
    btc = next(r for r in rows if r["chain"] == "BTC")
    assert btc["address"] == BTC_VECTOR_0 and btc["derivation_path"] == "0/0"
    assert btc["account_id"] == account.public_id


def test_admin_csv_export_action(admin_client, account):
    address = deposit_address_create(account=account, currency="BTC")
    response = admin_client.post("/admin/billing/depositaddress/", {
        "action": "export_addresses_csv", ACTION_CHECKBOX_NAME: [address.pk],
    })
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert BTC_VECTOR_0 in response.content.decode()


def test_the_credit_or_debit_action_also_works_from_the_account_admin(admin_client, account):
    response = admin_client.post("/admin/accounts/account/", {
        "action": "credit_or_debit_balance", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1",
        "amount": "3.00", "reason": "Welcome credit",
    })
    assert response.status_code == 302
    assert balance_of(account) == Decimal("3.00")

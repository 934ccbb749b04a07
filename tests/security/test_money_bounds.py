"""Issue 22 finding 7: every amount that reaches the ledger fits the columns that hold it.

Balances and ledger amounts are `MoneyField`s (14 digits, 2 places: at most
999 999 999 999.99 USD). A signed deposit notification accepted 20 digits, so two
deposits of 999999999999.99 pushed the balance past the column and every later read of
the account answered 500. Now `ledger_post` itself refuses a posting whose amount or
resulting balance would not fit, with a clear domain error (400 `validation_error`), and
every way in (the deposit webhook, `adjustbalance`, the admin credit/debit action) says so
and changes nothing.
"""

import io
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from billing.models import Deposit, LedgerEntry
from billing.services import BALANCE_MAX, deposit_address_create, ledger_post
from core.errors import DomainValidationError
from tests.billing.conftest import deliver, fund

MAX = Decimal("999999999999.99")


@pytest.fixture
def admin_client(admin_client, settings):
    """The admin as a signed-in superuser; its TOTP step is another test's subject."""
    settings.ADMIN_REQUIRE_MFA = False
    return admin_client


@pytest.fixture
def btc_address(account):
    return deposit_address_create(account=account, currency="BTC")


def notification(address, *, txid="ab" * 32, amount="0.001", amount_usd="65.43", vout=0):
    return {
        "currency": "BTC", "network": "BTC", "address": address.address, "txid": txid, "vout": vout,
        "amount": amount, "amount_usd": amount_usd, "confirmations": 6,
    }


def balance_of(account):
    account.refresh_from_db()
    return account.balance


def test_the_ledger_limit_is_what_a_money_column_holds():
    assert BALANCE_MAX == MAX


def test_a_second_huge_deposit_is_refused_and_the_account_still_answers(
    account, btc_address, make_key, api, admin_client
):
    first = deliver(notification(btc_address, txid="aa" * 32, amount_usd="999999999999.99"))
    assert first.status_code == 200, first.json_body
    assert first.json_body["data"]["status"] == "credited"

    second = deliver(notification(btc_address, txid="bb" * 32, amount_usd="999999999999.99"))
    assert second.status_code == 400, second.json_body
    body = second.json_body
    assert body["result"] is False and body["data"] is None
    assert body["error_type"] == "validation_error"
    assert "999999999999.99 USD" in body["error"] and "most an account can hold" in body["error"]
    assert list(body["meta"]["fields"]) == ["amount_usd"]
    # Nothing changed: no second deposit row, no second entry, the balance as it was.
    assert Deposit.objects.count() == 1
    assert LedgerEntry.objects.count() == 1
    assert balance_of(account) == MAX

    client = api(make_key(account, scopes=["balance:read"]))
    response = client.get("account")
    assert response.status_code == 200, response.json_body
    assert response.json_body["data"]["balance"] == "999999999999.99"
    response = client.get("account/transactions")
    assert response.status_code == 200, response.json_body
    assert [t["balance_after"] for t in response.json_body["data"]] == ["999999999999.99"]
    for page in ("/admin/billing/accountbalance/", "/admin/accounts/account/", "/admin/billing/ledgerentry/",
                 "/admin/billing/deposit/"):
        assert admin_client.get(page).status_code == 200, page


@pytest.mark.parametrize("amount_usd", ["999999999999.999", "1000000000000", "1e13", "99999999999999999999"])
def test_a_deposit_amount_the_ledger_cannot_hold_is_a_validation_error(account, btc_address, amount_usd):
    response = deliver(notification(btc_address, amount_usd=amount_usd))
    assert response.status_code == 400, response.json_body
    assert response.json_body["error_type"] == "validation_error"
    assert "amount_usd" in response.json_body["meta"]["fields"]
    assert not Deposit.objects.exists()
    assert balance_of(account) == Decimal("0.00")


def test_the_largest_coin_amount_accepted_reads_back_and_one_digit_more_is_refused(
    account, btc_address, admin_client, settings
):
    # Deposit.amount holds 22 whole digits and 18 places; the webhook accepts 15 whole digits,
    # so even SQLite (which keeps the value as a float) reads every accepted amount back.
    largest = "9" * 15 + "." + "9" * 18
    response = deliver(notification(btc_address, txid="cc" * 32, amount=largest))
    assert response.status_code == 200, response.json_body
    stored = Deposit.objects.get().amount
    if settings.IS_POSTGRES:
        assert stored == Decimal(largest)
    assert admin_client.get("/admin/billing/deposit/").status_code == 200
    for too_many in ("1" + "0" * 15, "9" * 22 + "." + "9" * 18, "1e30"):
        response = deliver(notification(btc_address, txid="dd" * 32, amount=too_many))
        assert response.status_code == 400, too_many
        assert response.json_body["error_type"] == "validation_error"
        assert "amount" in response.json_body["meta"]["fields"]
    assert Deposit.objects.count() == 1


def test_ledger_post_refuses_a_credit_that_would_overflow_the_balance(account):
    fund(account, MAX, reference="to-the-top")
    with pytest.raises(DomainValidationError) as refused:
        fund(account, "0.01", reference="one-cent-more")
    assert "most an account can hold" in refused.value.message
    assert balance_of(account) == MAX
    assert not LedgerEntry.objects.filter(reference="one-cent-more").exists()
    # A debit still goes through, and the same credit then fits.
    ledger_post(account=account, type="charge", amount=Decimal("-1.00"), reference="spend", description="x")
    fund(account, "0.01", reference="one-cent-more")
    assert balance_of(account) == MAX - Decimal("0.99")


@pytest.mark.parametrize("amount", [Decimal("1000000000000.00"), Decimal("-1000000000000.00"), Decimal("1e30"),
                                    Decimal("-1e999999999")])
def test_ledger_post_refuses_an_amount_no_column_can_hold(account, amount):
    fund(account, "10.00", reference="some")
    with pytest.raises(DomainValidationError) as refused:
        ledger_post(account=account, type="adjustment", amount=amount, reference="huge", description="x")
    assert "most an account can hold" in refused.value.message
    assert balance_of(account) == Decimal("10.00")
    assert not LedgerEntry.objects.filter(reference="huge").exists()


def test_an_overflow_refusal_leaves_the_callers_transaction_usable(account):
    fund(account, MAX, reference="to-the-top")
    with transaction.atomic():
        with pytest.raises(DomainValidationError):
            fund(account, "5.00", reference="too-much")
        ledger_post(account=account, type="charge", amount=Decimal("-5.00"), reference="fits", description="x")
    assert balance_of(account) == MAX - Decimal("5.00")


def test_a_replay_of_a_posted_credit_is_a_duplicate_even_at_the_limit(account):
    fund(account, "0.99", reference="posted")
    fund(account, MAX - Decimal("0.99"), reference="to-the-top")
    assert ledger_post(account=account, type="deposit", amount=Decimal("0.99"), reference="posted",
                       description="x", allow_duplicate=True) is None
    assert balance_of(account) == MAX


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("50000000000.00", "most an account can hold"),  # fits alone, not on top of the balance
        ("1e30", "too large"),
        ("-1e999999999", "too large"),
        ("9" * 5000, "too long"),
    ],
)
def test_adjustbalance_with_an_overflowing_amount_exits_non_zero_with_a_clear_message(owner, account, amount,
                                                                                      message):
    fund(account, MAX - Decimal("1000.00"), reference="nearly-full")
    with pytest.raises(CommandError, match=message):
        call_command("adjustbalance", "--email", owner.email, f"--amount={amount}", "--reason", "x",
                     stdout=io.StringIO())
    assert balance_of(account) == MAX - Decimal("1000.00")
    assert LedgerEntry.objects.count() == 1


def test_the_admin_credit_action_refuses_an_overflow_with_a_message(admin_client, account):
    fund(account, MAX - Decimal("1000.00"), reference="nearly-full")
    response = admin_client.post("/admin/billing/accountbalance/", {
        "action": "credit_or_debit_balance", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1",
        "amount": "50000000000.00", "reason": "fat finger",
    }, follow=True)
    assert response.status_code == 200
    assert b"most an account can hold" in response.content
    assert balance_of(account) == MAX - Decimal("1000.00")
    assert LedgerEntry.objects.count() == 1


@pytest.fixture
def dearest_datacenter(db):
    """An operator's price rule and limits under which an order could cost more than a column holds."""
    from orders.models import PriceRule, ProxyType

    ProxyType.objects.filter(code="datacenter").update(max_quantity=Decimal("100000"))
    rule = PriceRule.objects.get(proxy_type__code="datacenter", country__isnull=True)
    rule.unit_price = Decimal("9999999999.0000")
    rule.save()


@pytest.mark.parametrize("quantity", [1000, 100000])
def test_an_order_that_would_cost_more_than_a_column_holds_is_refused_on_quantity(
    api, make_key, account, dearest_datacenter, quantity
):
    from orders.models import Order

    fund(account, "1000.00")
    client = api(make_key(account))
    body = {"type": "datacenter", "quantity": quantity, "period": 30}
    for path in ("orders/calc", "orders"):
        response = client.post(path, body)
        assert response.status_code == 400, (path, response.body_bytes[:300])
        assert response.json_body["error_type"] == "validation_error"
        assert "the most one order can cost" in response.json_body["meta"]["fields"]["quantity"][0]
    assert Order.objects.count() == 0 and balance_of(account) == Decimal("1000.00")
    assert client.post("orders/calc", {"type": "datacenter", "quantity": 1, "period": 30}).status_code == 200

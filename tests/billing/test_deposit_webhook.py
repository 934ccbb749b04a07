import json
from decimal import Decimal

import pytest
from django.core import mail

from billing.models import Deposit, DepositAddress, DepositDelivery, LedgerEntry
from billing.services import deposit_address_create
from tests.billing.conftest import deliver, requires_postgres, run_concurrently


@pytest.fixture
def btc_address(account):
    return deposit_address_create(account=account, currency="BTC")


def payload(deposit_address, **overrides):
    body = {
        "currency": "BTC", "network": "BTC", "address": deposit_address.address, "txid": "ab" * 32, "vout": 0,
        "amount": "0.00100000", "amount_usd": "65.43", "confirmations": 2,
    }
    body.update(overrides)
    return body


def balance_of(account):
    account.refresh_from_db()
    return account.balance


def test_a_confirmed_deposit_is_credited_with_its_reference(account, btc_address):
    response = deliver(payload(btc_address))
    assert response.status_code == 200, response.json_body
    assert response.json_body["result"] is True
    assert response.json_body["data"]["status"] == "credited"
    assert balance_of(account) == Decimal("65.43")
    entry = LedgerEntry.objects.get(account=account)
    assert entry.type == "deposit"
    assert entry.reference == f"deposit:BTC:BTC:{'ab' * 32}:0"
    btc_address.refresh_from_db()
    assert btc_address.used_at is not None
    delivery = DepositDelivery.objects.get()
    assert delivery.signature_ok and delivery.status_code == 200 and delivery.deposit.status == "credited"


def test_the_owner_is_emailed_when_a_deposit_is_credited(account, btc_address, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(payload(btc_address))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [owner.email]
    assert "65.43 USD" in mail.outbox[0].subject


def test_below_the_threshold_it_is_pending_until_a_later_delivery_confirms_it(account, btc_address):
    first = deliver(payload(btc_address, confirmations=1))
    assert first.status_code == 200
    assert first.json_body["data"]["status"] == "pending"
    assert first.json_body["data"]["confirmations_required"] == 2
    assert balance_of(account) == Decimal("0.00")
    assert Deposit.objects.get().status == "pending"
    btc_address.refresh_from_db()
    assert btc_address.used_at is not None  # seen on chain: no longer counts as unused
    second = deliver(payload(btc_address, confirmations=3))
    assert second.json_body["data"]["status"] == "credited"
    assert balance_of(account) == Decimal("65.43")


def test_redelivery_of_a_credited_output_credits_nothing_more(account, btc_address):
    for confirmations in (2, 2, 5, 1):
        assert deliver(payload(btc_address, confirmations=confirmations)).status_code == 200
    assert balance_of(account) == Decimal("65.43")
    assert LedgerEntry.objects.count() == 1
    assert Deposit.objects.get().confirmations == 5
    assert DepositDelivery.objects.count() == 4


def test_another_output_of_the_same_transaction_is_a_separate_deposit(account, btc_address):
    deliver(payload(btc_address, vout=0))
    deliver(payload(btc_address, vout=1, amount_usd="10.00"))
    assert balance_of(account) == Decimal("75.43")


def test_usdt_erc20_uses_the_eth_threshold_and_matches_addresses_case_insensitively(account, settings):
    settings.DEPOSIT_CONFIRMATIONS = {**settings.DEPOSIT_CONFIRMATIONS, "ETH": 12}
    address = deposit_address_create(account=account, currency="USDT", network="ERC20")
    body = {"currency": "USDT", "network": "ERC20", "address": address.address.lower(), "txid": "0x" + "c" * 64,
            "vout": 3, "amount": "50", "amount_usd": "50.00", "confirmations": 11}
    assert deliver(body).json_body["data"]["status"] == "pending"
    body["confirmations"] = 12
    assert deliver(body).json_body["data"]["status"] == "credited"
    assert balance_of(account) == Decimal("50.00")


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "deadbeef", "sha1=abc"])
def test_a_bad_or_missing_signature_is_401_and_changes_nothing(account, btc_address, signature):
    response = deliver(payload(btc_address), signature=signature)
    assert response.status_code == 401
    assert response.json_body["error_type"] == "unauthorized"
    assert not Deposit.objects.exists()
    assert balance_of(account) == Decimal("0.00")
    delivery = DepositDelivery.objects.get()
    assert delivery.signature_ok is False and delivery.status_code == 401


def test_a_signature_over_another_body_is_refused(account, btc_address):
    from tests.billing.conftest import sign

    other = json.dumps(payload(btc_address, amount_usd="9999.00")).encode()
    response = deliver(payload(btc_address), signature=sign(other))
    assert response.status_code == 401
    assert balance_of(account) == Decimal("0.00")


def test_a_malformed_body_is_400_bad_request(account, btc_address):
    response = deliver(None, raw=b"{not json")
    assert response.status_code == 400
    assert response.json_body["error_type"] == "bad_request"
    response = deliver(None, raw=b"[1, 2]")
    assert response.status_code == 400
    response = deliver(None, raw=b"[" * 100_000)
    assert response.status_code == 400
    assert DepositDelivery.objects.filter(status_code=400).count() == 3
    assert not Deposit.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"vout": -1}, "vout"),
        ({"amount_usd": "abc"}, "amount_usd"),
        ({"amount_usd": "0"}, "amount_usd"),
        ({"confirmations": None}, "confirmations"),
        ({"currency": "DOGE"}, "currency"),
        ({"network": "TRC20"}, "network"),
        ({"txid": ""}, "txid"),
    ],
)
def test_invalid_fields_are_a_validation_error_and_change_nothing(account, btc_address, overrides, field):
    response = deliver(payload(btc_address, **overrides))
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"
    assert field in response.json_body["meta"]["fields"]
    assert not Deposit.objects.exists()
    assert balance_of(account) == Decimal("0.00")


def test_an_address_never_issued_is_404_and_changes_nothing(account, btc_address):
    response = deliver(payload(btc_address, address="bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"))
    assert response.status_code == 404
    assert response.json_body["error_type"] == "not_found"
    assert not Deposit.objects.exists()
    assert DepositDelivery.objects.get().status_code == 404


def test_an_address_of_another_chain_is_not_matched(account, btc_address):
    response = deliver(payload(btc_address, currency="LTC", network="LTC"))
    assert response.status_code == 404
    assert not Deposit.objects.exists()


def test_the_same_output_reported_to_another_address_is_a_conflict(account, btc_address, outsider_account):
    other = deposit_address_create(account=outsider_account, currency="BTC")
    deliver(payload(btc_address))
    response = deliver(payload(other))
    assert response.status_code == 409
    assert balance_of(outsider_account) == Decimal("0.00")


def test_get_is_method_not_allowed(client):
    response = client.get("/webhooks/deposits")
    assert response.status_code == 405
    assert response.json()["error_type"] == "method_not_allowed"


def test_a_used_address_frees_a_slot_of_the_five_unused(account, btc_address, make_key, api):
    client = api(make_key(account, scopes=["deposits:write"]))
    for _ in range(4):
        assert client.post("deposits/addresses", {"currency": "BTC"}).status_code == 201
    assert client.post("deposits/addresses", {"currency": "BTC"}).status_code == 409
    deliver(payload(btc_address, confirmations=0))
    assert client.post("deposits/addresses", {"currency": "BTC"}).status_code == 201
    assert DepositAddress.objects.filter(account=account).count() == 6


@pytest.mark.postgres
@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_deliveries_of_one_deposit_credit_it_once(account):
    address = deposit_address_create(account=account, currency="BTC")
    body = payload(address)
    outcomes = run_concurrently(lambda i: deliver(body).status_code, 20)
    assert outcomes == [200] * 20, outcomes
    assert balance_of(account) == Decimal("65.43")
    assert LedgerEntry.objects.filter(account=account, type="deposit").count() == 1
    assert Deposit.objects.get().status == "credited"
    assert DepositDelivery.objects.count() == 20


@pytest.mark.postgres
@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_pending_and_confirming_deliveries_credit_once(account):
    address = deposit_address_create(account=account, currency="BTC")
    outcomes = run_concurrently(lambda i: deliver(payload(address, confirmations=i % 4)).status_code, 20)
    assert outcomes == [200] * 20, outcomes
    assert balance_of(account) == Decimal("65.43")
    assert LedgerEntry.objects.filter(account=account).count() == 1

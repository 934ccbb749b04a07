import pytest
from django.conf import settings

from accounts.models import Account
from billing.derivation import derive_address
from billing.models import DepositAddress
from billing.services import deposit_address_create
from tests.billing.conftest import BTC_VECTOR_0, ETH_VECTOR_0, requires_postgres, run_concurrently

PATH = "deposits/addresses"


def test_bip84_vector_index_0_of_the_demo_btc_zpub():
    assert derive_address("BTC", settings.DEMO_DEPOSIT_XPUBS["BTC"], 0) == BTC_VECTOR_0


def test_bip44_eth_vector_index_0_is_checksummed():
    assert derive_address("ETH", settings.DEMO_DEPOSIT_XPUBS["ETH"], 0) == ETH_VECTOR_0


def test_ltc_and_tron_derive_their_own_address_formats():
    assert derive_address("LTC", settings.DEMO_DEPOSIT_XPUBS["LTC"], 0).startswith("ltc1q")
    assert derive_address("TRX", settings.DEMO_DEPOSIT_XPUBS["TRX"], 0).startswith("T")


def test_first_btc_address_is_the_vector_with_a_bitcoin_uri(account, make_key, api):
    client = api(make_key(account, scopes=["deposits:write", "balance:read"]))
    response = client.post(PATH, {"currency": "BTC"})
    assert response.status_code == 201, response.json_body
    data = response.json_body["data"]
    assert data["id"].startswith("dep_")
    assert (data["currency"], data["network"], data["address"]) == ("BTC", "BTC", BTC_VECTOR_0)
    assert data["uri"] == f"bitcoin:{BTC_VECTOR_0}"
    assert data["created_at"].endswith("Z")
    listed = client.get(PATH).json_body
    assert [a["address"] for a in listed["data"]] == [BTC_VECTOR_0]
    assert listed["meta"]["total"] == 1


@pytest.mark.parametrize(
    ("body", "network", "scheme", "prefix"),
    [
        ({"currency": "LTC"}, "LTC", "litecoin", "ltc1q"),
        ({"currency": "ETH"}, "ERC20", "ethereum", "0x"),
        ({"currency": "eth", "network": "erc20"}, "ERC20", "ethereum", "0x"),
        ({"currency": "USDT", "network": "ERC20"}, "ERC20", "ethereum", "0x"),
        ({"currency": "USDT", "network": "TRC20"}, "TRC20", "tron", "T"),
    ],
)
def test_each_currency_and_network_gets_its_address_kind(account, make_key, api, body, network, scheme, prefix):
    response = api(make_key(account, scopes=["deposits:write"])).post(PATH, body)
    assert response.status_code == 201, response.json_body
    data = response.json_body["data"]
    assert data["network"] == network
    assert data["address"].startswith(prefix)
    assert data["uri"] == f"{scheme}:{data['address']}"


def test_eth_and_usdt_erc20_share_one_index_sequence_so_never_coincide(account, outsider_account):
    first = deposit_address_create(account=account, currency="ETH")
    second = deposit_address_create(account=outsider_account, currency="USDT", network="ERC20")
    third = deposit_address_create(account=account, currency="USDT", network="ERC20")
    assert first.address == ETH_VECTOR_0
    assert [first.derivation_index, second.derivation_index, third.derivation_index] == [0, 1, 2]
    assert len({first.address, second.address, third.address}) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "DOGE"}, "currency"),
        ({}, "currency"),
        ({"currency": "BTC", "network": "ERC20"}, "network"),
        ({"currency": "ETH", "network": "TRC20"}, "network"),
        ({"currency": "USDT"}, "network"),
        ({"currency": "USDT", "network": "BEP20"}, "network"),
    ],
)
def test_unknown_currency_or_network_is_a_validation_error_naming_the_field(account, make_key, api, body, field):
    response = api(make_key(account, scopes=["deposits:write"])).post(PATH, body)
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"
    assert field in response.json_body["meta"]["fields"]
    assert not DepositAddress.objects.exists()


def test_a_chain_without_a_configured_key_is_a_validation_error_naming_it(account, make_key, api, settings):
    settings.DEPOSIT_XPUBS = {**settings.DEPOSIT_XPUBS, "TRX": ""}
    client = api(make_key(account, scopes=["deposits:write"]))
    response = client.post(PATH, {"currency": "USDT", "network": "TRC20"})
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"
    assert "TRX" in response.json_body["error"]
    assert not DepositAddress.objects.exists()
    assert client.post(PATH, {"currency": "USDT", "network": "ERC20"}).status_code == 201


def test_more_than_five_unused_addresses_per_currency_and_network_is_a_conflict(account, make_key, api):
    client = api(make_key(account, scopes=["deposits:write"]))
    for _ in range(5):
        assert client.post(PATH, {"currency": "BTC"}).status_code == 201
    response = client.post(PATH, {"currency": "BTC"})
    assert response.status_code == 409
    assert response.json_body["error_type"] == "conflict"
    assert DepositAddress.objects.filter(account=account).count() == 5
    # Another currency, or the same once one address is used, is fine.
    assert client.post(PATH, {"currency": "LTC"}).status_code == 201
    DepositAddress.objects.filter(account=account, currency="BTC").update(used_at="2026-01-01T00:00:00Z")
    assert client.post(PATH, {"currency": "BTC"}).status_code == 201


def test_listing_needs_balance_read_and_creating_needs_deposits_write(account, make_key, api):
    reader = api(make_key(account, scopes=["balance:read"]))
    response = reader.post(PATH, {"currency": "BTC"})
    assert response.status_code == 403
    assert response.json_body["error_type"] == "insufficient_scope"
    assert response.json_body["meta"]["required"] == "deposits:write"
    writer = api(make_key(account, scopes=["deposits:write"]))
    response = writer.get(PATH)
    assert response.status_code == 403
    assert response.json_body["meta"]["required"] == "balance:read"
    assert not DepositAddress.objects.exists()


def test_another_tenants_addresses_are_invisible(account, outsider_account, make_key, api):
    deposit_address_create(account=outsider_account, currency="BTC")
    mine = deposit_address_create(account=account, currency="BTC")
    listed = api(make_key(account, scopes=["balance:read"])).get(PATH).json_body
    assert [a["id"] for a in listed["data"]] == [mine.public_id]


def test_listing_limit_out_of_range_is_a_400(account, make_key, api):
    response = api(make_key(account, scopes=["balance:read"])).get(PATH, limit=101)
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"


def test_surrounding_whitespace_in_the_key_setting_continues_the_same_sequence(account, settings):
    first = deposit_address_create(account=account, currency="BTC")
    settings.DEPOSIT_XPUBS = {**settings.DEPOSIT_XPUBS, "BTC": settings.DEMO_DEPOSIT_XPUBS["BTC"] + " "}
    second = deposit_address_create(account=account, currency="BTC")
    assert (first.derivation_index, second.derivation_index) == (0, 1)
    assert first.key_id == second.key_id


def test_a_rotated_key_starts_its_own_sequence_without_reissuing_old_addresses(account, settings):
    first = deposit_address_create(account=account, currency="BTC")
    # Another valid account-level zpub stands in for the operator's new key.
    settings.DEPOSIT_XPUBS = {**settings.DEPOSIT_XPUBS, "BTC": settings.DEMO_DEPOSIT_XPUBS["LTC"]}
    rotated = deposit_address_create(account=account, currency="BTC")
    assert rotated.key_id != first.key_id
    assert rotated.derivation_index == 0
    assert rotated.address.startswith("bc1q") and rotated.address != first.address


def test_an_invalid_key_setting_is_a_validation_error_not_a_500(account, make_key, api, settings):
    settings.DEPOSIT_XPUBS = {**settings.DEPOSIT_XPUBS, "LTC": "not-a-key"}
    response = api(make_key(account, scopes=["deposits:write"])).post(PATH, {"currency": "LTC"})
    assert response.status_code == 400
    assert "DEPOSIT_XPUB_LTC" in response.json_body["error"]
    assert not DepositAddress.objects.exists()


@pytest.mark.postgres
@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_across_accounts_get_distinct_indices(account, outsider_account, make_key, api):
    keys = {a.pk: make_key(a, scopes=["deposits:write"]) for a in (account, outsider_account)}
    accounts = [account, outsider_account]

    def create(i):
        acc = accounts[i % 2]
        response = api(keys[acc.pk]).post(PATH, {"currency": ["ETH", "USDT"][i // 2 % 2], "network": "ERC20"})
        return response.status_code, response.json_body

    outcomes = run_concurrently(create, 20)
    statuses = sorted(o[0] for o in outcomes)
    # Each account may hold 5 unused per (currency, network): 2 accounts x 2 currencies x 5 = 20.
    assert statuses == [201] * 20, outcomes
    addresses = DepositAddress.objects.all()
    assert addresses.count() == 20
    assert sorted(addresses.values_list("derivation_index", flat=True)) == list(range(20))
    assert len(set(addresses.values_list("address", flat=True))) == 20
    assert Account.objects.count() == 2


@pytest.mark.postgres
@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_of_one_account_never_exceed_five_unused(account, make_key, api):
    key = make_key(account, scopes=["deposits:write"])
    outcomes = run_concurrently(lambda i: api(key).post(PATH, {"currency": "BTC"}).status_code, 12)
    assert sorted(outcomes) == [201] * 5 + [409] * 7
    assert DepositAddress.objects.filter(account=account).count() == 5

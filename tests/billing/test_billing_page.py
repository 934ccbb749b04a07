from decimal import Decimal

import pytest

from accounts.models import Membership, Role
from accounts.services import user_create_with_account
from billing.forms import DepositAddressForm
from billing.models import DepositAddress
from billing.services import deposit_address_create, ledger_post
from tests.billing.conftest import BTC_VECTOR_0, fund
from tests.conftest import PASSWORD


@pytest.fixture
def viewer(account):
    user, _ = user_create_with_account(email="viewer@example.com", password=PASSWORD, name="Viewer's own")
    Membership.objects.create(user=user, account=account, role=Role.VIEWER)
    return user


def as_member_of(client, user, account):
    client.force_login(user)
    client.post("/switch-account/", {"account": account.public_id})
    return client


def test_owner_sees_balance_transactions_addresses_with_qr_and_plans(client, owner, account):
    fund(account, "42.50", reference="f")
    ledger_post(account=account, type="charge", amount=Decimal("-2.50"), reference="c", description="Order ord_1")
    deposit_address_create(account=account, currency="BTC")
    client.force_login(owner)
    response = client.get("/billing/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "40.00 USD" in html
    assert "Order ord_1" in html and "-2.50 USD" in html
    assert BTC_VECTOR_0 in html
    assert 'src="data:image/svg+xml' in html
    assert 'data-copy="#address-' in html
    assert "Upgrade to premium" in html
    assert 'name="currency"' in html


def test_owner_creates_a_deposit_address_from_the_form(client, owner, account):
    client.force_login(owner)
    response = client.post("/billing/addresses/", {"currency": "USDT", "network": "TRC20"})
    assert response.status_code == 302
    address = DepositAddress.objects.get(account=account)
    assert (address.currency, address.network) == ("USDT", "TRC20")
    assert address.address in client.get("/billing/").content.decode()


def test_a_bad_form_shows_the_error_beside_the_field_and_creates_nothing(client, owner, account):
    client.force_login(owner)
    response = client.post("/billing/addresses/", {"currency": "USDT", "network": ""})
    assert response.status_code == 400
    assert "needs a network" in response.content.decode()
    response = client.post("/billing/addresses/", {"currency": "DOGE"})
    assert response.status_code == 400
    assert not DepositAddress.objects.exists()


@pytest.mark.parametrize(("data", "message"), [
    ({"currency": "USDT"}, "USDT needs a network: ERC20 or TRC20."),
    ({"currency": "USDT", "network": ""}, "USDT needs a network: ERC20 or TRC20."),
    ({"currency": "BTC", "network": "TRC20"}, "BTC is available on BTC only."),
])
def test_the_form_requires_a_usdt_network_as_the_api_does(data, message):
    form = DepositAddressForm(data)
    assert not form.is_valid()
    assert form.errors["network"] == [message]


def test_a_currency_with_one_network_needs_no_choice():
    form = DepositAddressForm({"currency": "ETH", "network": ""})
    assert form.is_valid(), form.errors


def test_the_sixth_unused_address_is_refused_on_the_page(client, owner, account):
    for _ in range(5):
        deposit_address_create(account=account, currency="LTC")
    client.force_login(owner)
    response = client.post("/billing/addresses/", {"currency": "LTC"})
    assert response.status_code == 409
    assert "unused" in response.content.decode()
    assert DepositAddress.objects.count() == 5


def test_a_member_reads_billing_but_cannot_create_addresses(client, member, account):
    deposit_address_create(account=account, currency="BTC")
    as_member_of(client, member, account)
    html = client.get("/billing/").content.decode()
    assert BTC_VECTOR_0 in html
    assert "Create address" not in html and "Upgrade to premium" not in html
    assert client.post("/billing/addresses/", {"currency": "BTC"}).status_code == 403
    assert DepositAddress.objects.count() == 1


def test_a_viewer_reads_billing_only(client, viewer, account):
    as_member_of(client, viewer, account)
    assert client.get("/billing/").status_code == 200
    assert client.post("/billing/addresses/", {"currency": "BTC"}).status_code == 403
    assert client.post("/billing/premium/").status_code == 403


def test_another_accounts_billing_is_not_shown(client, outsider, account, outsider_account):
    deposit_address_create(account=account, currency="BTC")
    fund(account, "7.77", reference="f")
    client.force_login(outsider)
    html = client.get("/billing/").content.decode()
    assert BTC_VECTOR_0 not in html and "7.77" not in html


def test_transactions_table_paginates(client, owner, account):
    for i in range(25):
        fund(account, "1", reference=f"p{i}")
    client.force_login(owner)
    html = client.get("/billing/").content.decode()
    assert "Page 1 of 2" in html
    assert "Page 2 of 2" in client.get("/billing/", {"page": 2}).content.decode()


def test_anonymous_is_sent_to_login(client):
    response = client.get("/billing/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_pending_deposits_show_amount_and_confirmations_until_credited(client, owner, account, outsider_account):
    from billing.services import deposit_notification_apply

    address = deposit_address_create(account=account, currency="BTC")
    other = deposit_address_create(account=outsider_account, currency="BTC")
    notice = {"currency": "BTC", "network": "BTC", "vout": 0, "amount": Decimal("0.00150000"),
              "amount_usd": Decimal("97.5"), "confirmations": 1}
    deposit_notification_apply(address=address.address, txid="ab" * 32, **notice)
    deposit_notification_apply(address=other.address, txid="cd" * 32, **notice)
    client.force_login(owner)
    html = client.get("/billing/").content.decode()
    assert "Pending deposits" in html
    assert "0.0015 BTC (BTC)" in html and "97.50 USD" in html and ">1/2<" in html
    assert "abababab" in html and "cdcdcdcd" not in html  # another account's deposit is not shown
    deposit_notification_apply(address=address.address, txid="ab" * 32, **{**notice, "confirmations": 2})
    assert "Pending deposits" not in client.get("/billing/").content.decode()

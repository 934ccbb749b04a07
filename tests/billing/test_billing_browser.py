import re

import pytest

from billing.models import DepositAddress
from tests.billing.conftest import BTC_VECTOR_0, fund
from tests.browser import conftest as browser_fixtures
from tests.conftest import PASSWORD

# The shared browser fixtures (tests/browser/conftest.py), made visible to this folder.
chromium = browser_fixtures.chromium
page = browser_fixtures.page
login = browser_fixtures.login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_creates_a_deposit_address_and_upgrades_to_premium(page, login, owner, account):
    fund(account, "30.00", reference="browser-fund")
    login(owner.email, PASSWORD)
    page.goto("/billing/")
    page.get_by_label("Currency").select_option("BTC")
    page.get_by_role("button", name="Create address").click()
    table = page.get_by_role("table", name="Deposit addresses")
    row = table.get_by_role("row").filter(has_text=BTC_VECTOR_0)
    assert row.count() == 1
    assert row.get_by_role("img", name=re.compile("QR code")).get_attribute("src").startswith("data:image/svg+xml")
    row.get_by_role("button", name=re.compile("Copy")).click()
    assert page.evaluate("navigator.clipboard.readText()") == BTC_VECTOR_0
    assert DepositAddress.objects.filter(account=account).count() == 1

    # USDT has no default network: leaving it unchosen is refused, beside the field.
    page.get_by_label("Currency").select_option("USDT")
    assert page.get_by_label("Network").input_value() == ""
    page.get_by_role("button", name="Create address").click()
    page.get_by_text("USDT needs a network: ERC20 or TRC20.").first.wait_for()
    assert DepositAddress.objects.filter(account=account).count() == 1
    page.get_by_label("Currency").select_option("USDT")
    page.get_by_label("Network").select_option("TRC20")
    page.get_by_role("button", name="Create address").click()
    assert page.get_by_role("table", name="Deposit addresses").get_by_role("row").filter(has_text="TRC20").count() == 1

    page.get_by_role("button", name="Upgrade to premium").click()
    page.get_by_text(re.compile("Premium is active until")).wait_for()
    assert page.get_by_test_id("balance").inner_text() == "1.00 USD"
    transactions = page.get_by_role("table", name="Transactions")
    assert transactions.get_by_role("row").filter(has_text="subscription").count() == 1

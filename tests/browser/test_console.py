"""The operator console in Chromium: the revenue chart is drawn, the page loads without console
errors or missing files, and a screenshot at 1366 px shows it."""

from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress

from accounts.models import User
from billing.services import ledger_post
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_open_the_console_from_the_admin_and_see_the_chart(page, login, account):
    staff = User.objects.create_user(email="ops@example.com", password=PASSWORD, is_staff=True)
    EmailAddress.objects.create(user=staff, email=staff.email, verified=True, primary=True)
    ledger_post(account=account, type="deposit", amount=Decimal("50"), reference="b:fund", description="fund")
    ledger_post(account=account, type="charge", amount=Decimal("-12.5"), reference="b:charge", description="order")
    problems = []
    # The favicon is the base layout's business (and its 404 reaches no response handler).
    page.on("console", lambda m: problems.append(f"{m.text} {m.location.get('url')}")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    login("ops@example.com", PASSWORD)
    page.goto("/admin/")
    page.get_by_role("link", name="Open the operator console").click()
    page.wait_for_url("**/console/")
    page.locator("#revenue-chart[data-chart-ready]").wait_for()
    assert page.get_by_test_id("revenue-total").inner_text() == "12.50 USD"
    table = page.get_by_role("table", name="Revenue per day")
    page.get_by_text("Revenue per day as a table").click()
    assert table.get_by_role("row").count() == 31  # header and 30 days
    assert problems == []

"""Overview page: balance, plan, active orders and traffic of the chosen account."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import Membership, Role, User
from tests.conftest import PASSWORD


def test_overview_shows_the_accounts_figures(client, owner, account, make_key):
    from billing.services import ledger_post

    ledger_post(account=account, type="deposit", amount=Decimal("42.50"), reference="t-1", description="top-up")
    account.premium_until = timezone.now() + timedelta(days=10)
    account.save(update_fields=["premium_until"])
    make_key(account, scopes=["balance:read"])
    client.force_login(owner)
    html = client.get("/").content.decode()
    assert '<h1>Overview</h1>' in html
    assert "42.50 USD" in html
    assert "Premium" in html
    assert "1 active API key" in html
    for label in ("Balance", "Active orders", "Residential traffic left"):
        assert label in html


def test_viewer_sees_overview_without_key_management(client, account):
    viewer = User.objects.create_user(email="v@example.com", password=PASSWORD)
    Membership.objects.create(user=viewer, account=account, role=Role.VIEWER)
    client.force_login(viewer)
    html = client.get("/").content.decode()
    assert "Acme" in html and "0.00 USD" in html
    assert "Manage API keys" not in html and ">API Keys<" not in html
    assert client.get("/keys/").status_code == 403

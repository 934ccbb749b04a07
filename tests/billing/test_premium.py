from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import AuditLogEntry, Plan
from accounts.selectors import plan_rate_limits
from billing.models import LedgerEntry
from billing.services import premium_purchase
from billing.tasks import lapse_premium
from core.errors import InsufficientFunds
from tests.billing.conftest import fund


def test_owner_upgrades_from_the_billing_page_paid_from_the_balance(client, owner, account):
    fund(account, "40.00", reference="f")
    client.force_login(owner)
    response = client.post("/billing/premium/")
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.balance == Decimal("11.00")
    assert account.tier == "premium"
    assert timedelta(days=29, hours=23) < account.premium_until - timezone.now() <= timedelta(days=30)
    entry = LedgerEntry.objects.get(account=account, type="subscription")
    assert entry.amount == Decimal("-29.00")
    assert entry.reference.startswith(f"subscription:{account.public_id}:")
    assert AuditLogEntry.objects.filter(account=account, action="premium.purchased").exists()


def test_upgrade_when_short_is_a_402_with_a_clear_message_and_changes_nothing(client, owner, account):
    fund(account, "28.99", reference="f")
    client.force_login(owner)
    response = client.post("/billing/premium/")
    assert response.status_code == 402
    assert "29.00 USD" in response.content.decode() and "28.99 USD" in response.content.decode()
    account.refresh_from_db()
    assert account.balance == Decimal("28.99") and account.premium_until is None
    assert not LedgerEntry.objects.filter(type="subscription").exists()


def test_a_member_cannot_buy_premium(client, member, account):
    fund(account, "100", reference="f")
    client.force_login(member)
    client.post("/switch-account/", {"account": account.public_id})
    assert client.post("/billing/premium/").status_code == 403
    account.refresh_from_db()
    assert account.premium_until is None and account.balance == Decimal("100.00")


def test_extending_adds_the_period_to_the_current_end(account):
    fund(account, "100", reference="f")
    premium_purchase(account=account)
    first_end = account.premium_until
    premium_purchase(account=account)
    account.refresh_from_db()
    assert account.premium_until == first_end + timedelta(days=30)
    assert account.balance == Decimal("42.00")
    refs = list(LedgerEntry.objects.filter(type="subscription").values_list("reference", flat=True))
    assert len(set(refs)) == 2


def test_insufficient_funds_from_the_service(account):
    with pytest.raises(InsufficientFunds):
        premium_purchase(account=account)


def test_rate_limits_follow_the_tier_at_once(account):
    fund(account, "29", reference="f")
    assert plan_rate_limits(tier=account.tier)["general"] == 60
    premium_purchase(account=account)
    assert plan_rate_limits(tier=account.tier)["general"] == 300
    account.premium_until = timezone.now() - timedelta(seconds=1)
    assert account.tier == "free"
    assert plan_rate_limits(tier=account.tier)["general"] == 60


def test_lapse_premium_audits_the_end_once(account):
    account.premium_until = timezone.now() - timedelta(minutes=1)
    account.save(update_fields=["premium_until"])
    assert lapse_premium()["lapsed"] == 1
    assert lapse_premium()["lapsed"] == 0
    assert AuditLogEntry.objects.filter(account=account, action="premium.lapsed").count() == 1
    account.refresh_from_db()
    assert account.tier == "free"


def test_lapse_premium_leaves_running_premium_alone_and_reminds_once_before_the_end(account, owner):
    account.premium_until = timezone.now() + timedelta(days=2)
    account.save(update_fields=["premium_until"])
    assert lapse_premium() == {"lapsed": 0, "reminded": 1}
    assert lapse_premium() == {"lapsed": 0, "reminded": 0}
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [owner.email]
    assert "Premium ends" in mail.outbox[0].subject
    assert not AuditLogEntry.objects.filter(action="premium.lapsed").exists()


def test_a_free_premium_plan_price_posts_no_entry(account):
    Plan.objects.filter(tier="premium").update(price=Decimal("0.00"))
    premium_purchase(account=account)
    account.refresh_from_db()
    assert account.tier == "premium"
    assert not LedgerEntry.objects.exists()


def test_plan_admin_save_makes_new_limits_apply(admin_client, django_capture_on_commit_callbacks):
    assert plan_rate_limits(tier="free")["general"] == 60  # now cached
    plan = Plan.objects.get(tier="free")
    data = {
        "name": "Free", "tier": "free", "price": "0.00", "period_days": 30, "is_public": "on",
        "limit_general": 99, "limit_order_create": 10, "limit_check": 20, "limit_export": 10,
        "max_check_job_size": 1000, "max_subusers": 20,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/accounts/plan/{plan.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    assert plan_rate_limits(tier="free")["general"] == 99


def test_the_plans_old_admin_address_leads_to_the_new_one(admin_client):
    plan = Plan.objects.get(tier="free")
    listing = admin_client.get("/admin/billing/plan/?q=free")
    assert listing.status_code == 301 and listing.url == "/admin/accounts/plan/?q=free"
    change = admin_client.get(f"/admin/billing/plan/{plan.pk}/change/", follow=True)
    assert change.status_code == 200 and b'name="limit_general"' in change.content

"""Billing background work: premium lapsing and its e-mails. Thin: ids in, services do the work."""

from celery import shared_task
from django.conf import settings
from django.template.loader import render_to_string

from accounts.models import Account
from billing import services
from billing.models import Deposit
from billing.selectors import billing_contacts
from branding.selectors import brand_current
from branding.services import mail_send
from core.money import money_str


def _mail(*, account: Account, template: str, subject: str, context: dict) -> int:
    recipients = billing_contacts(account=account)
    if not recipients:
        return 0
    context = {"account": account, "brand": brand_current(), "site_url": settings.SITE_URL.rstrip("/"), **context}
    body = render_to_string(f"billing/email/{template}.txt", context)
    return mail_send(subject=subject, message=body, recipient_list=recipients, fail_silently=False)


@shared_task(name="billing.tasks.lapse_premium", soft_time_limit=120, time_limit=150)
def lapse_premium() -> dict:
    """Every minute: audit each premium period that ended, remind those ending soon."""
    lapsed = services.premium_lapse_due()
    reminded = services.premium_remind_expiring()
    for account_id in reminded:
        send_premium_expiring_email.delay(account_id)
    return {"lapsed": lapsed, "reminded": len(reminded)}


@shared_task(name="billing.tasks.send_deposit_credited_email", autoretry_for=(OSError,), retry_backoff=30,
             max_retries=5, soft_time_limit=60, time_limit=90)
def send_deposit_credited_email(deposit_id: int) -> int:
    deposit = Deposit.objects.select_related("account", "ledger_entry").filter(pk=deposit_id).first()
    if deposit is None or deposit.ledger_entry is None:
        return 0
    return _mail(
        account=deposit.account, template="deposit_credited",
        subject=f"Deposit of {money_str(deposit.amount_usd)} USD credited",
        context={"deposit": deposit, "entry": deposit.ledger_entry},
    )


@shared_task(name="billing.tasks.send_premium_expiring_email", autoretry_for=(OSError,), retry_backoff=30,
             max_retries=5, soft_time_limit=60, time_limit=90)
def send_premium_expiring_email(account_id: int) -> int:
    account = Account.objects.filter(pk=account_id).first()
    if account is None or not account.is_premium:
        return 0
    return _mail(
        account=account, template="premium_expiring",
        subject=f"Premium ends on {account.premium_until:%Y-%m-%d}",
        context={"premium_until": account.premium_until},
    )

"""Deposit and balance events for customers' webhooks."""

from django.db import transaction

from accounts.models import Account
from branding.services import mail_send
from core.money import money_str
from events.services import event_emit

from .models import Deposit


def deposit_event_emit(*, deposit: Deposit, type: str) -> None:  # noqa: A002
    """`deposit.pending` or `deposit.credited`, in the caller's transaction. A deposit has no
    public id of its own: its on-chain output (`<currency>:<network>:<txid>:<vout>`) names it."""
    data = {
        "id": f"{deposit.currency}:{deposit.network}:{deposit.txid}:{deposit.vout}",
        "currency": deposit.currency, "network": deposit.network, "address": deposit.address.address,
        "txid": deposit.txid, "vout": deposit.vout, "amount": f"{deposit.amount.normalize():f}",
        "amount_usd": money_str(deposit.amount_usd), "confirmations": deposit.confirmations,
        "status": deposit.status,
    }
    event_emit(account=deposit.account_id, type=type, data=data)


def balance_low_emit(*, account: Account) -> None:
    """`balance.low` with the account as `GET /account` shows it, in the caller's transaction,
    and an e-mail to owners and admins once it commits."""
    from .api import AccountOut  # the API module imports the services, which import this one
    from .selectors import billing_contacts

    event_emit(account=account.pk, type="balance.low", data=dict(AccountOut(account).data))
    balance, threshold, name = account.balance, account.low_balance_threshold, account.name

    def send() -> None:
        recipients = billing_contacts(account=account)
        if recipients:
            mail_send(
                subject=f"Your balance is under {money_str(threshold)} USD",
                message=(
                    f"The balance of {name} is {money_str(balance)} USD, under the {money_str(threshold)} USD "
                    "you asked to be told about.\n\nTop it up from the Billing page of the dashboard so that "
                    "orders and renewals do not fail. You can change the alert on the Settings page."
                ),
                recipient_list=recipients, fail_silently=True,
            )

    transaction.on_commit(send)

"""Deposit events for customers' webhooks."""

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

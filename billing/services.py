"""The ledger: the one place money moves."""

from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.models import Account, User
from billing.models import EntryType, LedgerEntry
from portal.api.errors import Conflict, InsufficientFunds
from portal.money import to_money


class DuplicateReference(Conflict):
    default_message = "This business event was already posted to the ledger."


def ledger_post(
    *,
    account: Account,
    type: str,  # noqa: A002 - mirrors the entry's field
    amount: Decimal,
    reference: str,
    description: str,
    created_by: User | None = None,
    allow_duplicate: bool = False,
) -> LedgerEntry | None:
    """Posts one signed movement and updates the cached balance, atomically.

    Locks the account row first (the fixed lock order of ARCHITECTURE.md). A debit larger
    than the balance raises InsufficientFunds and writes nothing. A reference already
    posted raises DuplicateReference, or returns None when `allow_duplicate` (replays).
    """
    if type not in EntryType.values:
        raise ValueError(f"unknown ledger entry type {type!r}")
    amount = to_money(amount)
    if amount == 0:
        raise ValueError("a ledger entry moves a non-zero amount")
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        if LedgerEntry.objects.filter(reference=reference).exists():
            if allow_duplicate:
                return None
            raise DuplicateReference()
        new_balance = locked.balance + amount
        if new_balance < 0:
            raise InsufficientFunds(
                f"Your balance is {locked.balance:.2f} USD, lower than the {-amount:.2f} USD needed."
            )
        try:
            with transaction.atomic():
                entry = LedgerEntry.objects.create(
                    account=locked,
                    type=type,
                    amount=amount,
                    balance_after=new_balance,
                    reference=reference,
                    description=description[:255],
                    created_by=created_by,
                )
        except IntegrityError:
            if allow_duplicate:
                return None
            raise DuplicateReference() from None
        Account.objects.filter(pk=locked.pk).update(balance=new_balance)
    account.balance = new_balance
    return entry

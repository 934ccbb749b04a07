from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from accounts.models import Account
from accounts.services import user_create_with_account
from billing.models import LedgerEntry
from billing.services import DuplicateReference, ledger_post
from core.errors import InsufficientFunds
from tests.billing.conftest import fund, requires_postgres, run_concurrently


def test_credit_then_debit_moves_the_cached_balance_and_records_balance_after(account):
    fund(account, "30.00", reference="r-credit")
    entry = ledger_post(account=account, type="charge", amount=Decimal("-12.50"), reference="r-charge",
                        description="Order")
    account.refresh_from_db()
    assert account.balance == Decimal("17.50")
    assert entry.balance_after == Decimal("17.50")
    assert entry.amount == Decimal("-12.50")
    assert entry.public_id.startswith("txn_")


def test_debit_larger_than_the_balance_is_refused_and_writes_nothing(account):
    fund(account, "5.00", reference="r1")
    with pytest.raises(InsufficientFunds):
        ledger_post(account=account, type="charge", amount=Decimal("-5.01"), reference="r2", description="x")
    account.refresh_from_db()
    assert account.balance == Decimal("5.00")
    assert not LedgerEntry.objects.filter(reference="r2").exists()


def test_a_reference_posts_once(account):
    fund(account, "10.00", reference="deposit:BTC:BTC:aa:0")
    with pytest.raises(DuplicateReference):
        fund(account, "10.00", reference="deposit:BTC:BTC:aa:0")
    assert ledger_post(account=account, type="deposit", amount=Decimal("10"), reference="deposit:BTC:BTC:aa:0",
                       description="again", allow_duplicate=True) is None
    account.refresh_from_db()
    assert account.balance == Decimal("10.00")


def test_a_replayed_charge_is_a_duplicate_even_when_the_balance_no_longer_covers_it(account):
    fund(account, "10.00", reference="fund")
    ledger_post(account=account, type="charge", amount=Decimal("-8"), reference="order:x:charge", description="x")
    with pytest.raises(DuplicateReference):
        ledger_post(account=account, type="charge", amount=Decimal("-8"), reference="order:x:charge", description="x")
    assert ledger_post(account=account, type="charge", amount=Decimal("-8"), reference="order:x:charge",
                       description="x", allow_duplicate=True) is None
    account.refresh_from_db()
    assert account.balance == Decimal("2.00") and LedgerEntry.objects.filter(reference="order:x:charge").count() == 1


def test_a_refusal_inside_a_callers_transaction_leaves_that_transaction_usable(account):
    """Callers catch InsufficientFunds and DuplicateReference inside their own transaction
    (the Idempotency-Key record stores the 402): the refused post must not spoil it."""
    fund(account, "3.00", reference="fund")
    with transaction.atomic():
        with pytest.raises(InsufficientFunds):
            ledger_post(account=account, type="charge", amount=Decimal("-4"), reference="too-much", description="x")
        with pytest.raises(DuplicateReference):
            fund(account, "3.00", reference="fund")
        ledger_post(account=account, type="charge", amount=Decimal("-2"), reference="fits", description="x")
    account.refresh_from_db()
    assert account.balance == Decimal("1.00")
    assert sorted(LedgerEntry.objects.values_list("reference", flat=True)) == ["fits", "fund"]


def test_amounts_are_rounded_half_up_to_the_cent_once(account):
    entry = fund(account, "1.005", reference="round")
    assert entry.amount == Decimal("1.01")
    with pytest.raises(ValueError):
        ledger_post(account=account, type="deposit", amount=Decimal("0.004"), reference="zero", description="x")
    with pytest.raises(ValueError):
        ledger_post(account=account, type="bonus", amount=Decimal("1"), reference="bad-type", description="x")


def test_entries_cannot_be_updated_or_deleted_through_the_model(account):
    entry = fund(account, "3.00", reference="imm")
    entry.description = "changed"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        LedgerEntry.objects.filter(pk=entry.pk).update(description="changed")
    with pytest.raises(TypeError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    assert LedgerEntry.objects.get(pk=entry.pk).description == "Test funding"


def test_the_database_refuses_a_negative_balance(account):
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(balance=Decimal("-0.01"))


@pytest.mark.postgres
@requires_postgres
def test_postgres_trigger_refuses_update_and_delete_of_entries(account):
    entry = fund(account, "3.00", reference="trig")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE billing_ledgerentry SET amount = 1000 WHERE id = %s", [entry.pk])
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM billing_ledgerentry WHERE id = %s", [entry.pk])
    with connection.cursor() as cur:
        cur.execute("SELECT amount FROM billing_ledgerentry WHERE id = %s", [entry.pk])
        assert cur.fetchone()[0] == Decimal("3.00")


@pytest.mark.postgres
@requires_postgres
def test_deleting_the_user_who_posted_an_entry_only_clears_created_by(account, owner):
    other, _ = user_create_with_account(email="staff@example.com", password="pw-123456789")
    entry = ledger_post(account=account, type="adjustment", amount=Decimal("2"), reference="by-staff",
                        description="x", created_by=other)
    other.delete()
    assert LedgerEntry.objects.get(pk=entry.pk).created_by is None


@pytest.mark.postgres
@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_charges_against_a_balance_for_ten_let_exactly_ten_through(account):
    fund(account, "100.00", reference="fund-100")

    def charge(i):
        return ledger_post(account=Account(pk=account.pk), type="charge", amount=Decimal("-10.00"),
                           reference=f"order:charge:{i}", description=f"charge {i}")

    outcomes = run_concurrently(charge, 50)
    succeeded = [o for o in outcomes if isinstance(o, LedgerEntry)]
    refused = [o for o in outcomes if isinstance(o, InsufficientFunds)]
    assert len(succeeded) == 10, outcomes
    assert len(refused) == 40, outcomes
    account.refresh_from_db()
    assert account.balance == Decimal("0.00")
    assert sorted(e.balance_after for e in succeeded) == [Decimal(10 * k) for k in range(10)]
    assert not LedgerEntry.objects.filter(balance_after__lt=0).exists()
    assert LedgerEntry.objects.filter(account=account, type="charge").count() == 10


def _assert_ledger_consistent(accounts):
    for acc in accounts:
        acc.refresh_from_db()
        entries = list(LedgerEntry.objects.filter(account=acc).order_by("id"))
        running = Decimal("0.00")
        for e in entries:
            running += e.amount
            assert e.balance_after == running
            assert running >= 0
        assert acc.balance == running == sum((e.amount for e in entries), Decimal("0.00"))


operation = st.tuples(
    st.integers(min_value=0, max_value=1),  # which account
    st.sampled_from(["deposit", "charge", "refund", "adjustment"]),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2),
    st.booleans(),  # adjustment sign
)


class TestLedgerProperty(HypothesisTestCase):
    """Random deposits, charges, refunds and adjustments: cached balance == sum of entries."""

    @hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=st.lists(operation, min_size=1, max_size=40))
    def test_cached_balance_always_equals_the_sum_of_entries(self, ops):
        accounts = [Account.objects.create(name=f"prop {i}") for i in range(2)]
        charges: list[tuple[int, Decimal, str]] = []
        for n, (which, kind, amount, negative) in enumerate(ops):
            acc = accounts[which]
            ref = f"prop:{n}"
            try:
                if kind == "deposit":
                    ledger_post(account=acc, type="deposit", amount=amount, reference=ref, description="d")
                elif kind == "charge":
                    ledger_post(account=acc, type="charge", amount=-amount, reference=ref, description="c")
                    charges.append((which, amount, ref))
                elif kind == "refund" and charges:
                    idx, amt, charge_ref = charges.pop(0)
                    ledger_post(account=accounts[idx], type="refund", amount=amt,
                                reference=f"refund:{charge_ref}", description="r")
                elif kind == "adjustment":
                    ledger_post(account=acc, type="adjustment", amount=-amount if negative else amount,
                                reference=ref, description="a")
            except InsufficientFunds:
                pass
            _assert_ledger_consistent(accounts)

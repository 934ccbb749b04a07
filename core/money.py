"""Money: `Decimal` USD with two places. Rounding is stated once, here: ROUND_HALF_UP."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import models

MONEY_MAX_DIGITS = 14
MONEY_PLACES = 2
CENT = Decimal("0.01")
CURRENCY = "USD"
# The largest amount a money column holds: balances, ledger entries, prices and order totals.
MONEY_MAX = Decimal(10) ** (MONEY_MAX_DIGITS - MONEY_PLACES) - CENT


def to_money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money_str(value, *, signed: bool = False) -> str:
    """The one way an amount is written: two places, rounded half up ("+" before a credit when signed)."""
    return f"{to_money(value):{'+' if signed else ''}.2f}"


def MoneyField(**kwargs) -> models.DecimalField:  # noqa: N802 - reads like a field class
    kwargs.setdefault("default", Decimal("0.00"))
    return models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_PLACES, **kwargs)

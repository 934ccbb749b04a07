"""The page's number filters: thousands separators, money, gigabytes with the bytes in a tooltip."""

from decimal import Decimal

import pytest

from core.templatefilters import gb, gb_of, money, thousands


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (0, None, "0"), (999, None, "999"), (1234567, None, "1,234,567"), (-1234, None, "-1,234"),
        (Decimal("1250.5"), None, "1,250.5"), (Decimal("1E+3"), None, "1,000"),
        (1234.5, 2, "1,234.50"), (Decimal("0.005"), 2, "0.01"), ("12345", 0, "12,345"),
        (None, None, ""), ("n/a", None, "n/a"),
    ],
)
def test_thousands(value, places, expected):
    assert (thousands(value) if places is None else thousands(value, places)) == expected


def test_money_has_two_places_and_separators():
    assert money(Decimal("1234567.891")) == "1,234,567.89"
    assert money(Decimal("0")) == "0.00" and money(None) == ""


def test_gb_is_two_places_with_the_exact_bytes_in_a_tooltip():
    assert gb(1_234_567_890) == '<span title="1,234,567,890 bytes">1.23 GB</span>'
    assert gb(0) == '<span title="0 bytes">0.00 GB</span>'
    assert gb(2_500_000_000_000) == '<span title="2,500,000,000,000 bytes">2,500.00 GB</span>'
    assert gb_of(Decimal("0.75")) == '<span title="750,000,000 bytes">0.75 GB</span>'

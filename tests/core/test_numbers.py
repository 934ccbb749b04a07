"""core.numbers: user-sent numbers are refused or bounded before anything computes with them."""

import math
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import numbers
from core.numbers import NumberError, parse_decimal, parse_float, parse_int

LIMIT = Decimal(10) ** numbers.MAX_INTEGER_DIGITS
FAST = settings(max_examples=400, deadline=timedelta(milliseconds=200),
                suppress_health_check=[HealthCheck.too_slow])


def _kind(fn, *args, **kwargs) -> str:
    with pytest.raises(NumberError) as info:
        fn(*args, **kwargs)
    assert str(info.value)  # a message for a person
    return info.value.kind


@pytest.mark.parametrize("raw", ["30", " 30 ", "+30", "-4", "2.5", "0.001", ".5", "5.", "1e1", "1E-3", 7, 2.5,
                                 Decimal("3.25")])
def test_ordinary_numbers_parse_as_before(raw):
    assert parse_decimal(raw) == Decimal(str(raw).strip())


@pytest.mark.parametrize("raw", [
    "1e1000000", "-1e1000000", "1E+9999", "9" * 19, "1e18", 10**18, -(10**18), 10**5000, 1e300, Decimal("1e1000000"),
], ids=lambda raw: f"{type(raw).__name__}-{len(str(raw)) if not isinstance(raw, int) else raw.bit_length()}")
def test_huge_magnitudes_are_out_of_range_without_conversion(raw):
    start = time.perf_counter()
    assert _kind(parse_decimal, raw) == "range"
    # a whole number is written with digits only: an exponent makes the text invalid
    assert _kind(parse_int, raw) == ("invalid" if isinstance(raw, str) and "e" in raw.lower() else "range")
    assert time.perf_counter() - start < 0.05


@pytest.mark.parametrize("raw", [
    "", " ", "NaN", "nan", "Infinity", "-inf", "sNaN", "0x1F", "1_000", "\u0661\u0662", "\uff11", "1e", "e5", ".", "1..2",
    "1e9999999999999", "1" * 33, "1" * 100_000, " " * 100_000 + "1", True, None, [], {}, float("nan"), float("inf"),
    Decimal("NaN"), Decimal("-Infinity"), b"12",
])
def test_what_is_not_a_plain_number_is_invalid(raw):
    assert _kind(parse_decimal, raw) == "invalid"
    assert _kind(parse_int, raw) == "invalid"


def test_tiny_exponents_and_long_fractions_are_refused_by_their_places():
    assert _kind(parse_decimal, "1e-1000000") == "places"
    assert _kind(parse_decimal, "1e-19") == "places"
    assert parse_decimal("1.5000000000000000000000000") == Decimal("1.5")  # trailing zeros are not places
    assert _kind(parse_decimal, "2.125", places=2) == "places"
    assert parse_decimal("2.120", places=2) == Decimal("2.12")


def test_zero_with_a_huge_exponent_is_plain_zero():
    for raw in ("0e9999", "-0e-999999", Decimal("0E-1000000")):
        assert parse_decimal(raw) == 0 and parse_decimal(raw).as_tuple().exponent == 0
    assert str(parse_decimal("0.00")) == "0.00"


def test_bounds_are_inclusive_and_named_in_the_message():
    assert parse_int("10", lo=1, hi=10) == 10
    with pytest.raises(NumberError, match="Must be between 1 and 10.") as info:
        parse_int("11", lo=1, hi=10)
    assert info.value.kind == "range"
    assert parse_float("0.5", lo=0.0, hi=1.0) == 0.5
    assert _kind(parse_float, "1.5", lo=0.0, hi=1.0) == "range"


def test_parse_int_wants_whole_numbers():
    assert parse_int(" 42 ") == 42 and parse_int(30.0) == 30 and parse_int(Decimal("30.00")) == 30
    for raw in ("2.5", "3e1", "30.0", 2.5, Decimal("2.5")):
        assert _kind(parse_int, raw) == "invalid"


@FAST
@given(st.one_of(
    st.text(max_size=60),
    st.from_regex(r"\A[+-]?[0-9]{0,40}(\.[0-9]{0,40})?([eE][+-]?[0-9]{1,8})?\Z"),
    st.integers(), st.floats(), st.decimals(), st.booleans(), st.none(),
))
def test_any_input_is_a_bounded_number_or_a_number_error(raw):
    try:
        value = parse_decimal(raw)
    except NumberError as exc:
        assert exc.kind in {"invalid", "range", "places"}
    else:
        assert value.is_finite() and abs(value) < LIMIT
        assert value.as_tuple().exponent >= -40  # formatting and quantize stay cheap
        int(value)  # and converting is instant
    try:
        whole = parse_int(raw)
    except NumberError:
        pass
    else:
        assert isinstance(whole, int) and abs(whole) < 10**numbers.MAX_INTEGER_DIGITS
    try:
        number = parse_float(raw)
    except NumberError:
        pass
    else:
        assert math.isfinite(number)


def test_json_literal_hooks_bound_the_length():
    assert numbers.integer_literal("9" * 100) == int("9" * 100)
    assert numbers.float_literal("1e1000000") == float("inf")  # fields refuse infinity
    for hook in (numbers.integer_literal, numbers.float_literal):
        with pytest.raises(NumberError, match="more than 100 characters"):
            hook("1" * 101)


def test_form_fields_parse_with_the_bounded_parsers():
    from django import forms

    class Form(forms.Form):
        count = numbers.IntegerField(min_value=1, max_value=10)
        amount = numbers.DecimalField(max_digits=8, decimal_places=2, required=False)
        ratio = numbers.FloatField(min_value=0, max_value=1, required=False)

    ok = Form({"count": "3", "amount": "2.50", "ratio": "0.5"})
    assert ok.is_valid() and ok.cleaned_data == {"count": 3, "amount": Decimal("2.50"), "ratio": 0.5}
    bad = Form({"count": "1e1000000", "amount": "1" * 100_000, "ratio": "nan"})
    start = time.perf_counter()
    assert not bad.is_valid()
    assert time.perf_counter() - start < 0.05
    assert bad.errors["count"] == ["Enter a whole number."]
    assert bad.errors["amount"] == ["Enter a number."] and bad.errors["ratio"] == ["Enter a number."]
    assert Form({"count": "11"}).errors["count"] == ["Ensure this value is less than or equal to 10."]
    assert Form({"count": "9" * 30}).errors["count"] == ["Must be smaller than 10^18."]
    assert Form({"count": "1", "amount": "1.234"}).errors["amount"] == [
        "Ensure that there are no more than 2 decimal places."
    ]

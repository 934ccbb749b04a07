"""Numbers from user input, refused before they can cost anything.

`int(Decimal("1e1000000"))` spends half a minute of CPU and `1e3000000` kills a web
worker; `quantize`, `:f` formatting and arithmetic on such values are as slow or raise.
Every number a request, a form or a command line carries goes through one of the parsers
below, which check the text's length and syntax (ASCII digits, an optional sign, point and
short exponent; no NaN, infinity, underscores or other scripts' digits) and then the
value's magnitude and decimal places *before* it becomes an `int`, a `float` or a `Decimal`
that anything computes with. Whatever passes is below 10**18 in size, has at most 18
decimal places, and costs microseconds to use.

The module is the ground layer's: standard library and Django's form fields only, no app.
"""

import math
import re
from decimal import Decimal

from django import forms

MAX_CHARS = 32  # longer text is refused before it is looked at
MAX_INTEGER_DIGITS = 18  # |value| < 10**18
MAX_PLACES = 18  # at most 18 significant decimal places
MAX_LITERAL_CHARS = 100  # a JSON number literal longer than this is refused by the API's parser

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,12})?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_LIMIT = 10**MAX_INTEGER_DIGITS


class NumberError(ValueError):
    """The input is not an acceptable number; `str()` is a message for the person who sent it.

    `kind` says why: "invalid" (not a number, too long, not finite, not whole where a whole
    number is wanted), "range" (outside the bounds, or of an absurd magnitude) or "places"
    (more decimal places than allowed). Callers with their own wording choose by `kind`.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _range_message(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"Must be between {lo} and {hi}."
    if lo is not None:
        return f"Must be at least {lo}."
    if hi is not None:
        return f"Must be at most {hi}."
    return f"Must be smaller than 10^{MAX_INTEGER_DIGITS}."


def _check_range(value, lo, hi):
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise NumberError("range", _range_message(lo, hi))
    return value


def _as_decimal(raw, *, max_chars: int, lo, hi) -> Decimal:
    """`raw` as a finite Decimal of bounded magnitude and places, or NumberError."""
    invalid = NumberError("invalid", "Must be a number.")
    if isinstance(raw, bool) or raw is None:
        raise invalid
    if isinstance(raw, int):
        if -_LIMIT < raw < _LIMIT:  # checked on the int itself: str() of a huge int is slow
            return Decimal(raw)
        raise NumberError("range", _range_message(lo, hi))
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise invalid
        if abs(raw) >= _LIMIT:
            raise NumberError("range", _range_message(lo, hi))
        raw = repr(raw)
    if isinstance(raw, Decimal):
        value = raw
        if not value.is_finite():
            raise invalid
    elif isinstance(raw, str):
        if len(raw) > max_chars + 64:  # surrounding blanks are forgiven, not megabytes of them
            raise invalid
        text = raw.strip()
        if len(text) > max_chars or not _DECIMAL.fullmatch(text):
            raise invalid
        value = Decimal(text)
    else:
        raise invalid
    if not value:  # "0e999" and "0e-999" are plain 0 (formatting them would not be)
        return value if -MAX_PLACES <= value.as_tuple().exponent <= 0 else Decimal(0)
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise NumberError("range", _range_message(lo, hi))
    _check_places(value, MAX_PLACES)
    return value


def _check_places(value: Decimal, places: int) -> None:
    """NumberError unless `value` carries at most `places` decimal places. Cheap: the digits
    are few. Trailing zeros ("1.50000") are not real places."""
    exponent = value.as_tuple().exponent
    if exponent < -places and -exponent - _trailing_zeros(value) > places:
        raise NumberError("places", f"Use at most {places} decimal places.")


def _trailing_zeros(value: Decimal) -> int:
    digits = value.as_tuple().digits
    count = 0
    for digit in reversed(digits):
        if digit:
            break
        count += 1
    return count


def parse_decimal(raw, *, lo=None, hi=None, places: int | None = None, max_chars: int = MAX_CHARS) -> Decimal:
    """A Decimal from a string, int, float or Decimal, bounded before any use.

    `lo`/`hi` bound the value (inclusive); `places` the decimal places that carry a digit
    ("2.50" has one). Raises NumberError.
    """
    value = _as_decimal(raw, max_chars=max_chars, lo=lo, hi=hi)
    if places is not None:
        _check_places(value, places)
    return _check_range(value, lo, hi)


def parse_int(raw, *, lo: int | None = None, hi: int | None = None, max_chars: int = MAX_CHARS) -> int:
    """A whole number: an int, a string of ASCII digits with an optional sign, or a whole
    float/Decimal (a JSON `30.0`). No point, exponent or blanks inside a string. Raises NumberError."""
    invalid = NumberError("invalid", "Must be a whole number.")
    if isinstance(raw, str):
        if len(raw) > max_chars + 64:
            raise invalid
        text = raw.strip()
        if len(text) > max_chars or not _INTEGER.fullmatch(text):
            raise invalid
        if len(text.lstrip("+-").lstrip("0")) > MAX_INTEGER_DIGITS:
            raise NumberError("range", _range_message(lo, hi))
        return _check_range(int(text), lo, hi)
    try:
        value = _as_decimal(raw, max_chars=max_chars, lo=lo, hi=hi)
    except NumberError as exc:
        if exc.kind == "range":
            raise
        raise invalid from None
    if value != value.to_integral_value():
        raise invalid
    return _check_range(int(value), lo, hi)


def parse_int_param(raw, *, name: str, lo: int, hi: int | None = None) -> int | None:
    """A whole-number query parameter (`page`, `max_latency_ms`, …): None when absent or
    blank, else NumberError with a message that names the parameter and its range."""
    if raw is None or raw == "":
        return None
    bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
    try:
        return parse_int(raw, lo=lo, hi=hi)
    except NumberError as exc:
        if exc.kind == "invalid":
            raise NumberError("invalid", f"{name} must be a whole number in plain digits, {bound}.") from None
        raise NumberError(exc.kind, f"{name} must be {bound}.") from None


def parse_float(raw, *, lo: float | None = None, hi: float | None = None, max_chars: int = MAX_CHARS) -> float:
    """A finite float within `lo`..`hi`, parsed as a bounded decimal first. Raises NumberError."""
    return _check_range(float(_as_decimal(raw, max_chars=max_chars, lo=lo, hi=hi)), lo, hi)


LITERAL_TOO_LONG = f"a number in it has more than {MAX_LITERAL_CHARS} characters."


def integer_literal(text: str) -> int:
    """`parse_int` hook for JSON decoders: an integer literal of bounded length."""
    if len(text) > MAX_LITERAL_CHARS:
        raise NumberError("invalid", LITERAL_TOO_LONG)
    return int(text)


def float_literal(text: str) -> float:
    """`parse_float` hook for JSON decoders: a number literal of bounded length (a float, as
    the standard decoder gives; out-of-range values become infinity, which fields refuse)."""
    if len(text) > MAX_LITERAL_CHARS:
        raise NumberError("invalid", LITERAL_TOO_LONG)
    return float(text)


# --- dashboard form fields ---------------------------------------------------------------
# Django's own number fields convert first (`Decimal(text)` of any length, `int()` of up to
# 4300 digits) and validate after; these parse with the bounded parsers above instead, then
# run Django's validators (min/max, digits and places) as usual.


class IntegerField(forms.IntegerField):
    def to_python(self, value):
        return _form_value(self, value, parse_int)


class DecimalField(forms.DecimalField):
    def to_python(self, value):
        return _form_value(self, value, parse_decimal)


class FloatField(forms.FloatField):
    def to_python(self, value):
        return _form_value(self, value, parse_float)


def _form_value(field, value, parser):
    if value in field.empty_values:
        return None
    try:
        return parser(value)
    except NumberError as exc:
        if exc.kind == "invalid":
            raise forms.ValidationError(field.error_messages["invalid"], code="invalid") from None
        raise forms.ValidationError(str(exc), code=exc.kind) from None

"""Template filters every page may use without `{% load %}` (TEMPLATES "builtins").

Numbers on the pages are written one way everywhere: thousands separated by commas, money
with two places, traffic in decimal gigabytes (1 GB = 10^9 bytes) with two places and the
exact byte count in a tooltip.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils.html import format_html

from core.money import money_str

register = template.Library()

BYTES_PER_GB = 10**9
TWO_PLACES = Decimal("0.01")


@register.filter
def money(value) -> str:
    """An amount in USD as the pages write it: two places, rounded half up, thousands
    separated ("1,234.50"; the API and exports write `money_str`'s "1234.50")."""
    if value is None or value == "":
        return ""
    return thousands(money_str(value), 2)


def _decimal(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


@register.filter
def thousands(value, places=None) -> str:
    """`1234567` → "1,234,567"; with `places`, rounded half up to that many decimals
    (`1234.5|thousands:2` → "1,234.50"). Anything that is not a number is shown as it is."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    if places is not None and places != "":
        digits = int(places)
        number = number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
        return f"{number:,.{digits}f}"
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,f}"


def gb_from_bytes(value) -> str:
    """Bytes as gigabytes with two places and thousands separators: 1234567890 → "1.23"."""
    number = _decimal(value) or Decimal(0)
    return thousands(number / BYTES_PER_GB, 2)


@register.filter
def gb(value) -> str:
    """A byte count as "1.23 GB" with the exact count in a tooltip ("1,234,567,890 bytes")."""
    number = _decimal(value) or Decimal(0)
    return format_html('<span title="{} bytes">{} GB</span>', thousands(int(number)), gb_from_bytes(number))


@register.filter
def gb_of(value) -> str:
    """A traffic amount already in GB (a Decimal such as an order's `traffic_gb`) the same way:
    two places, and the bytes it stands for in a tooltip."""
    number = _decimal(value) or Decimal(0)
    return gb(int(number * BYTES_PER_GB))


@register.filter
def field_errors(form) -> list[dict]:
    """Each field's errors with the field's label (never its name) and the id of its input, in
    the order of the form: [{"label", "id", "error"}]. Hidden fields have no id to link to."""
    found = []
    for field in form:
        for error in field.errors:
            found.append({
                "label": field.label or field.name, "id": "" if field.is_hidden else field.id_for_label,
                "error": error,
            })
    return found

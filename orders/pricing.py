"""The one pricing service: `(type, quantity, period, country)` → a `Quote`.

Calc, placement, extension and the dashboard's live price all call `quote()`, so the price
a customer sees is the price they are charged. Inputs are validated against the catalogue
the operator edits (proxy types, periods, countries, price rules; read through the
snapshot of `orders.catalogue`); every problem is reported per field in one
`DomainValidationError`.

Price arithmetic:
- period-bound types (sold by the IP): the rule's `unit_price` is per IP per
  `base_period_days`; the unit price of an order is that scaled to the ordered period and
  rounded to the cent (never below one cent);
- residential (sold by the GB): the rule's `unit_price` is per GB;
- `subtotal = unit_price × quantity` (rounded to the cent);
- discount percent = the highest volume tier reached + the discount for exactly this period,
  capped at `MAX_DISCOUNT_PERCENT`; `discount = subtotal × percent / 100` (rounded);
- `total = subtotal − discount`. Rounding is `core.money.to_money` (half up).

A type supplied by the `upstream` provider is priced by it instead (the upstream's own calc
total plus the markup, rounded up to the cent: `orders/providers/upstream.py`), and its periods
and countries are the upstream's; the type itself and its quantity limits stay the catalogue's.

A price must fit a money column (`MONEY_MAX`): an order that would cost more is refused on
`quantity`, for calc, placement, extension and the live price alike.
"""

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal

from core import numbers
from core.errors import DomainValidationError
from core.money import CENT, CURRENCY, MONEY_MAX, to_money

from .catalogue import Catalogue, catalogue
from .models import QUANTITY_PLACES, ProxyType
from .providers import provider_for_type

MAX_DISCOUNT_PERCENT = Decimal("90")


@dataclass(frozen=True)
class OrderSpec:
    """Validated, normalised order input."""

    proxy_type: ProxyType
    quantity: Decimal
    period: int | None
    country: str  # "" when any country
    catalogue: Catalogue = field(repr=False, compare=False)  # what it was validated against, and is priced by

    @property
    def type(self) -> str:
        return self.proxy_type.code


@dataclass(frozen=True)
class Quote:
    spec: OrderSpec
    unit_price: Decimal
    subtotal: Decimal
    discount: Decimal
    total: Decimal
    discount_percent: Decimal
    currency: str = CURRENCY
    cost: Decimal | None = None  # what the provider charges for it, where it prices (upstream)

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def quantity(self) -> Decimal:
        return self.spec.quantity

    @property
    def period(self) -> int | None:
        return self.spec.period

    @property
    def country(self) -> str:
        return self.spec.country


def format_quantity(value: Decimal, unit: str):
    """IPs as an int; GB as a decimal string without trailing zeros ("2.5", "10")."""
    if unit == "IP":
        return int(value)
    text = f"{Decimal(value).quantize(Decimal(1).scaleb(-QUANTITY_PLACES)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def quantity_number(value: Decimal) -> int | float:
    """A quantity as a JSON number: an int when whole (IPs, whole GB), else a float (2.5 GB)."""
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _parse_days(raw) -> int | None:
    """A period in days ("30", 30, 30.0, "3e1"), or None; bounded before int() (issue 22)."""
    try:
        value = numbers.parse_decimal(raw)
    except numbers.NumberError:
        return None
    return int(value) if value == value.to_integral_value() else None


def _quantity_error(proxy_type: ProxyType | None, kind: str) -> str:
    """The message for a quantity `numbers` refused, in the words of the checks below."""
    if proxy_type is not None and kind == "range":
        return _quantity_range_error(proxy_type)
    if proxy_type is not None and kind == "places":
        return "Must be a whole number of IPs." if not proxy_type.is_traffic else (
            f"Use at most {QUANTITY_PLACES} decimal places."
        )
    return "Must be a number."


def _quantity_range_error(proxy_type: ProxyType) -> str:
    unit_name = "GB" if proxy_type.is_traffic else "IPs"
    return (
        f"Must be between {format_quantity(proxy_type.min_quantity, proxy_type.unit)} and "
        f"{format_quantity(proxy_type.max_quantity, proxy_type.unit)} {unit_name}."
    )


def validate_order_input(*, type, quantity, period=None, country=None) -> OrderSpec:  # noqa: A002
    """Checks the raw input against the catalogue; raises DomainValidationError per field."""
    errors: dict[str, list[str]] = {}
    current = catalogue()
    proxy_type = None
    if type is None or type == "":
        errors["type"] = ["This field is required."]
    elif not isinstance(type, str):
        errors["type"] = ["Must be a string."]
    else:
        proxy_type = current.types.get(type.strip().lower())
        if proxy_type is None:
            codes = ", ".join(current.type_codes)
            errors["type"] = [f"Unknown proxy type '{type}'. Choose one of: {codes}."]

    qty = None
    if quantity is None or quantity == "":
        errors["quantity"] = ["This field is required."]
    else:
        try:
            qty = numbers.parse_decimal(quantity)
        except numbers.NumberError as exc:
            errors["quantity"] = [_quantity_error(proxy_type, exc.kind)]
        else:
            if proxy_type is None:
                if qty <= 0:
                    errors["quantity"] = ["Must be greater than zero."]
            elif qty < proxy_type.min_quantity or qty > proxy_type.max_quantity:
                errors["quantity"] = [_quantity_range_error(proxy_type)]
            elif not proxy_type.is_traffic and qty != qty.to_integral_value():
                errors["quantity"] = ["Must be a whole number of IPs."]
            elif proxy_type.is_traffic and qty != qty.quantize(Decimal(1).scaleb(-QUANTITY_PLACES)):
                errors["quantity"] = [f"Use at most {QUANTITY_PLACES} decimal places."]

    # An upstream type sells the upstream's periods and countries (502 when it cannot be asked).
    reference = provider_for_type(proxy_type.code).reference(proxy_type.code) if proxy_type is not None else None

    days = None
    if period is None or period == "":
        if proxy_type is not None and proxy_type.period_required:
            errors["period"] = ["This field is required for this proxy type (days, see /reference/periods)."]
    else:
        days = _parse_days(period)
        valid = reference.periods if reference is not None else current.periods
        if days is None or days not in valid:
            errors["period"] = [
                f"Must be one of the orderable periods in days: {', '.join(str(d) for d in valid)}."
            ]
            days = None

    code = ""
    if country is not None and country != "":
        if not isinstance(country, str):
            errors["country"] = ["Must be an ISO 3166-1 alpha-2 country code."]
        else:
            code = country.strip().upper()
            found = current.countries.get(code)
            if reference is not None:
                if code not in reference.countries:
                    name = proxy_type.name if proxy_type is not None else "these"
                    errors["country"] = [f"'{country}' is not available for {name} proxies (see /reference/countries)."]
            elif found is None:
                errors["country"] = [f"Unknown or unavailable country '{country}' (see /reference/countries)."]
            elif proxy_type is not None and proxy_type.pk not in current.country_type_ids[code]:
                errors["country"] = [f"{found.name} is not available for {proxy_type.name} proxies."]

    if errors:
        raise DomainValidationError(errors)
    return OrderSpec(proxy_type=proxy_type, quantity=qty, period=days, country=code, catalogue=current)


def price(spec: OrderSpec, *, period: int | None = None) -> Quote:
    """Prices a validated spec (`period` overrides the spec's, for extensions)."""
    days = spec.period if period is None else period
    if period is not None:
        spec = dataclasses.replace(spec, period=days)
    theirs = provider_for_type(spec.type).quote(spec)
    if theirs is not None:
        if theirs.total > MONEY_MAX or theirs.subtotal > MONEY_MAX or theirs.unit_price > MONEY_MAX:
            raise DomainValidationError(
                {"quantity": [f"This order would cost more than {MONEY_MAX} USD, the most one order can cost."]}
            )
        return theirs
    rule = spec.catalogue.price_rule(spec.proxy_type, spec.country)
    if rule is None:
        raise DomainValidationError(
            {"type": [f"{spec.proxy_type.name} proxies have no price set; they cannot be ordered now."]}
        )
    if spec.proxy_type.is_traffic or not days:
        unit_price = to_money(rule.unit_price)
    else:
        unit_price = to_money(rule.unit_price * Decimal(days) / Decimal(rule.base_period_days))
    unit_price = max(unit_price, CENT)
    subtotal = to_money(unit_price * spec.quantity)
    if subtotal > MONEY_MAX or unit_price > MONEY_MAX:
        raise DomainValidationError(
            {"quantity": [f"This order would cost more than {MONEY_MAX} USD, the most one order can cost."]}
        )
    percent = Decimal("0")
    for tier in rule.volume_tiers.all():  # ordered by min_quantity
        if spec.quantity >= tier.min_quantity:
            percent = tier.discount_percent
    if days:
        for pd in rule.period_discounts.all():
            if pd.period_days == days:
                percent += pd.discount_percent
    percent = min(percent, MAX_DISCOUNT_PERCENT)
    discount = to_money(subtotal * percent / Decimal(100))
    total = subtotal - discount
    if total <= 0:
        raise DomainValidationError({"quantity": ["The quantity is too small to be priced."]})
    return Quote(
        spec=spec, unit_price=unit_price, subtotal=subtotal, discount=discount, total=total,
        discount_percent=percent,
    )


def quote(*, type, quantity, period=None, country=None) -> Quote:  # noqa: A002
    """Validates `(type, quantity, period, country)` and prices it."""
    return price(validate_order_input(type=type, quantity=quantity, period=period, country=country))

"""The base of every output serializer: DRF's representation, at a fraction of its cost.

DRF's `Serializer.to_representation` asks each field, for each row, to find its value
(`get_attribute`, generic over dotted sources, mappings and callables) and to format it,
with per-call lookups of settings, decimal contexts and the active time zone. For a page of
rows that is most of a list request's own work, and building a serializer's fields (DRF
deep-copies the declared ones for every instance) about as much again for a single object.
`OutputSerializer` plans each serializer class's fields once per process and then reads and
formats the common kinds directly (the active time zone is read once per serializer):

- a source (`name` or `a.b`) is read with `getattr` or `[]` per step, a simple callable called;
- `CharField` is `str(value)`, `IntegerField` `int(value)`, `FloatField` `float(value)` and
  `UUIDField` (hex_verbose) `str(value)`, as in DRF;
- `BooleanField` passes a bool through; `ChoiceField` maps a string through its choices;
- `DecimalField` writes a `Decimal` already at the field's places (as the database returns
  its column) as `str()` gives it, DRF's text when quantizing it changes nothing;
- `DateTimeField` in UTC with the project's `DATETIME_FORMAT` is `strftime`'s text, as DRF
  formats it when UTC is the active time zone (the API never activates another), written
  from the datetime's fields when the format has only numeric directives;
- `ListField` formats its items with its child's formatter;
- `SerializerMethodField` calls its method; a nested `OutputSerializer` renders by its plan.

A serializer whose every field reads one name (`columns()`) renders `values()` rows as it
renders instances: a list endpoint may read its page that way and skip building a model
instance per row. `BlankAsNullField` is text where a blank column reads as null.

A serializer given a `context` plans its own fields (a field may read the context).
Everything else (a value DRF would convert first: a decimal at other places, an enum member,
a naive datetime; other field kinds) goes through the field's own `to_representation`, and
a value that cannot be read plainly through the field's own `get_attribute`, so the output
is DRF's in every case.
"""

import datetime
import operator
from collections.abc import Mapping
from decimal import Decimal

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import fields, serializers
from rest_framework.fields import SkipField, is_simple_callable
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

_UTC = datetime.UTC


# strftime directives a `%` format can write from the datetime's fields, and how.
_NUMERIC_DIRECTIVES = {"Y": ("%04d", "year"), "m": ("%02d", "month"), "d": ("%02d", "day"),
                       "H": ("%02d", "hour"), "M": ("%02d", "minute"), "S": ("%02d", "second")}


def _numeric_format(output_format: str):
    """`output_format` (made only of %Y %m %d %H %M %S, %% and plain text, as the API's
    `%Y-%m-%dT%H:%M:%SZ`) as a function writing the same text from a datetime's fields:
    a third of strftime's time, which a page of rows pays for every timestamp. None for
    any other directive."""
    pattern, names, i = [], [], 0
    while i < len(output_format):
        char = output_format[i]
        if char != "%":
            pattern.append(char)
            i += 1
            continue
        directive = output_format[i + 1 : i + 2]
        if directive == "%":
            pattern.append("%%")
        elif directive in _NUMERIC_DIRECTIVES:
            spec, name = _NUMERIC_DIRECTIVES[directive]
            pattern.append(spec)
            names.append(name)
        else:
            return None
        i += 2
    if not names:
        return None
    text, fields_of = "".join(pattern), operator.attrgetter(*names)
    if len(names) == 1:
        return lambda value: text % (fields_of(value),)
    return lambda value: text % fields_of(value)


def _utc_text(output_format: str):
    numeric = _numeric_format(output_format)

    def formatted(value):
        if not value or isinstance(value, str):
            return value or None
        if value.tzinfo is not _UTC:
            if value.tzinfo is None:
                raise ValueError("naive datetime")  # the field makes it aware, as DRF does
            value = value.astimezone(_UTC)
        if numeric is not None and value.year >= 1000:  # strftime writes years before 1000 unpadded
            return numeric(value)
        return value.strftime(output_format)

    return formatted


def utc_active() -> bool:
    zone = timezone.get_current_timezone()
    return zone is _UTC or getattr(zone, "key", None) in ("UTC", "Etc/UTC")


def _is(field, cls) -> bool:
    """The field formats as `cls` does (the class or a subclass that does not override it)."""
    return isinstance(field, cls) and type(field).to_representation is cls.to_representation


def _boolean(field):
    def formatted(value):
        if value is True or value is False:
            return value
        return field.to_representation(value)

    return formatted


def _choice(field):
    choices = field.choice_strings_to_values

    def formatted(value):
        if type(value) is str and value:  # an enum member or "" take DRF's own way
            return choices.get(value, value)
        return field.to_representation(value)

    return formatted


def _decimal_text(field):
    """DRF writes `f"{field.quantize(value):f}"`; for a `Decimal` with the field's places and
    no more digits than it allows, quantizing is the identity (in any decimal context)."""
    coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
    if not coerce or field.localize or field.normalize_output or field.decimal_places is None:
        return None
    exponent, max_digits = -field.decimal_places, field.max_digits

    def formatted(value):
        if type(value) is Decimal:
            # str() is that text when it has exactly the field's places and no exponent, and a
            # fraction of the price of as_tuple(); it counts a digit or more (leading zeros)
            # than the coefficient has, so a text within max_digits is a value within it.
            text = str(value)
            if (exponent < 0 and len(text) > -exponent and text[exponent - 1] == "." and "E" not in text
                    and (max_digits is None or len(text) - 1 - (text[0] == "-") <= max_digits)):
                return text
            _sign, digits, places = value.as_tuple()
            if places == exponent and (max_digits is None or len(digits) <= max_digits):
                return f"{value:f}"
        return field.to_representation(value)

    return formatted


def _listed(field, item):
    def formatted(value):
        if isinstance(value, (list, tuple)):
            return [item(each) if each is not None else None for each in value]
        return field.to_representation(value)

    return formatted


def _formatter(field, utc: bool):
    """A direct formatter for the field's value, or None (then the field's own). `utc`: UTC is
    the active time zone."""
    if _is(field, BlankAsNullField):
        return _blank_as_null
    if _is(field, fields.CharField):
        return str
    if _is(field, fields.IntegerField):
        return int
    if _is(field, fields.FloatField):
        return float
    if _is(field, fields.UUIDField) and field.uuid_format == "hex_verbose":
        return str
    if _is(field, fields.BooleanField):
        return _boolean(field)
    if _is(field, fields.ChoiceField):
        return _choice(field)
    if _is(field, fields.DecimalField):
        return _decimal_text(field)
    if _is(field, fields.DateTimeField):
        output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
        if output_format and output_format.lower() != fields.ISO_8601 and not hasattr(field, "timezone") and utc:
            return _utc_text(output_format)
        return None
    if _is(field, fields.ListField):
        item = _formatter(field.child, utc)
        return _listed(field, item) if item is not None else None
    return None


def _plan_of(serializer, utc: bool) -> list:
    """(name, field, source, formatter, method name) for each readable field of `serializer`;
    `source`: the names to read in turn, or None where the field reads its value its own way."""
    plan = []
    for field in serializer._readable_fields:
        if isinstance(field, serializers.SerializerMethodField):  # called on the serializer in use
            plan.append((field.field_name, field, None, None, field.method_name))
            continue
        plain = type(field).get_attribute is fields.Field.get_attribute
        source = tuple(field.source_attrs) if plain else None
        plan.append((field.field_name, field, source, _formatter(field, utc), None))
    return plan


_MAPPING_TYPES: dict[type, bool] = {}


def _is_mapping(value) -> bool:
    """`isinstance(value, Mapping)`, remembered per type: the ABC's check costs a row's
    reading more than the reading itself."""
    kind = type(value)
    known = _MAPPING_TYPES.get(kind)
    if known is None:
        known = _MAPPING_TYPES[kind] = isinstance(value, Mapping)
    return known


def _read(instance, source: tuple):
    """`fields.get_attribute` for the plain case; any surprise is left to the field to handle."""
    value = instance
    for name in source:
        value = value[name] if _is_mapping(value) else getattr(value, name)
        if callable(value) and is_simple_callable(value):
            value = value()
    return value


@extend_schema_field({"type": "string", "nullable": True})
class BlankAsNullField(serializers.CharField):
    """Text where none is recorded (a blank column) reads as null. Read only."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return str(value) or None


def _blank_as_null(value):
    return (value or None) if type(value) is str else (str(value) or None)


_PLANS: dict[tuple[type, bool], list] = {}
_COLUMNS: dict[type, tuple[str, ...]] = {}


@receiver(setting_changed)
def _forget_plans(setting, **kwargs) -> None:
    if setting in ("REST_FRAMEWORK", "TIME_ZONE", "USE_TZ"):
        _PLANS.clear()


class OutputSerializer(serializers.Serializer):
    """An output serializer: declare fields as usual; rows are rendered through a plan."""

    # True where the output is a function of the row's own columns and of values that never
    # change: a list page or a detail may then render each version of a row once
    # (api.rendered_rows). A tuple of names: also of those values, which the query reads
    # beside the row (annotations, or `values()` columns) and which then join the version.
    rendered_per_row_version: bool | tuple[str, ...] = False

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The names its fields read, for a serializer whose every field reads one name: a
        page of `queryset.values(*columns())` rows renders as the page of instances would,
        without building a model instance per row."""
        names = _COLUMNS.get(cls)
        if names is None:
            names = []
            for name, _field, source, _formatter, method in _plan_of(cls(), utc_active()):
                if method is not None or source is None or len(source) != 1:
                    raise TypeError(f"{cls.__name__}.{name} does not read one name of a row")
                names.append(source[0])
            names = _COLUMNS[cls] = tuple(names)
        return names

    def _output_plan(self) -> list:
        """The class's plan (or this serializer's own, given a context) as this serializer runs
        it: (name, field, one name to read or None, names to read or None, formatter, bound
        method or None)."""
        plan = self.__dict__.get("_plan")
        if plan is None:
            utc = utc_active()
            if self._context:
                planned = _plan_of(self, utc)
            else:
                planned = _PLANS.get((type(self), utc))
                if planned is None:
                    planned = _PLANS[type(self), utc] = _plan_of(type(self)(), utc)
            plan = self.__dict__["_plan"] = [
                (name, field, source[0] if source is not None and len(source) == 1 else None, source, formatter,
                 getattr(self, method) if method is not None else None)
                for name, field, source, formatter, method in planned
            ]
        return plan

    def to_representation(self, instance):
        ret = {}
        by_key = _is_mapping(instance)
        for name, field, attr, source, formatter, method in self._output_plan():
            if method is not None:
                ret[name] = method(instance)
                continue
            if source is None:  # a field reading its value its own way (a related field)
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
                if isinstance(value, PKOnlyObject) and value.pk is None:
                    value = None
            else:
                try:
                    if attr is not None:  # the common case, without _read's loop
                        value = instance[attr] if by_key else getattr(instance, attr)
                        if callable(value) and is_simple_callable(value):
                            value = value()
                    else:
                        value = _read(instance, source)
                except Exception:  # noqa: BLE001 - DRF's reading decides (default, null, skip, error)
                    try:
                        value = field.get_attribute(instance)
                    except SkipField:
                        continue
            if value is None:
                ret[name] = None
            elif formatter is None:
                ret[name] = field.to_representation(value)
            else:
                try:
                    ret[name] = formatter(value)
                except (TypeError, ValueError):  # not of the plain kind: as the field formats it
                    ret[name] = field.to_representation(value)
        return ret

"""The base of every output serializer: DRF's representation, at a fraction of its cost.

DRF's `Serializer.to_representation` asks each field, for each row, to find its value
(`get_attribute`, generic over dotted sources, mappings and callables) and to format it,
with per-call lookups of settings and of the active time zone. For a page of rows that is
most of a list request's own work, and building a serializer's fields (DRF deep-copies the
declared ones for every instance) about as much again for a single object.
`OutputSerializer` plans each serializer class's fields once per process and then reads and
formats the common kinds directly (the active time zone is read once per serializer):

- a plain attribute or key (`source` of one name) is read with `getattr` or `[]`;
- `CharField` is `str(value)` and `IntegerField` is `int(value)`, as in DRF;
- `DateTimeField` in UTC with the project's `DATETIME_FORMAT` is `strftime`, as DRF
  formats it when UTC is the active time zone (the API never activates another);
- `SerializerMethodField` calls its method.

A serializer given a `context` plans its own fields (a field may read the context).
Everything else (decimals, choices, lists, nested serializers, a value DRF would need to
convert first) goes through the field's own `to_representation`, and a value that cannot be
read plainly through the field's own `get_attribute`, so the output is DRF's in every case.
"""

import datetime
from collections.abc import Mapping

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from rest_framework import fields, serializers
from rest_framework.fields import SkipField, is_simple_callable
from rest_framework.settings import api_settings

_UTC = datetime.UTC


def _plain_reader(name: str):
    def read(instance):
        value = instance[name] if isinstance(instance, Mapping) else getattr(instance, name)
        if callable(value) and is_simple_callable(value):
            value = value()
        return value

    return read


def _utc_text(output_format: str):
    def formatted(value):
        if not value or isinstance(value, str):
            return value or None
        if value.tzinfo is not _UTC:
            if value.tzinfo is None:
                raise ValueError("naive datetime")  # the field makes it aware, as DRF does
            value = value.astimezone(_UTC)
        return value.strftime(output_format)

    return formatted


def _utc_active() -> bool:
    zone = timezone.get_current_timezone()
    return zone is _UTC or getattr(zone, "key", None) in ("UTC", "Etc/UTC")


def _is(field, cls) -> bool:
    """The field formats as `cls` does (the class or a subclass that does not override it)."""
    return isinstance(field, cls) and type(field).to_representation is cls.to_representation


def _formatter(field, utc: bool):
    """A direct formatter for the field's value, or None (then the field's own). `utc`: UTC is
    the active time zone."""
    if _is(field, fields.CharField):
        return str
    if _is(field, fields.IntegerField):
        return int
    if _is(field, fields.DateTimeField):
        output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
        if output_format and output_format.lower() != fields.ISO_8601 and not hasattr(field, "timezone") and utc:
            return _utc_text(output_format)
    return None


def _plan_of(serializer, utc: bool) -> list:
    """(name, field, reader, formatter, method name) for each readable field of `serializer`."""
    plan = []
    for field in serializer._readable_fields:
        if isinstance(field, serializers.SerializerMethodField):  # called on the serializer in use
            plan.append((field.field_name, field, None, None, field.method_name))
            continue
        source = field.source_attrs
        plain = len(source) == 1 and not isinstance(field, (serializers.RelatedField, serializers.ManyRelatedField))
        plan.append((field.field_name, field, _plain_reader(source[0]) if plain else None, _formatter(field, utc), None))
    return plan


_PLANS: dict[tuple[type, bool], list] = {}


@receiver(setting_changed)
def _forget_plans(setting, **kwargs) -> None:
    if setting in ("REST_FRAMEWORK", "TIME_ZONE", "USE_TZ"):
        _PLANS.clear()


class OutputSerializer(serializers.Serializer):
    """An output serializer: declare fields as usual; rows are rendered through a plan."""

    def _output_plan(self) -> list:
        plan = self.__dict__.get("_plan")
        if plan is None:
            utc = _utc_active()
            if self._context:
                plan = _plan_of(self, utc)
            else:
                plan = _PLANS.get((type(self), utc))
                if plan is None:
                    plan = _PLANS[type(self), utc] = _plan_of(type(self)(), utc)
            self.__dict__["_plan"] = plan
        return plan

    def to_representation(self, instance):
        ret = {}
        for name, field, reader, formatter, method in self._output_plan():
            if method is not None:
                ret[name] = getattr(self, method)(instance)
                continue
            if reader is None:
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
            else:
                try:
                    value = reader(instance)
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

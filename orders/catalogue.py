"""The orderable catalogue as one in-process snapshot, for the pricing service.

Pricing read the catalogue with eight queries on every calc, order and extension. The
snapshot is loaded once per catalogue *version*, which lives in the shared cache (Redis in
production): every write to a catalogue model starts a new version, so every process
prices with the operator's latest edit on its next request. Writes are seen through model
signals, not by the callers, so the admin, services and the shell are all covered;
the version moves once when the write happens (for reads later in the same transaction)
and once more when it commits (a process that reloaded in between read the old rows).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from .models import Country, Period, PeriodDiscount, PriceRule, ProxyType, VolumeTier

VERSION_KEY = "orders:catalogue-version"
# A snapshot is also reloaded once it is this old, for writes no signal sees (a queryset
# `update()`, SQL by hand, another process when the cache is not shared: the embedded
# default's in-process cache).
MAX_AGE_S = 5.0


@dataclass(frozen=True)
class Catalogue:
    """What is orderable now. The model instances are shared: read them, never change them."""

    version: str
    loaded_at: float  # _clock()
    types: dict[str, ProxyType]  # active types by code
    all_types: dict[str, ProxyType]  # every type by code, inactive ones too (their provider choice)
    type_codes: tuple[str, ...]  # active codes in the catalogue's order
    periods: tuple[int, ...]  # active periods in days, ascending
    period_rows: tuple[Period, ...]  # the same periods, with their labels
    countries: dict[str, Country]  # active countries by code, in name order
    country_type_ids: dict[str, frozenset[int]]  # code → ids of the types it is orderable for
    rules: dict[tuple[int, str], PriceRule]  # (type id, country code or "") → active rule, tiers loaded

    def price_rule(self, proxy_type: ProxyType, country: str) -> PriceRule | None:
        """The country's own rule for the type, else the type's rule for any country."""
        return (country and self.rules.get((proxy_type.pk, country))) or self.rules.get((proxy_type.pk, ""))


def _load(version: str) -> Catalogue:
    every = list(ProxyType.objects.all())
    types = [t for t in every if t.is_active]
    countries = Country.objects.filter(is_active=True).order_by("name").prefetch_related("types")
    period_rows = tuple(Period.objects.filter(is_active=True).order_by("days"))
    rules = PriceRule.objects.filter(is_active=True).select_related("country").prefetch_related(
        "volume_tiers", "period_discounts"
    )
    return Catalogue(
        version=version,
        loaded_at=_clock(),
        types={t.code: t for t in types},
        all_types={t.code: t for t in every},
        type_codes=tuple(t.code for t in types),
        periods=tuple(p.days for p in period_rows),
        period_rows=period_rows,
        countries={c.code: c for c in countries},
        country_type_ids={c.code: frozenset(t.pk for t in c.types.all()) for c in countries},
        rules={(r.proxy_type_id, r.country.code if r.country_id else ""): r for r in rules},
    )


_clock = time.monotonic
_lock = threading.Lock()
_current: Catalogue | None = None


# Within one web request the version is read once (pricing an order asks for the catalogue
# three times); a write in the request forgets it. Outside requests (tasks, the shell) every
# call reads it.
_request = threading.local()


def _request_started(**kwargs) -> None:
    _request.active, _request.version = True, None


def _request_finished(**kwargs) -> None:
    _request.active, _request.version = False, None


def _version() -> str:
    if not getattr(_request, "active", False):
        return cache.get_or_set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    if _request.version is None:
        _request.version = cache.get_or_set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    return _request.version


def catalogue() -> Catalogue:
    """The current snapshot: one cache read (per request); a reload when the version moved or
    it aged."""
    global _current
    version = _version()
    current = _current
    if not _fresh(current, version):
        with _lock:
            current = _current
            if not _fresh(current, version):
                current = _current = _load(version)
    return current


def _fresh(snapshot: Catalogue | None, version: str) -> bool:
    return (
        snapshot is not None and snapshot.version == version
        and _clock() - snapshot.loaded_at < MAX_AGE_S
    )


def catalogue_changed() -> None:
    _request.version = None
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def _on_catalogue_write(sender, **kwargs) -> None:
    catalogue_changed()
    transaction.on_commit(catalogue_changed, using=kwargs.get("using"))


def connect_signals() -> None:
    """Receivers per catalogue model (a receiver for every sender would also cost every
    other model its fast bulk delete). A process that starts loads the snapshot afresh, so
    data migrations, run before a deploy's processes start, need none."""
    for model in (ProxyType, Period, Country, PriceRule, VolumeTier, PeriodDiscount):
        post_save.connect(_on_catalogue_write, sender=model, dispatch_uid=f"catalogue-save-{model.__name__}")
        post_delete.connect(_on_catalogue_write, sender=model, dispatch_uid=f"catalogue-delete-{model.__name__}")
    m2m_changed.connect(_on_catalogue_write, sender=Country.types.through, dispatch_uid="catalogue-country-types")
    request_started.connect(_request_started, dispatch_uid="catalogue-request-started")
    request_finished.connect(_request_finished, dispatch_uid="catalogue-request-finished")

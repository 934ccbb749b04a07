"""`page`/`limit` pagination of every list endpoint: out-of-range values are a 400, never clamped.

A queryset's page and its total come back in one query where the query allows it: the
total rides on every row of the page as an uncorrelated `COUNT` subquery, which the
database evaluates once. That spares every list request a round trip to the database.
Other lists (grouped or DISTINCT queries, sequences that slice and count) are counted
apart, unless their page ends the list.
"""

from dataclasses import dataclass

from django.db.models.query import ModelIterable, QuerySet, ValuesIterable

from core import numbers
from core.db import count_subquery, prepared_rows
from core.errors import DomainValidationError

TOTAL = "_page_total"  # the annotation carrying the total on each row of a page


@dataclass(frozen=True)
class PageParams:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def _parse_int(name: str, raw: str | None, default: int, lo: int, hi: int | None) -> int:
    try:
        value = numbers.parse_int_param(raw, name=name, lo=lo, hi=hi)
    except numbers.NumberError as exc:
        raise DomainValidationError({name: str(exc)}) from None
    return default if value is None else value


def page_params(query, *, default_limit: int, max_limit: int) -> PageParams:
    page = _parse_int("page", query.get("page"), 1, 1, 10_000_000)
    limit = _parse_int("limit", query.get("limit"), default_limit, 1, max_limit)
    return PageParams(page=page, limit=limit)


def _counts_in_the_page_query(queryset) -> bool:
    """Whether the total can ride on the page's rows: a plain filtered query (no grouping,
    DISTINCT or set operation, whose COUNT subquery would count something else), returning
    instances or dicts (where the extra value can be taken off again). Anything else that
    slices and counts (a lazy sequence of rows) is paged and counted apart."""
    if not isinstance(queryset, QuerySet):
        return False
    query = queryset.query
    return (
        queryset._iterable_class in (ModelIterable, ValuesIterable)
        and not query.distinct and query.group_by is None and not query.combinator and not query.is_sliced
        and not any(getattr(a, "contains_aggregate", False) for a in query.annotations.values())
    )


def with_total(queryset):
    """The queryset with the total riding on each row, or None when it cannot carry it."""
    if not _counts_in_the_page_query(queryset):
        return None
    return queryset.annotate(**{TOTAL: count_subquery(queryset)})


def _page_then_total(queryset, window: slice) -> tuple[list, int]:
    """A page, and the total: counted apart unless the page ends the list (a page short of
    its limit, or nothing at all from the start), whose total is then its end."""
    items = list(queryset[window])
    if len(items) < window.stop - window.start and (items or not window.start):
        return items, window.start + len(items)
    return items, queryset.count()


def page_with_total(queryset, params: PageParams, *, derive=with_total) -> tuple[list, int] | None:
    """The page of `derive(queryset)` (the queryset with the total on each row, or a
    derivation of it made with `with_total`) and the total, taken off the rows again; None
    when the query cannot carry the total."""
    window = slice(params.offset, params.offset + params.limit)
    # A prepared query (core.db.PreparedQuery) runs its page from SQL compiled before.
    items = prepared_rows(queryset, derive=derive, window=window)
    if items is None:
        paged = derive(queryset)
        if paged is None:
            return None
        items = list(paged[window])
    if not items:  # past the end (or nothing at all): no row carried the total
        return items, queryset.count() if params.offset else 0
    if isinstance(items[0], dict):
        total = items[0][TOTAL]
        for item in items:
            del item[TOTAL]
    else:
        total = getattr(items[0], TOTAL)
        for item in items:
            delattr(item, TOTAL)
    return items, total


def paginate(queryset, query, *, default_limit: int, max_limit: int):
    """Returns (items, meta) of a queryset, a list, or a sequence that slices and counts."""
    params = page_params(query, default_limit=default_limit, max_limit=max_limit)
    if isinstance(queryset, list):
        items, total = queryset[params.offset : params.offset + params.limit], len(queryset)
    else:
        paged = page_with_total(queryset, params)
        items, total = paged if paged is not None else _page_then_total(
            queryset, slice(params.offset, params.offset + params.limit)
        )
    return items, {"page": params.page, "limit": params.limit, "total": total}


def paginate_within(build, query, *, require_parent, default_limit: int, max_limit: int, page=paginate):
    """`paginate` for the rows of one parent (an order's proxies, a job's items) read by a
    query that keeps to the account's parents, without reading the parent first. `build()`
    makes the queryset and may refuse the request; `require_parent()` raises NotFound for an
    unknown (or another tenant's) parent. It runs only when the page is empty or the request
    is refused, so an unknown parent is 404 before anything else. `page` reads the page as
    `paginate` does (or renders it too: `api.rendered_rows.paginate_rendered`)."""
    try:
        items, meta = page(build(), query, default_limit=default_limit, max_limit=max_limit)
    except DomainValidationError:
        require_parent()
        raise
    if not items:
        require_parent()
    return items, meta

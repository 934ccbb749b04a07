"""`page`/`limit` pagination of every list endpoint: out-of-range values are a 400, never clamped."""

from dataclasses import dataclass

from core import numbers
from core.errors import DomainValidationError


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


def paginate(queryset, query, *, default_limit: int, max_limit: int, count: int | None = None):
    """Returns (items, meta) of a queryset or a list. `count` may be given when the caller has
    a cheaper total."""
    params = page_params(query, default_limit=default_limit, max_limit=max_limit)
    if count is not None:
        total = count
    else:
        total = len(queryset) if isinstance(queryset, list) else queryset.count()
    items = list(queryset[params.offset : params.offset + params.limit])
    return items, {"page": params.page, "limit": params.limit, "total": total}

"""The statistics query, parsed in one place for GET /stats, GET /stats/export and the Statistics
page (and its download). The API and the dashboard share this parser, so it stands beside
both rather than in `api.py`."""

from datetime import UTC

from django.utils import timezone

from accounts.models import Account
from core import dates
from core.errors import DomainValidationError

from . import selectors

STATS_DEFAULT_DAYS = 30
STATS_MAX_SPAN_DAYS = 366
GROUP_BY = ("day", "hour")


def _stats_params(data) -> dict:
    """`from`/`to` (YYYY-MM-DD, UTC, inclusive; default the last 30 days; inside the window of
    `core.dates`), `group_by` (day or hour, in any case, around spaces too; default day) and
    `proxy_id` (spaces around it ignored). Every bad parameter is named in one answer, the
    dates' messages those of `core.dates`. Plain parsing: a serializer instance per request
    cost a tenth of a statistics read."""
    errors: dict[str, list[str]] = {}
    span = None
    try:
        span = dates.parse_date_range(
            data, today=timezone.now().astimezone(UTC).date(),
            default_days=STATS_DEFAULT_DAYS, max_days=STATS_MAX_SPAN_DAYS,
        )
    except dates.DateRangeError as exc:
        errors.update({name: [message] for name, message in exc.fields.items()})
    group_by = (data.get("group_by") or "day").strip().lower()
    if group_by not in GROUP_BY:
        errors["group_by"] = ["group_by must be day or hour."]
    proxy_id = (data.get("proxy_id") or "").strip()  # (a NUL in the query is refused before any view)
    if errors:
        raise DomainValidationError(errors)
    return {"start": span.start, "end": span.end, "group_by": group_by, "proxy_id": proxy_id}


def parse_stats_query(*, account: Account, params) -> selectors.StatsQuery:
    """The account's statistics query from `params` (a query string). A bad parameter is a
    DomainValidationError naming each one: the API's envelope carries its message unprefixed,
    and the page shows the fields beside its filters. Another tenant's proxy is NotFound."""
    return selectors.stats_query(account=account, **_stats_params(params))

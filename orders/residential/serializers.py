"""The statistics query, parsed in one place for GET /stats, GET /stats/export and the Statistics
page (and its download). The API and the dashboard share this serializer, so it stands beside
both rather than in `api.py`."""

from datetime import UTC

from django.utils import timezone
from rest_framework import serializers

from accounts.models import Account
from core import dates
from core.errors import DomainValidationError

from . import selectors

STATS_DEFAULT_DAYS = 30
STATS_MAX_SPAN_DAYS = 366
GROUP_BY = ("day", "hour")


class StatsQueryIn(serializers.Serializer):
    """`from`/`to` (YYYY-MM-DD, UTC, inclusive; default the last 30 days; inside the window of
    `core.dates`), `group_by` (day or hour, in any case; default day) and `proxy_id`."""

    group_by = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="day")
    proxy_id = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_group_by(self, value: str) -> str:
        value = (value or "day").strip().lower()
        if value not in GROUP_BY:
            raise serializers.ValidationError("group_by must be day or hour.")
        return value

    def to_internal_value(self, data) -> dict:
        """The date range is checked beside the fields, not after them, so that one answer
        names every bad parameter; its messages are those of `core.dates`."""
        errors: dict[str, list[str]] = {}
        span = None
        try:
            span = dates.parse_date_range(
                data, today=timezone.now().astimezone(UTC).date(),
                default_days=STATS_DEFAULT_DAYS, max_days=STATS_MAX_SPAN_DAYS,
            )
        except dates.DateRangeError as exc:
            errors.update({name: [message] for name, message in exc.fields.items()})
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors.update(exc.detail)
        if errors:
            raise serializers.ValidationError(errors)
        return {"start": span.start, "end": span.end, **values}


def parse_stats_query(*, account: Account, params) -> selectors.StatsQuery:
    """The account's statistics query from `params` (a query string). A bad parameter is a
    DomainValidationError naming each one: the API's envelope carries its message unprefixed,
    and the page shows the fields beside its filters. Another tenant's proxy is NotFound."""
    query = StatsQueryIn(data=params)
    if not query.is_valid():
        raise DomainValidationError({field: [str(m) for m in messages] for field, messages in query.errors.items()})
    return selectors.stats_query(account=account, **query.validated_data)

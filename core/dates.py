"""Dates and date ranges from user input, bounded before any arithmetic.

`date(9999, 12, 31) + timedelta(days=1)` and `date(1, 1, 1) - timedelta(days=29)` raise
OverflowError: a filter taking any date the calendar allows answered 500 at its ends.
Dates a user sends are therefore accepted only inside a window, from `EARLIEST`
(2000-01-01: no proxy was sold or used through this portal before it) to `FUTURE_DAYS`
after today (a client a day ahead of UTC, or a report ending later this year, still fits).
Whatever lies inside the window is decades away from the calendar's ends, so any range
arithmetic on it is safe. Standard library only: the ground layer, no app.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

EARLIEST = date(2000, 1, 1)
FUTURE_DAYS = 366
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat alone also takes 2025-W09-6


class DateRangeError(ValueError):
    """Refused input; `fields` maps each parameter to a message for the person who sent it."""

    def __init__(self, fields: dict[str, str]):
        super().__init__(next(iter(fields.values())))
        self.fields = fields


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # inclusive


def latest(today: date) -> date:
    return today + timedelta(days=FUTURE_DAYS)


def parse_date(raw, *, name: str, today: date) -> date | None:
    """`raw` as a YYYY-MM-DD date inside the window; None when blank. Raises DateRangeError."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise DateRangeError({name: f"{name} must be a date as YYYY-MM-DD."})
    text = raw.strip()
    if not text:
        return None
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError
        value = date.fromisoformat(text)
    except ValueError:
        raise DateRangeError({name: f"{name} must be a date as YYYY-MM-DD."}) from None
    if not EARLIEST <= value <= latest(today):
        raise DateRangeError({name: f"{name} must be a date between {EARLIEST} and {latest(today)}."})
    return value


def parse_date_range(
    params: Mapping, *, today: date, default_days: int, max_days: int, start: str = "from", end: str = "to"
) -> DateRange:
    """The inclusive range named by `params[start]` and `params[end]` (YYYY-MM-DD each).

    Without `end`: today, or `start` if that is later. Without `start`: `default_days`
    ending at `end`, cut at the window's start. Raises DateRangeError naming the parameter:
    a malformed date or one outside the window, `start` after `end`, or a range spanning
    more than `max_days` days after its first.
    """
    errors: dict[str, str] = {}
    values: dict[str, date | None] = {}
    for name in (start, end):
        try:
            values[name] = parse_date(params.get(name), name=name, today=today)
        except DateRangeError as exc:
            errors.update(exc.fields)
    if errors:
        raise DateRangeError(errors)
    first, last = values[start], values[end]
    if last is None:
        last = max(today, first) if first else today
    if first is None:
        first = max(last - timedelta(days=default_days - 1), EARLIEST)
    if first > last:
        raise DateRangeError({start: f"{start} must not be after {end}."})
    if (last - first).days > max_days:
        raise DateRangeError({start: f"The range may span at most {max_days} days."})
    return DateRange(start=first, end=last)

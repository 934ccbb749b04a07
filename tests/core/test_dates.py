"""core.dates: user-sent dates lie in a window, so range arithmetic never leaves the calendar."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.dates import (
    EARLIEST,
    FUTURE_DAYS,
    DateRange,
    DateRangeError,
    parse_date,
    parse_date_range,
)

TODAY = date(2026, 12, 6)
LATEST = TODAY + timedelta(days=FUTURE_DAYS)


def _range(**params) -> DateRange:
    return parse_date_range(params, today=TODAY, default_days=30, max_days=366)


def _fields(**params) -> dict:
    with pytest.raises(DateRangeError) as info:
        _range(**params)
    return info.value.fields


def test_defaults_are_the_last_30_days_or_from_a_later_start():
    assert _range() == DateRange(TODAY - timedelta(days=29), TODAY)
    assert _range(**{"from": "2026-12-20"}) == DateRange(date(2026, 12, 20), date(2026, 12, 20))
    assert _range(to="2025-03-31") == DateRange(date(2025, 3, 2), date(2025, 3, 31))
    assert _range(to="2000-01-10") == DateRange(EARLIEST, date(2000, 1, 10))  # cut at the window


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "9999-12-31"}, "from"), ({"to": "0001-01-01"}, "to"), ({"to": "9999-12-31"}, "to"),
    ({"from": "1999-12-31"}, "from"), ({"to": str(LATEST + timedelta(days=1))}, "to"),
])
def test_dates_outside_the_window_name_their_field_and_the_window(params, field):
    assert _fields(**params) == {field: f"{field} must be a date between 2000-01-01 and {LATEST}."}


@pytest.mark.parametrize("raw", ["2025-13-01", "2025-3-1", "20250301", "2025-W09-6", "yesterday", "2025-02-30",
                                 " " * 10_000 + "x", "2025-03-01T00:00"])
def test_malformed_dates_are_refused(raw):
    assert _fields(**{"from": raw}) == {"from": "from must be a date as YYYY-MM-DD."}


def test_both_fields_are_reported_together():
    assert set(_fields(**{"from": "0001-01-01", "to": "nope"})) == {"from", "to"}


def test_order_and_span():
    assert _fields(**{"from": "2025-03-05", "to": "2025-03-01"}) == {"from": "from must not be after to."}
    assert _fields(**{"from": "2020-01-01", "to": "2022-01-01"}) == {"from": "The range may span at most 366 days."}
    assert _range(**{"from": "2024-01-01", "to": "2025-01-01"}).end == date(2025, 1, 1)  # 366 days after


def test_edges_of_the_window_are_accepted():
    assert parse_date("2000-01-01", name="from", today=TODAY) == EARLIEST
    assert parse_date(str(LATEST), name="to", today=TODAY) == LATEST
    assert parse_date(" ", name="to", today=TODAY) is None and parse_date(None, name="to", today=TODAY) is None
    with pytest.raises(DateRangeError):
        parse_date(20250301, name="to", today=TODAY)


_DATES = st.one_of(st.none(), st.text(max_size=12), st.dates().map(date.isoformat))


@settings(max_examples=300, deadline=timedelta(milliseconds=200))
@given(start=_DATES, end=_DATES, today=st.dates(min_value=date(2000, 1, 1), max_value=date(2200, 1, 1)))
def test_any_input_gives_a_range_whose_arithmetic_cannot_overflow(start, end, today):
    params = {k: v for k, v in (("from", start), ("to", end)) if v is not None}
    try:
        span = parse_date_range(params, today=today, default_days=30, max_days=366)
    except DateRangeError as exc:
        assert set(exc.fields) <= {"from", "to"} and all(exc.fields.values())
        return
    assert EARLIEST <= span.start <= span.end <= today + timedelta(days=FUTURE_DAYS)
    # what the statistics compute from a range, with room to spare
    assert span.end + timedelta(days=1) > span.start - timedelta(days=366)

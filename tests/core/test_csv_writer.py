"""core.files: the one CSV writer every export uses. Text that a spreadsheet would evaluate
gets a leading `'`; numbers stay numbers; the streamed form equals the whole-file form."""

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.files import FORMULA_TRIGGERS, CsvWriter, csv_cell, csv_chunks, csv_text


@pytest.mark.parametrize("text", [
    "=1+1", "=cmd|'/C calc'!A0", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "\n=1",
    "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20SUM(A1)",
])
def test_text_starting_a_formula_is_written_as_text(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value, written", [
    (-5, -5), (Decimal("-5.00"), Decimal("-5.00")), (-1.5, -1.5), ("-5.00", "-5.00"), ("+3", "+3"),
    ("12", "12"), (None, ""), ("", ""), ("a=b", "a=b"), ("1.2.3.4:80", "1.2.3.4:80"),
    ("-", "'-"), ("-5e3", "'-5e3"), ("-1-1", "'-1-1"), (float("-inf"), "'-inf"), (Decimal("-NaN"), "'-NaN"),
])
def test_numbers_stay_numbers_and_other_text_is_untouched(value, written):
    assert csv_cell(value) == written


def test_writer_and_text_neutralise_every_row():
    out = io.StringIO()
    CsvWriter(out).writerows([["=a", 1], ["b", Decimal("-2.50")]])
    assert out.getvalue() == "'=a,1\r\nb,-2.50\r\n"
    assert csv_text(["h"], [["@x"]]) == "h\r\n'@x\r\n"


cells = st.one_of(
    st.none(),
    st.integers(min_value=-10**12, max_value=10**12),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**6, max_value=10**6),
    st.text(alphabet=st.sampled_from(sorted(FORMULA_TRIGGERS) + list('ab1.,"\' ')), max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(cells, min_size=1, max_size=4), max_size=12), st.integers(min_value=1, max_value=5))
def test_streamed_csv_equals_the_whole_file_and_no_cell_starts_a_formula(rows, batch):
    """The fast path of csv_chunks (a batch written as is when no cell can start a formula)
    never lets one through: its output is always exactly csv_text's."""
    text = csv_text(["a", "b", "c", "d"], rows)
    assert "".join(csv_chunks(["a", "b", "c", "d"], rows, batch=batch)) == text
    parsed = list(csv.reader(io.StringIO(text)))
    assert len(parsed) == len(rows) + 1
    for row, written in zip(rows, parsed[1:], strict=True):
        for value, cell in zip(row, written, strict=True):
            if isinstance(value, str) and value[:1] in FORMULA_TRIGGERS and cell != value:
                assert cell == "'" + value
            elif cell[:1] in FORMULA_TRIGGERS:
                assert isinstance(value, int | Decimal) or cell.lstrip("+-").replace(".", "", 1).isdigit()

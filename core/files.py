"""Files the portal hands out: one formula-safe CSV writer for every CSV (API, dashboard,
admin, management commands), and one way to answer a download (its format, its pieces, its
response).

A spreadsheet evaluates a cell whose text starts with `=`, `+`, `-` or `@` (and, in some
programs, a tab, a line break or the full-width forms of those signs) as a formula, so a
proxy username such as `=HYPERLINK(...)` or `=cmd|...` would run when the customer opens
the file. Text cells starting with one of `FORMULA_TRIGGERS` are written with a leading `'`,
which spreadsheets show as text (OWASP's CSV-injection advice). Numbers stay numbers:
`int`, `float` and `Decimal` values are written as they are (`-5.00` remains a negative
amount), and so is text that is nothing but a decimal number (`"-5.00"`, `"+3"`), which no
spreadsheet can evaluate to anything else. `None` is an empty cell.

Imports nothing of the apps: every export uses it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse

from core.errors import DomainValidationError

__all__ = [
    "DOWNLOAD_FORMATS", "FORMULA_TRIGGERS", "CsvWriter", "csv_cell", "csv_chunks", "csv_row", "csv_text",
    "download_format", "download_response", "rows_file",
]

FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?\Z")


def csv_cell(value):
    """`value` as a cell no spreadsheet evaluates (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, Decimal) and value.is_finite():
        return value
    text = value if isinstance(value, str) else str(value)
    if text and text[0] in FORMULA_TRIGGERS and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def csv_row(row: Iterable) -> list:
    return [csv_cell(value) for value in row]


class CsvWriter:
    """`csv.writer(out)` whose every cell goes through `csv_cell`."""

    def __init__(self, out):
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable):
        return self._writer.writerow(csv_row(row))

    def writerows(self, rows: Iterable[Iterable]) -> None:
        self._writer.writerows(map(csv_row, rows))


def csv_text(header: Iterable[str], rows: Iterable[Iterable]) -> str:
    """A whole (small) CSV file as text: the header line, then the rows."""
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _needles() -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    """For each trigger: what a cell starting with it looks like inside written CSV text,
    after a delimiter or a line break, bare or opened by a quote. A bare cell never starts
    with a line break (the writer quotes it), so a row's own `\\r\\n` is not a needle."""
    table = []
    for trigger in sorted(FORMULA_TRIGGERS):
        bare = () if trigger in "\r\n" else ("," + trigger, "\n" + trigger)
        table.append((trigger, bare, (',"' + trigger, '\n"' + trigger)))
    return tuple(table)


_NEEDLES = _needles()


def _may_hold_a_formula(text: str) -> bool:
    """False only if no cell of `text` (whole rows) starts with a trigger. One single-character
    search per trigger (the common case: absent), the two-character ones only when it is there."""
    if text[:1] in FORMULA_TRIGGERS or (text[:1] == '"' and text[1:2] in FORMULA_TRIGGERS):
        return True
    quoted = '"' in text
    for trigger, bare, quoted_needles in _NEEDLES:
        if trigger not in text:
            continue
        if any(needle in text for needle in bare):
            return True
        if quoted and any(needle in text for needle in quoted_needles):
            return True
    return False


def csv_chunks(header: Iterable[str] | None, rows: Iterable[Iterable], *, batch: int = 2000) -> Iterator[str]:
    """A CSV file streamed as text, one piece per `batch` rows, in constant memory.

    Streams the rows of a million-row export: each batch is written as it is and searched
    (a few substring scans) for a cell that could start a formula; only a batch holding one
    (or a negative number) is written again cell by cell through `csv_cell`. The output is
    exactly `csv_text`'s.
    """
    buffer = io.StringIO()
    raw = csv.writer(buffer)
    safe = CsvWriter(buffer)

    def written(writer, pending: list) -> str:
        writer.writerows(pending)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    def flush(pending: list) -> str:
        text = written(raw, pending)
        return text if not _may_hold_a_formula(text) else written(safe, pending)

    if header is not None:
        yield csv_text(header, ())
    pending: list = []
    for row in rows:
        pending.append(row)
        if len(pending) >= batch:
            yield flush(pending)
            pending.clear()
    if pending:
        yield flush(pending)


# --- downloads -----------------------------------------------------------------------------

DOWNLOAD_FORMATS = ("txt", "csv", "json")
DOWNLOAD_CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
STREAM_PIECE_CHARS = 64 * 1024


def download_format(value: str | None, *, allowed: Sequence[str] = DOWNLOAD_FORMATS, default: str = "txt") -> str:
    """The format a download asks for (`?format=`), or a field error naming the choices."""
    fmt = (value or default).lower()
    if fmt not in allowed:
        raise DomainValidationError({"format": [f"Must be one of: {', '.join(allowed)}."]})
    return fmt


def rows_file(
    rows: Iterable, *, fmt: str, columns: Sequence[str],
    to_dict: Callable[[object], dict] | None = None, to_line: Callable[[object], str] | None = None,
    batch: int = 2000,
) -> Iterator[str]:
    """A list as txt (`to_line(row)` per line), csv (`columns` of `to_dict(row)`, formula-safe)
    or a JSON array of `to_dict(row)`, produced row by row in constant memory."""
    to_dict = to_dict or (lambda row: row)
    if fmt == "txt":
        return (to_line(row) + "\n" for row in rows)
    if fmt == "csv":
        return csv_chunks(columns, ([item[c] for c in columns] for item in map(to_dict, rows)), batch=batch)
    return _json_array(map(to_dict, rows))


def _json_array(items: Iterable[dict]) -> Iterator[str]:
    yield "["
    first = True
    for item in items:
        yield ("" if first else ",") + json.dumps(item, separators=(",", ":"))
        first = False
    yield "]\n"


def _pieces(parts: Iterable[str]) -> Iterator[bytes]:
    """Joins small strings into ~64 KiB pieces: the WSGI server writes every yielded piece
    with its own system call, which one piece per row made a large export's bottleneck."""
    buffer: list[str] = []
    size = 0
    for part in parts:
        buffer.append(part)
        size += len(part)
        if size >= STREAM_PIECE_CHARS:
            yield "".join(buffer).encode()
            buffer.clear()
            size = 0
    if buffer:
        yield "".join(buffer).encode()


def download_response(content: str | Iterable[str], *, fmt: str, filename: str) -> HttpResponse:
    """The file as an attachment named `filename.fmt`: a text at once, an iterable of text
    streamed. Never cached on the way, as proxy lists hold credentials."""
    content_type = DOWNLOAD_CONTENT_TYPES[fmt]
    if isinstance(content, str):
        response = HttpResponse(content, content_type=content_type)
    else:
        response = StreamingHttpResponse(_pieces(content), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response

"""The statistics export in CSV or JSON: GET /stats/export and the Statistics page's download
serve the same file."""

from collections.abc import Iterable, Iterator

from core.files import rows_file

EXPORT_FORMATS = ("csv", "json")
EXPORT_COLUMNS = ["period_start", "proxy_id", "name", "bytes_in", "bytes_out", "bytes_total", "requests"]


def _export_row(row: dict) -> dict:
    return {c: row[c] for c in EXPORT_COLUMNS}


def stats_file(rows: Iterable[dict], fmt: str) -> str:
    """The rows of a statistics query (times as text: `stats_rows(times_as_text=True)`) as one
    CSV or JSON text."""
    pieces: Iterator[str] = rows_file(rows, fmt=fmt, columns=EXPORT_COLUMNS, to_dict=_export_row)
    return "".join(pieces)

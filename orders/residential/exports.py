"""The statistics export in CSV or JSON: GET /stats/export and the Statistics page's download
serve the same file."""

import json

from core.files import csv_text

EXPORT_FORMATS = ("csv", "json")
EXPORT_COLUMNS = ["period_start", "proxy_id", "name", "bytes_in", "bytes_out", "bytes_total", "requests"]


def render_stats(rows: list[dict], fmt: str) -> tuple[str, str]:
    out_rows = [
        {**{c: r[c] for c in EXPORT_COLUMNS}, "period_start": r["period_start"].strftime("%Y-%m-%dT%H:%M:%SZ")}
        for r in rows
    ]
    if fmt == "csv":
        return csv_text(EXPORT_COLUMNS, ([r[c] for c in EXPORT_COLUMNS] for r in out_rows)), "text/csv; charset=utf-8"
    return json.dumps(out_rows, indent=1) + "\n", "application/json"

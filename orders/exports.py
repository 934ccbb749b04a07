"""An order's proxy list as a file (API download and the dashboard's Download links)."""

from collections.abc import Iterable, Iterator

from core.files import rows_file

PROXY_COLUMNS = ["host", "port", "username", "password", "protocol", "country"]


def proxy_row(proxy) -> dict:
    return {c: (getattr(proxy, c) if c != "country" else (proxy.country or None)) for c in PROXY_COLUMNS}


def proxy_list_file(proxies: Iterable, fmt: str) -> Iterator[str]:
    """txt `host:port:username:password` lines, csv with a header, or a JSON array. An order's
    list is small, so callers answer it whole (`"".join`), with a Content-Length."""
    return rows_file(
        proxies, fmt=fmt, columns=PROXY_COLUMNS, to_dict=proxy_row,
        to_line=lambda p: f"{p.host}:{p.port}:{p.username}:{p.password}",
    )

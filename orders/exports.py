"""An order's proxy list as a file (API download, list links and the dashboard's Download links),
and the authorized IPs for the operator's proxy servers."""

from collections.abc import Iterable, Iterator

from core.errors import DomainValidationError
from core.files import CsvWriter, rows_file

PROXY_COLUMNS = ["host", "port", "username", "password", "protocol", "country"]
# `auth=ip`: the account's authorized IPs open the proxies, so the list carries no credentials.
IP_AUTH_COLUMNS = ["host", "port", "protocol", "country"]
AUTH_MODES = ("credentials", "ip")


def download_auth(value: str | None) -> str:
    """The list's authentication (`?auth=`): `credentials` (default) or `ip`, else a field error."""
    auth = (value or "credentials").lower()
    if auth not in AUTH_MODES:
        raise DomainValidationError({"auth": [f"Must be one of: {', '.join(AUTH_MODES)}."]})
    return auth


def proxy_row(proxy, columns=PROXY_COLUMNS) -> dict:
    return {c: (getattr(proxy, c) if c != "country" else (proxy.country or None)) for c in columns}


def proxy_line(proxy) -> str:
    """`host:port:username:password`, or `host:port` for a proxy without credentials (stock
    imported as `ip:port` is opened by the account's authorized IPs alone)."""
    if not proxy.username and not proxy.password:
        return f"{proxy.host}:{proxy.port}"
    return f"{proxy.host}:{proxy.port}:{proxy.username}:{proxy.password}"


def proxy_list_file(proxies: Iterable, fmt: str, auth: str = "credentials") -> Iterator[str]:
    """txt lines as `proxy_line` writes them (`host:port` only with `auth="ip"`), csv with a
    header, or a JSON array. An order's list is small, so callers answer it whole (`"".join`),
    with a Content-Length."""
    if auth == "ip":
        return rows_file(
            proxies, fmt=fmt, columns=IP_AUTH_COLUMNS, to_dict=lambda p: proxy_row(p, IP_AUTH_COLUMNS),
            to_line=lambda p: f"{p.host}:{p.port}",
        )
    return rows_file(
        proxies, fmt=fmt, columns=PROXY_COLUMNS, to_dict=proxy_row,
        to_line=proxy_line,
    )


AUTHORIZED_IP_CSV_COLUMNS = ["account_id", "ip", "host", "port", "protocol"]


def write_authorized_ips_csv(out, rows: Iterable[tuple]) -> int:
    """One line per (authorized IP, live inventory proxy of its account): what the operator's
    proxy servers must accept without credentials. `rows` from
    `selectors.authorized_ip_export_rows`; returns the line count."""
    writer = CsvWriter(out)
    writer.writerow(AUTHORIZED_IP_CSV_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(list(row))
        count += 1
    return count

"""A client of an upstream seller that speaks this portal's own API (its `/api/v1` base), so
that one portal can resell another.

Thin and typed: one method per endpoint, answers parsed into the frozen dataclasses below.
Prices, placement, refunds and retries over minutes belong to the provider that uses it.

The transport, on httpx:

- one pooled connection set per process, base URL and key (`upstream_client()`), with a
  connect and a read timeout;
- after no answer or a 5xx, up to `retries` more attempts with exponential backoff (capped,
  jittered), but only where repeating cannot do a thing twice: GET, PATCH, DELETE,
  `POST /orders/calc`, and POSTs that carry an `Idempotency-Key`. A refused connection is
  retried for every call, since nothing reached the upstream;
- a 429 is waited out when its `Retry-After` is at most `max_retry_after_s`, and raised at
  once when longer (the caller may try again later);
- every failure raises `core.errors.UpstreamError` with the upstream's status, `error_type`,
  message and meta (`upstream_status` None: no answer came).

The key travels as `Authorization: Bearer` (httpx masks that header when it shows headers)
and is never written to a log or an exception; an upstream message quoting it is redacted.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from core.errors import UpstreamError
from core.metrics import upstream_calls, upstream_errors

logger = logging.getLogger("orders.providers.upstream")

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_PAGES = 1000
REDACTED = "[redacted]"
USER_AGENT = "proxy-portal-upstream/1"
# Every list endpoint's largest page (the contract's maxima), so few round trips fetch it all.
PAGE_SIZE = {"reference": 250, "order_proxies": 1000, "subusers": 200, "stats": 10000}
SUBUSER_CREATE_FIELDS = frozenset({
    "protocol", "country", "state", "city", "zip", "rotation", "sticky_ttl_minutes", "traffic_limit_gb", "whitelist",
})
SUBUSER_UPDATE_FIELDS = SUBUSER_CREATE_FIELDS | {"name", "order_id", "status"}
# Nothing reached the upstream when these are raised: any call may be tried again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

T = TypeVar("T")


# --- what the upstream answers ---------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamAccount:
    id: str
    name: str
    email: str
    balance: Decimal
    currency: str
    tier: str


@dataclass(frozen=True)
class UpstreamCountry:
    code: str
    name: str
    types: tuple[str, ...]


@dataclass(frozen=True)
class UpstreamProxyType:
    type: str
    name: str
    unit: str  # GB | IP
    period_required: bool
    min_quantity: Decimal
    max_quantity: Decimal


@dataclass(frozen=True)
class UpstreamPeriod:
    days: int
    label: str


@dataclass(frozen=True)
class UpstreamQuote:
    type: str
    quantity: Decimal
    period: int | None
    country: str | None
    unit_price: Decimal
    subtotal: Decimal
    discount: Decimal
    total: Decimal
    currency: str


@dataclass(frozen=True)
class UpstreamOrder:
    id: str
    type: str
    quantity: Decimal
    period: int | None
    country: str | None
    status: str  # pending | active | expired | cancelled | failed
    total: Decimal
    currency: str
    created_at: datetime
    activated_at: datetime | None
    expires_at: datetime | None
    proxy_count: int
    traffic_gb: Decimal | None
    traffic_used_gb: Decimal | None
    failure_reason: str


@dataclass(frozen=True)
class UpstreamProxy:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    protocol: str
    country: str | None


@dataclass(frozen=True)
class UpstreamReplacement:
    old: str  # host:port
    new: UpstreamProxy


@dataclass(frozen=True)
class UpstreamAuthorizedIP:
    id: str
    ip: str


@dataclass(frozen=True)
class UpstreamSubUser:
    id: str
    name: str
    order_id: str
    protocol: str
    host: str
    port: int
    username: str  # the connection username, targeting included
    password: str = field(repr=False)
    country: str | None
    state: str | None
    city: str | None
    zip: str | None
    rotation: str
    sticky_ttl_minutes: int
    traffic_limit_gb: Decimal | None
    traffic_used_gb: Decimal
    whitelist: tuple[str, ...]
    status: str  # active | disabled
    disabled_reason: str | None
    created_at: datetime
    base_username: str  # the login without targeting (the username itself where a seller has no other)


@dataclass(frozen=True)
class UpstreamStatsRow:
    period_start: datetime
    proxy_id: str
    bytes_in: int
    bytes_out: int
    bytes_total: int
    requests: int


def _decimal(value) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError("not a number")
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def _decimal_or_none(value) -> Decimal | None:
    return None if value is None else _decimal(value)


def _int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("not a whole number")
    return int(value)


def _int_or_none(value) -> int | None:
    return None if value is None else _int(value)


def _time(value) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _time_or_none(value) -> datetime | None:
    return None if value is None else _time(value)


def _text_or_none(value) -> str | None:
    return None if value in (None, "") else str(value)


def _account(d: dict) -> UpstreamAccount:
    return UpstreamAccount(
        id=str(d["id"]), name=str(d["name"]), email=str(d.get("email") or ""), balance=_decimal(d["balance"]),
        currency=str(d["currency"]), tier=str(d.get("tier") or ""),
    )


def _country(d: dict) -> UpstreamCountry:
    return UpstreamCountry(code=str(d["code"]), name=str(d["name"]), types=tuple(str(t) for t in d.get("types") or ()))


def _proxy_type(d: dict) -> UpstreamProxyType:
    return UpstreamProxyType(
        type=str(d["type"]), name=str(d.get("name") or d["type"]), unit=str(d["unit"]),
        period_required=bool(d["period_required"]), min_quantity=_decimal(d["min_quantity"]),
        max_quantity=_decimal(d["max_quantity"]),
    )


def _period(d: dict) -> UpstreamPeriod:
    return UpstreamPeriod(days=_int(d["days"]), label=str(d["label"]))


def _quote(d: dict) -> UpstreamQuote:
    return UpstreamQuote(
        type=str(d["type"]), quantity=_decimal(d["quantity"]), period=_int_or_none(d.get("period")),
        country=_text_or_none(d.get("country")), unit_price=_decimal(d["unit_price"]),
        subtotal=_decimal(d["subtotal"]), discount=_decimal(d["discount"]), total=_decimal(d["total"]),
        currency=str(d["currency"]),
    )


def _order(d: dict) -> UpstreamOrder:
    return UpstreamOrder(
        id=str(d["id"]), type=str(d["type"]), quantity=_decimal(d["quantity"]), period=_int_or_none(d.get("period")),
        country=_text_or_none(d.get("country")), status=str(d["status"]), total=_decimal(d["total"]),
        currency=str(d["currency"]), created_at=_time(d["created_at"]),
        activated_at=_time_or_none(d.get("activated_at")), expires_at=_time_or_none(d.get("expires_at")),
        proxy_count=_int(d.get("proxy_count") or 0), traffic_gb=_decimal_or_none(d.get("traffic_gb")),
        traffic_used_gb=_decimal_or_none(d.get("traffic_used_gb")), failure_reason=str(d.get("failure_reason") or ""),
    )


def _proxy(d: dict) -> UpstreamProxy:
    return UpstreamProxy(
        host=str(d["host"]), port=_int(d["port"]), username=str(d.get("username") or ""),
        password=str(d.get("password") or ""), protocol=str(d.get("protocol") or "http"),
        country=_text_or_none(d.get("country")),
    )


def _replaced(d: dict) -> list[UpstreamReplacement]:
    items = d.get("replaced")
    if not isinstance(items, list):
        raise KeyError("replaced")
    return [UpstreamReplacement(old=str(item["old"]), new=_proxy(item["new"])) for item in items]


def _authorized_ip(d: dict) -> UpstreamAuthorizedIP:
    return UpstreamAuthorizedIP(id=str(d["id"]), ip=str(d["ip"]))


def _subuser(d: dict) -> UpstreamSubUser:
    return UpstreamSubUser(
        id=str(d["id"]), name=str(d["name"]), order_id=str(d["order_id"]), protocol=str(d["protocol"]),
        host=str(d["host"]), port=_int(d["port"]), username=str(d["username"]), password=str(d.get("password") or ""),
        country=_text_or_none(d.get("country")), state=_text_or_none(d.get("state")),
        city=_text_or_none(d.get("city")), zip=_text_or_none(d.get("zip")), rotation=str(d["rotation"]),
        sticky_ttl_minutes=_int(d["sticky_ttl_minutes"]),
        traffic_limit_gb=_decimal_or_none(d.get("traffic_limit_gb")),
        traffic_used_gb=_decimal(d.get("traffic_used_gb") or 0),
        whitelist=tuple(str(ip) for ip in d.get("whitelist") or ()), status=str(d["status"]),
        disabled_reason=_text_or_none(d.get("disabled_reason")), created_at=_time(d["created_at"]),
        base_username=str(d.get("base_username") or d["username"]),
    )


def _stats_row(d: dict) -> UpstreamStatsRow:
    return UpstreamStatsRow(
        period_start=_time(d["period_start"]), proxy_id=str(d["proxy_id"]), bytes_in=_int(d["bytes_in"]),
        bytes_out=_int(d["bytes_out"]), bytes_total=_int(d["bytes_total"]), requests=_int(d.get("requests") or 0),
    )


def _json_default(value):
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _quantity(value: Decimal | int | str) -> int | str:
    """An order's quantity as the API takes it: whole IPs as a number, GB as a decimal string."""
    return value if isinstance(value, int) else format(Decimal(str(value)), "f")


# --- the client --------------------------------------------------------------------------------


class UpstreamClient:
    """One upstream seller (`base_url` is its `/api/v1` base) reached with one key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        max_retry_after_s: float = 60.0,
        max_connections: int = 20,
    ):
        base_url = (base_url or "").strip().rstrip("/")
        if not base_url:
            raise UpstreamError("No upstream seller is configured: set UPSTREAM_API_URL to its /api/v1 base.")
        if not base_url.startswith(("http://", "https://")):
            raise UpstreamError("UPSTREAM_API_URL must be an http:// or https:// URL (the upstream's /api/v1 base).")
        if not api_key:
            raise UpstreamError("No key for the upstream seller: set UPSTREAM_API_KEY.")
        self.base_url = base_url
        self._key = api_key
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s,
                                  pool=connect_timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
            trust_env=False,  # no proxy or .netrc from the environment between the portal and its upstream
        )

    def __repr__(self) -> str:
        return f"UpstreamClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> UpstreamClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- account and reference data -------------------------------------------------------------

    def account(self) -> UpstreamAccount:
        """`GET /account`: the reseller's own account there, its balance first of all."""
        return self._one("GET", "/account", _account)

    def countries(self, *, type: str | None = None, page_size: int = PAGE_SIZE["reference"]) -> list[UpstreamCountry]:  # noqa: A002
        """`GET /reference/countries`, every page; `type` narrows to where that type is sold."""
        return self._all_pages("/reference/countries", _country, page_size, {"type": type} if type else {})

    def proxy_types(self, *, page_size: int = PAGE_SIZE["reference"]) -> list[UpstreamProxyType]:
        return self._all_pages("/reference/proxy-types", _proxy_type, page_size)

    def periods(self, *, page_size: int = PAGE_SIZE["reference"]) -> list[UpstreamPeriod]:
        return self._all_pages("/reference/periods", _period, page_size)

    # --- orders ----------------------------------------------------------------------------------

    def calc(self, *, type: str, quantity: Decimal | int | str, period: int | None = None,  # noqa: A002
             country: str | None = None) -> UpstreamQuote:
        """`POST /orders/calc`: what the upstream would charge (it changes nothing, so it is retried)."""
        body = {"type": type, "quantity": _quantity(quantity), "period": period, "country": country}
        return self._one("POST", "/orders/calc", _quote, body=body, repeatable=True)

    def place_order(self, *, type: str, quantity: Decimal | int | str, period: int | None = None,  # noqa: A002
                    country: str | None = None, idempotency_key: str) -> UpstreamOrder:
        """`POST /orders` with `Idempotency-Key`: the same key places one order however often it is sent
        (for 24 h upstream), so the call is retried safely and a caller may repeat it after a crash."""
        if not idempotency_key:
            raise ValueError("place_order needs an idempotency_key: without one a retry could buy twice")
        body = {"type": type, "quantity": _quantity(quantity), "period": period, "country": country}
        return self._one("POST", "/orders", _order, body=body, idempotency_key=idempotency_key)

    def order(self, order_id: str) -> UpstreamOrder:
        return self._one("GET", f"/orders/{_segment(order_id)}", _order)

    def order_proxies(self, order_id: str, *, page_size: int = PAGE_SIZE["order_proxies"]) -> list[UpstreamProxy]:
        """`GET /orders/{id}/proxies`, every page."""
        return self._all_pages(f"/orders/{_segment(order_id)}/proxies", _proxy, page_size)

    def extend_order(self, order_id: str, *, period: int, idempotency_key: str | None = None) -> UpstreamOrder:
        """`POST /orders/{id}/extend` (charges upstream); retried only with an `idempotency_key`."""
        return self._one("POST", f"/orders/{_segment(order_id)}/extend", _order, body={"period": period},
                         idempotency_key=idempotency_key)

    def replace_proxies(self, order_id: str, *, proxies: list[str], idempotency_key: str) -> list[UpstreamReplacement]:
        """`POST /orders/{id}/replace` with `Idempotency-Key` (a replayed replacement is answered
        as the first one was, so a lost answer is retried safely)."""
        return self._one("POST", f"/orders/{_segment(order_id)}/replace", _replaced, body={"proxies": proxies},
                         idempotency_key=idempotency_key)

    # --- authorized IPs ---------------------------------------------------------------------------

    def authorized_ips(self, *, page_size: int = 100) -> list[UpstreamAuthorizedIP]:
        """`GET /account/authorized-ips`, every page."""
        return self._all_pages("/account/authorized-ips", _authorized_ip, page_size)

    def authorized_ip_add(self, ip: str) -> UpstreamAuthorizedIP:
        """`POST /account/authorized-ips`; a duplicate is a 409 the caller may ignore."""
        return self._one("POST", "/account/authorized-ips", _authorized_ip, body={"ip": ip}, repeatable=True)

    def authorized_ip_remove(self, authorized_ip_id: str) -> bool:
        """`DELETE /account/authorized-ips/{id}`: False when it was already gone."""
        try:
            self._request("DELETE", f"/account/authorized-ips/{_segment(authorized_ip_id)}")
        except UpstreamError as exc:
            if exc.upstream_status == 404:
                return False
            raise
        return True

    # --- sub-user proxies and their statistics ------------------------------------------------------

    def subusers(self, *, status: str | None = None, page_size: int = PAGE_SIZE["subusers"]) -> list[UpstreamSubUser]:
        """`GET /proxy`, every page."""
        return self._all_pages("/proxy", _subuser, page_size, {"status": status} if status else {})

    def subuser(self, proxy_id: str) -> UpstreamSubUser:
        return self._one("GET", f"/proxy/{_segment(proxy_id)}", _subuser)

    def subuser_create(self, *, order_id: str, name: str, **fields: Any) -> UpstreamSubUser:
        """`POST /proxy` under an upstream residential order. Not idempotent upstream: a lost
        answer is not retried (it may have created the sub-user), only a refused connection is."""
        _check_fields(fields, SUBUSER_CREATE_FIELDS, "subuser_create")
        return self._one("POST", "/proxy", _subuser, body={"order_id": order_id, "name": name, **fields})

    def subuser_update(self, proxy_id: str, **changes: Any) -> UpstreamSubUser:
        """`PATCH /proxy/{id}`: sets the given fields (`traffic_limit_gb=None` removes the limit)."""
        _check_fields(changes, SUBUSER_UPDATE_FIELDS, "subuser_update")
        return self._one("PATCH", f"/proxy/{_segment(proxy_id)}", _subuser, body=changes)

    def subuser_delete(self, proxy_id: str, *, missing_ok: bool = True) -> bool:
        """`DELETE /proxy/{id}`: True if deleted now, False if it was already gone (`missing_ok`,
        as after a retried delete whose first answer was lost)."""
        try:
            self._request("DELETE", f"/proxy/{_segment(proxy_id)}")
        except UpstreamError as exc:
            if missing_ok and exc.upstream_status == 404:
                return False
            raise
        return True

    def stats(self, *, date_from: date, date_to: date, proxy_id: str | None = None, group_by: str = "hour",
              page_size: int = PAGE_SIZE["stats"]) -> list[UpstreamStatsRow]:
        """`GET /stats` from `date_from` to `date_to` (inclusive, UTC days), every page."""
        params = {"from": date_from.isoformat(), "to": date_to.isoformat(), "group_by": group_by}
        if proxy_id:
            params["proxy_id"] = proxy_id
        return self._all_pages("/stats", _stats_row, page_size, params)

    # --- the transport -------------------------------------------------------------------------------

    def _one(self, method: str, path: str, parse: Callable[[dict], T], **kwargs) -> T:
        data, _meta = self._request(method, path, **kwargs)
        return self._parsed(method, path, parse, data)

    def _all_pages(self, path: str, parse: Callable[[dict], T], page_size: int, params: dict | None = None) -> list[T]:
        items: list[T] = []
        for page in range(1, MAX_PAGES + 1):
            data, meta = self._request("GET", path, params={**(params or {}), "page": page, "limit": page_size})
            if not isinstance(data, list):
                raise self._malformed("GET", path, 200, "a list was expected")
            items.extend(self._parsed("GET", path, parse, item) for item in data)
            total = meta.get("total")
            if not data or len(data) < page_size or (isinstance(total, int) and len(items) >= total):
                return items
        raise UpstreamError(f"The upstream seller's GET {path} has more than {MAX_PAGES} pages.",
                            upstream_status=200, upstream_error_type="too_many_pages")

    def _parsed(self, method: str, path: str, parse: Callable[[dict], T], data) -> T:
        try:
            if not isinstance(data, dict):
                raise TypeError("an object was expected")
            return parse(data)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise self._malformed(method, path, 200, f"{type(exc).__name__}: {exc}") from None

    def _request(self, method: str, path: str, **kwargs) -> tuple[Any, dict]:
        """`_attempts`, timed and counted (`portal_upstream_*`) by the path's first segment."""
        endpoint = path.strip("/").split("/", 1)[0] or "root"
        started = time.perf_counter()
        try:
            return self._attempts(method, path, **kwargs)
        except UpstreamError as exc:
            if exc.upstream_error_type in ("timeout", "unreachable"):
                kind = exc.upstream_error_type
            else:
                kind = f"http_{exc.upstream_status}" if exc.upstream_status else "error"
            upstream_errors.labels(endpoint, kind).inc()
            raise
        finally:
            upstream_calls.labels(endpoint, method).observe(time.perf_counter() - started)

    def _attempts(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None,
                  idempotency_key: str | None = None, repeatable: bool | None = None) -> tuple[Any, dict]:
        """(data, meta) of the envelope of a 2xx answer, after the retries the docstring above describes."""
        if repeatable is None:
            repeatable = method in {"GET", "HEAD", "PUT", "PATCH", "DELETE"} or bool(idempotency_key)
        headers = {}
        content = None
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if body is not None:
            content = json.dumps(body, default=_json_default).encode()
            headers["Content-Type"] = "application/json"
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                status, answer_headers, raw = self._send(method, path, params, content, headers)
            except httpx.TransportError as exc:
                reason = _describe(exc)
                if not last and (repeatable or isinstance(exc, _NOT_SENT)):
                    self._pause(method, path, attempt, attempts, reason, self._backoff(attempt))
                    continue
                kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "unreachable"
                tried = f" ({attempt} attempts)" if attempt > 1 else ""
                raise UpstreamError(self._clean(f"The upstream seller did not answer {method} {path}{tried}: {reason}."),
                                    upstream_error_type=kind) from None
            if status == 429:
                wait = _retry_after(answer_headers.get("Retry-After"))
                if not last and (wait if wait is not None else 0) <= self.max_retry_after_s:
                    self._pause(method, path, attempt, attempts, "HTTP 429",
                                wait if wait is not None else self._backoff(attempt))
                    continue
                raise self._refusal(method, path, status, raw, retry_after=wait)
            if status >= 500 and repeatable and not last:
                self._pause(method, path, attempt, attempts, f"HTTP {status}", self._backoff(attempt))
                continue
            if not 200 <= status < 300:
                raise self._refusal(method, path, status, raw)
            return self._envelope(method, path, status, raw)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _send(self, method, path, params, content, headers) -> tuple[int, httpx.Headers, bytes]:
        with self._http.stream(method, path, params=params, content=content, headers=headers) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                raise self._too_large(method, path, response.status_code)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise self._too_large(method, path, response.status_code)
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)  # jitter: callers that failed together spread out

    def _pause(self, method: str, path: str, attempt: int, attempts: int, reason: str, delay: float) -> None:
        logger.warning("upstream %s %s: %s; attempt %d of %d, next in %.2f s",
                       method, path, self._clean(reason), attempt, attempts, delay)
        time.sleep(delay)

    def _envelope(self, method: str, path: str, status: int, raw: bytes) -> tuple[Any, dict]:
        try:
            doc = json.loads(raw)
        except ValueError:
            raise self._malformed(method, path, status, "the answer is not JSON") from None
        if not isinstance(doc, dict) or doc.get("result") is not True or "data" not in doc:
            raise self._malformed(method, path, status, "the answer is not the API's envelope")
        meta = doc.get("meta")
        return doc["data"], meta if isinstance(meta, dict) else {}

    def _refusal(self, method: str, path: str, status: int, raw: bytes, *,
                 retry_after: float | None = None) -> UpstreamError:
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        error_type = message = ""
        meta: dict = {}
        if isinstance(doc, dict) and doc.get("result") is False:
            error_type = self._clean(str(doc.get("error_type") or ""))[:64]
            message = self._clean(str(doc.get("error") or ""))[:500]
            meta = _redacted(doc.get("meta"), self._key) if isinstance(doc.get("meta"), dict) else {}
        what = f"HTTP {status}" + (f" {error_type}" if error_type else "")
        said = f": {message}" if message else ("" if doc is not None else " (an answer that is not the API's envelope)")
        return UpstreamError(
            f"The upstream seller refused {method} {path}, {what}{said}", upstream_status=status,
            upstream_error_type=error_type, upstream_message=message, upstream_meta=meta, retry_after=retry_after,
        )

    def _malformed(self, method: str, path: str, status: int, why: str) -> UpstreamError:
        return UpstreamError(self._clean(f"The upstream seller's answer to {method} {path} is malformed: {why}."),
                             upstream_status=status, upstream_error_type="malformed_response")

    def _too_large(self, method: str, path: str, status: int) -> UpstreamError:
        return UpstreamError(
            f"The upstream seller's answer to {method} {path} is over {MAX_RESPONSE_BYTES // 2**20} MB.",
            upstream_status=status, upstream_error_type="too_large",
        )

    def _clean(self, text: str) -> str:
        return text.replace(self._key, REDACTED)


def _segment(value: str) -> str:
    """An id as one path segment, whatever it holds."""
    return quote(str(value), safe="")


def _check_fields(given: dict, allowed: Iterable[str], method: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise TypeError(f"{method}() got unknown fields: {', '.join(unknown)}")


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the answer"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})" if str(exc) else "cannot connect"
    return f"the connection failed ({type(exc).__name__}: {exc})" if str(exc) else "the connection failed"


def _retry_after(value: str | None) -> float | None:
    """Seconds of a Retry-After header (a number or an HTTP date); None when absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _redacted(value, key: str):
    if isinstance(value, str):
        return value.replace(key, REDACTED)
    if isinstance(value, dict):
        return {str(k): _redacted(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, key) for v in value]
    return value


# --- one client per process, base URL and key ---------------------------------------------------

_clients: dict[tuple, UpstreamClient] = {}
_clients_lock = threading.Lock()


def upstream_client(*, base_url: str | None = None, api_key: str | None = None) -> UpstreamClient:
    """This process's client of the upstream at `base_url` with `api_key` (by default the
    `UPSTREAM_*` settings), made once and reused, so its connections are pooled. Keyed by
    process too: a worker forked from a parent that had one opens its own connections."""
    from django.conf import settings

    base_url = settings.UPSTREAM_API_URL if base_url is None else base_url
    api_key = settings.UPSTREAM_API_KEY if api_key is None else api_key
    options = {
        "connect_timeout_s": settings.UPSTREAM_CONNECT_TIMEOUT_S, "read_timeout_s": settings.UPSTREAM_TIMEOUT_S,
        "retries": settings.UPSTREAM_RETRIES, "backoff_s": settings.UPSTREAM_BACKOFF_S,
        "backoff_max_s": settings.UPSTREAM_BACKOFF_MAX_S, "max_retry_after_s": settings.UPSTREAM_RETRY_AFTER_MAX_S,
    }
    ident = (os.getpid(), (base_url or "").strip().rstrip("/"), hashlib.sha256((api_key or "").encode()).hexdigest(),
             tuple(sorted(options.items())))
    with _clients_lock:
        client = _clients.get(ident)
        if client is None:
            client = _clients[ident] = UpstreamClient(base_url, api_key, **options)
        return client


def forget_upstream_clients() -> None:
    """Closes and drops this process's clients (settings changed, tests)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()

"""A provider for an upstream seller's JSON API (ORDER_PROVIDER=http).

The upstream API this adapter speaks (Bearer `UPSTREAM_API_KEY`):

    POST   {UPSTREAM_API_URL}/orders                 {reference, type, quantity, period_days, country}
           → 200/201 {"id": "<ref>", "proxies": [{host, port, username, password, protocol, country}]}
           (sent with `Idempotency-Key: <order id>`, so a retried POST allocates once)
    POST   {UPSTREAM_API_URL}/orders/{ref}/extend    {days} → 2xx
    DELETE {UPSTREAM_API_URL}/orders/{ref}           → 2xx or 404 (already gone)
    GET    {UPSTREAM_API_URL}/usage?since=<ISO time> → {"records": [{id, username, period_start,
           bytes_in, bytes_out, requests}]}

Every call has a timeout (`UPSTREAM_TIMEOUT_S`); connection errors, timeouts, 429 and 5xx are
retried `UPSTREAM_RETRIES` times with exponential backoff (`UPSTREAM_BACKOFF_S`, default
0.5 s, doubling); anything still failing, 4xx answers and malformed bodies raise UpstreamError.
"""

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

from django.conf import settings
from django.utils.dateparse import parse_datetime

from core.errors import UpstreamError

from .base import Provider, ProxyCredentials, UsageRecord

logger = logging.getLogger("orders.providers.http")

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MAX_RESPONSE_BYTES = 10 * 1024 * 1024


class _Retryable(Exception):
    pass


class HttpProvider(Provider):
    name = "http"
    synchronous = True

    def __init__(self, *, base_url=None, api_key=None, timeout=None, retries=None, backoff=None):
        self.base_url = (base_url if base_url is not None else settings.UPSTREAM_API_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else settings.UPSTREAM_API_KEY
        self.timeout = timeout if timeout is not None else settings.UPSTREAM_TIMEOUT_S
        self.retries = retries if retries is not None else settings.UPSTREAM_RETRIES
        self.backoff = backoff if backoff is not None else settings.UPSTREAM_BACKOFF_S

    # --- transport ---------------------------------------------------------------------

    def _once(self, method: str, path: str, body: dict | None, headers: dict) -> tuple[int, object]:
        if not self.base_url.startswith(("http://", "https://")):
            raise UpstreamError("UPSTREAM_API_URL must be an http:// or https:// URL.")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)  # noqa: S310
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - operator URL
                status, raw = response.status, response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read(4096)
        except TimeoutError as exc:
            raise _Retryable(f"timed out after {self.timeout:g} s") from exc
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise _Retryable(f"timed out after {self.timeout:g} s") from exc
            raise _Retryable(f"connection failed: {reason}") from exc
        if status in RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {status}")
        if status >= 400:
            return status, None
        if not raw:
            return status, {}
        try:
            return status, json.loads(raw)
        except ValueError as exc:
            raise UpstreamError("The proxy provider sent a malformed answer.") from exc

    def request(self, method: str, path: str, body: dict | None = None, *, headers=None,
                ok_statuses: tuple[int, ...] = ()) -> object:
        attempts = self.retries + 1
        last = ""
        for attempt in range(attempts):
            try:
                status, payload = self._once(method, path, body, headers or {})
            except _Retryable as exc:
                last = str(exc)
                logger.warning("upstream %s %s attempt %d/%d: %s", method, path, attempt + 1, attempts, last)
                if attempt + 1 < attempts:
                    time.sleep(self.backoff * (2**attempt))
                continue
            if status >= 400 and status not in ok_statuses:
                raise UpstreamError(f"The proxy provider refused the request (HTTP {status}).")
            return payload
        raise UpstreamError(f"The proxy provider failed ({last}); any charge has been refunded.")

    # --- the interface --------------------------------------------------------------------

    def allocate(self, order) -> list[ProxyCredentials]:
        body = {
            "reference": order.public_id,
            "type": order.type,
            "quantity": str(order.quantity.normalize()) if order.is_residential else int(order.quantity),
            "period_days": order.period_days,
            "country": order.country or None,
        }
        payload = self.request("POST", "/orders", body, headers={"Idempotency-Key": order.public_id})
        try:
            ref = str(payload["id"])
            proxies = [
                ProxyCredentials(
                    host=str(p["host"]), port=int(p["port"]), username=str(p.get("username") or ""),
                    password=str(p.get("password") or ""), protocol=str(p.get("protocol") or "http"),
                    country=str(p.get("country") or order.country or "")[:2].upper(),
                )
                for p in payload["proxies"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError("The proxy provider sent a malformed order.") from exc
        if not ref or not proxies:
            raise UpstreamError("The proxy provider delivered no proxies.")
        order.provider_ref = ref[:200]
        return proxies

    def extend(self, order, days: int) -> None:
        ref = urllib.parse.quote(order.provider_ref, safe="")
        self.request("POST", f"/orders/{ref}/extend", {"days": days})

    def release(self, order) -> None:
        if not order.provider_ref:
            return
        ref = urllib.parse.quote(order.provider_ref, safe="")
        self.request("DELETE", f"/orders/{ref}", ok_statuses=(404,))

    def usage(self, *, since: datetime | None = None) -> list[UsageRecord]:
        query = f"?{urllib.parse.urlencode({'since': since.isoformat()})}" if since else ""
        payload = self.request("GET", f"/usage{query}")
        try:
            return [
                UsageRecord(
                    id=str(r["id"]), username=str(r["username"]),
                    period_start=parse_datetime(str(r["period_start"])),
                    bytes_in=int(r["bytes_in"]), bytes_out=int(r["bytes_out"]),
                    requests=int(r.get("requests") or 0),
                )
                for r in payload["records"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError("The proxy provider sent malformed usage records.") from exc

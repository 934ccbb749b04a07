"""GET /metrics for Prometheus, and the middleware that times every request.

The series are defined in `core/metrics.py`. Here: the request timing (route name, method,
status), the Celery queue depths (read from the broker when scraped) and the exposition.

/metrics answers a caller that sends `Authorization: Bearer <METRICS_TOKEN>`, or whose address
(`core.http.client_ip`, so behind a proxy the client's, not the proxy's) is in
`METRICS_ALLOW_IPS`; anyone else gets a 404 envelope, as for a page that does not exist.
With neither setting, /metrics is closed.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from functools import cache
from pathlib import Path
from time import perf_counter

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from api.envelope import error_envelope
from core.http import client_ip
from core.metrics import http_requests

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Times each request and counts it by route name (the URL pattern's name, never the raw
    path), method and status. First in MIDDLEWARE, so refusals made by later middleware
    count too. A streamed answer is timed until its first byte is ready."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.static_prefix = settings.STATIC_URL or "/static/"

    def __call__(self, request):
        started = perf_counter()
        response = self.get_response(request)
        http_requests.labels(_route(request, self.static_prefix), _method(request.method),
                             str(response.status_code)).observe(perf_counter() - started)
        return response


def _route(request, static_prefix: str) -> str:
    match = request.resolver_match
    if match is not None:
        return match.view_name or match.route or "unnamed"
    return "static" if request.path.startswith(static_prefix) else "unresolved"


def _method(method: str | None) -> str:
    return method if method in METHODS else "other"


# --- Celery queue depth -------------------------------------------------------------------------


class QueueDepthCollector:
    """`portal_celery_queue_length{queue}`: messages waiting in each broker queue, read when
    Prometheus scrapes (Redis: LLEN of the queue's list; the embedded file-system broker: its
    message files). A broker that cannot be read is left out of the answer, not an error."""

    def collect(self):
        family = GaugeMetricFamily("portal_celery_queue_length", "Messages waiting in a Celery queue",
                                   labels=["queue"])
        for queue, depth in _queue_depths().items():
            family.add_metric([queue], depth)
        yield family


def _queue_depths() -> dict[str, int]:
    queues = settings.METRICS_CELERY_QUEUES
    broker = settings.CELERY_BROKER_URL or ""
    try:
        if broker.startswith(("redis://", "rediss://", "unix://")):
            client = _broker_redis(broker)
            with client.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.llen(queue)
                return dict(zip(queues, pipe.execute(), strict=True))
        if broker.startswith("filesystem://"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            names = os.listdir(folder)
            return {queue: sum(1 for n in names if n.endswith(f".{queue}.msg")) for queue in queues}
    except Exception:  # noqa: BLE001 - the broker is down: the other series still matter
        return {}
    return {}


@cache
def _broker_redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


# --- the exposition -----------------------------------------------------------------------------


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
            return True
    if settings.METRICS_ALLOW_IPS:
        try:
            address = ipaddress.ip_address(client_ip(request))
        except ValueError:
            return False
        return any(address in network for network in _networks(tuple(settings.METRICS_ALLOW_IPS)))
    return False


@cache
def _networks(entries: tuple[str, ...]) -> list:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # every web and worker process of this machine
    else:
        registry = CollectorRegistry()
        registry.register(ProcessSeries())
    registry.register(QueueDepthCollector())
    return registry


class ProcessSeries:
    """This process's own series (no multiprocess directory: tests, a single process)."""

    def collect(self):
        yield from REGISTRY.collect()


def metrics_view(request):
    if request.method not in ("GET", "HEAD"):
        return JsonResponse(error_envelope(f"Method {request.method} is not allowed here.", "method_not_allowed"),
                            status=405)
    if not _allowed(request):
        return JsonResponse(error_envelope("Not found.", "not_found"), status=404)
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)

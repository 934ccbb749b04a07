"""The Celery app: configuration comes from Django settings prefixed CELERY_."""

import os
from time import perf_counter

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

from core.env import env_int, env_str
from core.metrics import celery_tasks, multiprocess_dir_prepare

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # every installed app's tasks.py
app.autodiscover_tasks(["orders.residential"])  # a wing of the orders app, with a tasks.py of its own


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(task=None, **kwargs) -> None:
    """Around each task, Django's own connection policy, as for a web request: a connection is
    kept for `CONN_MAX_AGE` seconds and dropped once it is broken or too old.

    Celery's Django fix-up would otherwise close it around every task (settings turn that off
    with CELERY_DB_REUSE_MAX), and a new PostgreSQL session per task (a forked backend, SCRAM
    authentication) cost a provisioning task more CPU than its queries. Eager tasks run inside
    the caller's request and transaction, which is not the place to close anything."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_init.connect
def worker_metrics_serve(**kwargs) -> None:
    """A worker's own /metrics, for machines that run no web process: with METRICS_WORKER_PORT
    set, the worker's main process serves the series of all its pool processes (the same
    PROMETHEUS_MULTIPROC_DIR) on METRICS_WORKER_BIND (default 127.0.0.1), without a token:
    bind it to a private address only (docs/deploy.md)."""
    port = env_int("METRICS_WORKER_PORT", 0, minimum=0)
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        multiprocess_dir_prepare(folder)
    if not port:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    from portal.metrics import ProcessSeries, QueueDepthCollector

    registry = CollectorRegistry()
    if folder:
        MultiProcessCollector(registry)
    else:
        registry.register(ProcessSeries())
    registry.register(QueueDepthCollector())
    start_http_server(port, addr=env_str("METRICS_WORKER_BIND", "127.0.0.1"), registry=registry)


_started: dict[str, float] = {}  # task id → when it started, in this worker process


@task_prerun.connect
def task_timer_start(task_id=None, **kwargs) -> None:
    _started[task_id] = perf_counter()


@task_postrun.connect
def task_timer_stop(task_id=None, task=None, state=None, **kwargs) -> None:
    """`portal_celery_task_duration_seconds{task, state}` (core/metrics.py): how long each task
    ran and how it ended (SUCCESS, FAILURE, RETRY …), for the worker processes' sizing."""
    started = _started.pop(task_id, None)
    if started is None or task is None:
        return
    celery_tasks.labels(task.name, state or "UNKNOWN").observe(perf_counter() - started)

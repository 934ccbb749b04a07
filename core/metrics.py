"""The portal's Prometheus series, defined once for every layer that counts something.

Served at GET /metrics (`portal/metrics.py`, which adds the Celery queue depths read at scrape
time). Under gunicorn and Celery's prefork pool each process writes its figures to files in
`PROMETHEUS_MULTIPROC_DIR` (set before the process starts: `portal/webserver.py`, `dev.py`),
and /metrics sums them; without it (tests, `manage.py shell`) they live in the process.

Labels are short, bounded sets (a route's name, never a raw path; an outcome, never an error
text), and recording costs a dictionary look-up and an add: no I/O, no database.
"""

from __future__ import annotations

import os
from pathlib import Path

# A folder named but not made yet would fail every request that records something.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import Counter, Histogram  # noqa: E402 - reads the folder's name on import

# Request latency: most API answers take milliseconds, exports and orders up to seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0)

http_requests = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer a request, by route name, method and status (its _count is the request count)",
    ["route", "method", "status"], buckets=LATENCY_BUCKETS,
)
rate_limit_refusals = Counter(
    "portal_rate_limit_refusals_total", "Requests refused with 429, by rate-limit category", ["category"],
)
celery_tasks = Histogram(
    "portal_celery_task_duration_seconds", "Time a Celery task ran, by task name and final state",
    ["task", "state"], buckets=TASK_BUCKETS,
)
checks = Counter(
    "portal_checks_total", "Proxy checks recorded, by kind (job or pool) and outcome (live or dead)",
    ["kind", "outcome"],
)
upstream_calls = Histogram(
    "portal_upstream_call_duration_seconds",
    "Calls to the upstream seller's API (retries included), by endpoint and method",
    ["endpoint", "method"], buckets=LATENCY_BUCKETS,
)
upstream_errors = Counter(
    "portal_upstream_errors_total", "Upstream calls that failed, by endpoint and kind of failure",
    ["endpoint", "kind"],
)
webhook_deliveries = Counter(
    "portal_webhook_deliveries_total", "Attempts to deliver a customer's webhook event, by outcome",
    ["outcome"],
)
ledger_postings = Counter(
    "portal_ledger_postings_total", "Ledger entries committed, by entry type", ["type"],
)
usage_records = Counter(
    "portal_usage_records_total", "Usage records ingested, by source and outcome", ["source", "outcome"],
)


def multiprocess_dir_prepare(folder: str | os.PathLike) -> None:
    """Creates the multiprocess folder and removes the files of processes no longer running
    (`<kind>_<pid>.db`), as a server starts; a live process's files (another server's) stay."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for file in path.glob("*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if not pid.isdigit() or not _running(int(pid)):
            file.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def checks_record(kind: str, statuses) -> None:
    """Counts a batch of check results (`statuses`: each result's 'live' or 'dead')."""
    live = sum(1 for status in statuses if status == "live")
    total = len(statuses)
    if live:
        checks.labels(kind, "live").inc(live)
    if total - live:
        checks.labels(kind, "dead").inc(total - live)

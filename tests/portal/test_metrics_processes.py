"""/metrics under gunicorn with several worker processes: each writes its series to the
multiprocess folder, a scrape (served by any worker) sums them all, and starting the server
removes the files of processes that no longer run."""

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import stop_processes

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "multiprocess-metrics-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, **headers) -> tuple[int, bytes]:
    try:
        with urlopen(Request(url, headers=headers), timeout=10) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except HTTPError as exc:
        return exc.code, exc.read()


def _not_found_counted(body: bytes) -> float:
    """Requests answered 404 on other routes than /metrics itself."""
    for family in text_string_to_metric_families(body.decode()):
        if family.name == "portal_http_request_duration_seconds":
            return sum(s.value for s in family.samples if s.name.endswith("_count")
                       and s.labels["status"] == "404" and s.labels["route"] != "metrics")
    return 0.0


@pytest.fixture
def server(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    stale = metrics_dir / "counter_999999999.db"  # a process that no longer runs
    stale.write_bytes(b"\0" * 16)
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "PORTAL_ALLOW_DEMO_SECRETS": "1", "DEBUG": "0", "PORTAL_VAR_DIR": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "METRICS_TOKEN": TOKEN,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:portal.webserver", "portal.wsgi",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "1", "--max-requests", "10"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stdout.read().decode(errors="replace"))
        try:
            _get(f"{base}/api/v1/nowhere")
            break
        except OSError:
            time.sleep(0.2)
    yield base, metrics_dir, stale, proc
    stop_processes([proc])


def test_a_scrape_sums_every_worker_process(server):
    base, metrics_dir, stale, _ = server
    assert not stale.exists()
    before = _not_found_counted(_get(f"{base}/metrics", Authorization=f"Bearer {TOKEN}")[1])
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: _get(f"{base}/api/v1/nowhere")[0], range(60)))
    assert statuses == [404] * 60
    # Each worker is replaced after 10 requests (--max-requests): the 60 were answered by
    # several processes, most of them ended since, and their counts must still be there.
    pids = {f.stem.rsplit("_", 1)[-1] for f in metrics_dir.glob("histogram_*.db")}
    assert len(pids) >= 4, pids
    for _ in range(5):  # whichever worker answers the scrape, it sees all 60
        status, body = _get(f"{base}/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 200
        assert _not_found_counted(body) - before == 60
    assert _get(f"{base}/metrics")[0] == 404


def test_the_server_stops_cleanly_after_serving(server):
    """Stopping gunicorn ends its workers without an error in its log (each ended worker is
    taken out of the metrics' sums by the `child_exit` hook as it stops)."""
    base, _, _, proc = server
    assert _get(f"{base}/api/v1/nowhere")[0] == 404
    stop_processes([proc])
    log = proc.stdout.read().decode(errors="replace")
    assert proc.returncode == 0, log
    assert "Traceback" not in log and "Error" not in log, log

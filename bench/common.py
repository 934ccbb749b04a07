"""Shared helpers for the benchmarks: a PostgreSQL bench database, Redis, a portal server."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
BIN = ROOT / ".venv" / "bin"
DEFAULT_DB = "postgres://portal:portal@127.0.0.1:5432/portal_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def bench_env(**extra) -> dict:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    env.setdefault("REDIS_URL", os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    env.setdefault("PORTAL_ALLOW_DEMO_SECRETS", "1")
    env["DEBUG"] = "0"
    env.setdefault("LOG_LEVEL", "WARNING")
    env.update(extra)
    return env


def ensure_database(url: str) -> None:
    """Creates the bench database if it does not exist (needs a role allowed to create DBs)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str) -> str:
    out = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str = "/healthz", timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)  # noqa: S310 - loopback
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not come up")


def start_gunicorn(env: dict, port: int, *, workers: int, threads: int = 1) -> subprocess.Popen:
    args = [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    if threads > 1:
        args += ["--threads", str(threads)]
    args += ["--log-level", "warning", "--timeout", "60"]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)
    wait_http(port)
    return proc


def median(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# --------------------------------------------------------------------------- shared set-up
# Each benchmark has a database (and Redis db) of its own so they never disturb each other:
# BENCH_DATABASE_URL names the base, the benchmark appends "_<name>".


def bench_database_url(name: str) -> str:
    return f"{os.environ.get('BENCH_DATABASE_URL', DEFAULT_DB)}_{name}"


def bench_redis_url(db: int) -> str:
    """`BENCH_REDIS_URL` (a whole URL) wins; else db `db` of the local Redis."""
    return os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{db}")


def flush_redis(url: str) -> None:
    """The bench Redis db is scratch: empty it (stale Celery messages, counters)."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def guard_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"benchmarks only connect to 127.0.0.1, not {host!r} ({url})")


PLAN_SNIPPET = """
import json
from django.contrib.admin.sites import site
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from accounts.models import Plan, User

admin_email = "bench-operator@example.com"
operator = User.objects.filter(email=admin_email).first()
if operator is None:
    operator = User.objects.create_superuser(email=admin_email, password="bench-operator-1")
plan = Plan.objects.get(tier=TIER)
data = {k: ("" if v is None else v) for k, v in model_to_dict(plan).items() if k != "id"}
data.update(CHANGES)
data = {k: v for k, v in data.items() if not (v is False)}  # unchecked boxes are absent
client = Client()
client.force_login(operator)
url = reverse("admin:accounts_plan_change", args=[plan.pk])
response = client.post(url, data, HTTP_HOST="127.0.0.1")
assert response.status_code == 302, (response.status_code, getattr(response, "context_data", {}) and
    response.context_data["adminform"].form.errors)
plan.refresh_from_db()
print(json.dumps({k: getattr(plan, k) for k in CHANGES}))
"""


def set_plan(env: dict, tier: str, **changes) -> str:
    """Edit a plan through the Django admin's change form, as an operator would (the
    admin's save also clears the cached plan limits)."""
    code = PLAN_SNIPPET.replace("TIER", repr(tier)).replace("CHANGES", repr(changes))
    # The snippet's operator is signed in with force_login, without the admin's TOTP step.
    return manage({**env, "ADMIN_REQUIRE_MFA": "0"}, "shell", "-c", code).strip().splitlines()[-1]


def bench_account(env: dict, email: str, scopes: str) -> str:
    """The bench account (created once) and a fresh API key with `scopes`; returns the key."""
    try:
        manage(env, "createaccount", "--email", email, "--password", "bench-password-1")
    except subprocess.CalledProcessError:
        pass  # exists from an earlier run
    manage(env, "shell", "-c", (
        "from apikeys.models import ApiKey; from django.utils import timezone;"
        f"ApiKey.objects.filter(account__memberships__user__email='{email}', revoked_at__isnull=True)"
        ".update(revoked_at=timezone.now())"
    ))
    out = manage(env, "createapikey", "--email", email, "--scopes", scopes, "--name", "bench")
    return out.strip().splitlines()[-1]


def start_celery_worker(env: dict, *, concurrency: int = 1, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    args = [str(BIN / "celery"), "-A", "portal", "worker", "--loglevel", "WARNING",
            "--concurrency", str(concurrency), "--without-mingle", "--without-gossip", *extra]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)


def stop(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# --------------------------------------------------------------------------- memory
def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid: int) -> int:
    return _status_kb(pid, "VmRSS")


def hwm_kb(pid: int) -> int:
    """Peak RSS of one process over its life so far (the kernel's high-water mark)."""
    return _status_kb(pid, "VmHWM")


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (e.g. after fork) are split between sharers."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine have spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class PeakMemory:
    """Samples the RSS (and PSS) of a process tree in a background thread; `.peak_*` in MB."""

    def __init__(self, pid: int, interval: float = 0.1):
        import threading

        self.pid = pid
        self.interval = interval
        self.peak_rss_mb = 0.0
        self.peak_pss_mb = 0.0
        self.peak_single_mb = 0.0  # the largest single process of the tree
        self.hwm_mb: dict[int, float] = {}  # kernel's peak RSS of each process seen
        self._cpu_first: dict[int, float] = {}  # CPU seconds of each process when first seen
        self._cpu_last: dict[int, float] = {}
        self._busy_first = machine_busy_seconds()
        self.machine_busy_s = 0.0  # CPU seconds the whole machine spent busy meanwhile
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        pids = process_tree(self.pid)
        rss = [rss_kb(p) for p in pids]
        self.peak_rss_mb = max(self.peak_rss_mb, sum(rss) / 1024)
        self.peak_single_mb = max(self.peak_single_mb, max(rss, default=0) / 1024)
        self.peak_pss_mb = max(self.peak_pss_mb, sum(pss_kb(p) for p in pids) / 1024)
        for p in pids:
            hwm = hwm_kb(p) / 1024
            if hwm:
                self.hwm_mb[p] = max(self.hwm_mb.get(p, 0.0), hwm)
            cpu = cpu_seconds(p)
            if cpu:
                self._cpu_first.setdefault(p, cpu)
                self._cpu_last[p] = cpu
        self.machine_busy_s = machine_busy_seconds() - self._busy_first

    @property
    def cpu_s(self) -> float:
        """CPU seconds the process tree spent while sampled (each process from when it was
        first seen)."""
        return sum(last - self._cpu_first.get(p, 0.0) for p, last in self._cpu_last.items())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


def machine_line() -> str:
    from datetime import UTC, datetime

    load = os.getloadavg()
    return (f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  cores: {os.cpu_count()}  "
            f"load average: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")

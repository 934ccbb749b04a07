"""Real portal processes for the reseller-chain tests: each portal is a gunicorn web server
and a Celery worker on 127.0.0.1, with its own database, broker, cache and mail folder.

The web server is gunicorn with the project's configuration (`-c python:portal.webserver`,
as `python3 dev.py run` and production start it), not `runserver`: the same worker class
and error answers as deployed, several threads, and a clean stop on SIGTERM. The worker is
`celery -A portal worker` (prefork, one child, as deployed). Both are started in a session
of their own, so `kill()` ends each with everything it forked, as a machine dying would.

Data: PostgreSQL at `database_url` when given (its `public` schema is dropped and migrated
afresh by `prepare()`), else a SQLite file in the portal's folder (copied from one migrated
template per test session). Broker and cache: Redis at `redis_url` when given (its database
is flushed by `prepare()`), else the embedded default (a file-system broker in the portal's
folder, an in-process cache). E-mail goes to files in `<root>/mail` (`sent_mail()`).
"""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from email.message import Message
from pathlib import Path
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# What a portal's processes inherit from the test run; everything else is set here, so the
# run's own DATABASE_URL, REDIS_URL or UPSTREAM_* never leak into a portal.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "VIRTUAL_ENV")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _migrate(env: dict) -> None:
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"migrate failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def _reset_postgres(url: str) -> None:
    """An empty `public` schema, no session of an earlier portal left on the database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


class PortalProcess:
    """One portal: `prepare()` its data, `start()` it, `call()` into its database, `stop()`.

    `name` ("A", "B") labels its logs and worker; `root` is its folder (logs, mail, SQLite,
    broker). `env` adds or overrides settings (e.g. UPSTREAM_API_URL for a reseller)."""

    def __init__(self, name: str, root: Path, *, database_url: str | None = None, redis_url: str | None = None,
                 env: dict | None = None, sqlite_template: Path | None = None):
        self.name = name
        self.root = Path(root)
        self.database_url = database_url
        self.redis_url = redis_url
        self.env = dict(env or {})
        self.sqlite_template = sqlite_template
        self.port = free_port()
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.logs = self.root / "logs"
        self.mail = self.root / "mail"
        for folder in (self.root, self.logs, self.mail):
            folder.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"<portal {self.name} on {self.base_url}>"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"

    @property
    def sqlite_path(self) -> Path:
        return self.root / "portal.sqlite3"

    def environ(self) -> dict:
        env = {k: os.environ[k] for k in INHERITED if k in os.environ}
        env.update(
            DJANGO_SETTINGS_MODULE="portal.settings", PYTHONUNBUFFERED="1",
            PORTAL_VAR_DIR=str(self.root / "var"), PORTAL_ALLOW_DEMO_SECRETS="1", DEBUG="0",
            ALLOWED_HOSTS="127.0.0.1,localhost", SITE_URL=self.base_url, LOG_LEVEL="INFO",
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend", EMAIL_FILE_PATH=str(self.mail),
            CACHE_KEY_PREFIX=f"portal-{self.name.lower()}",
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        else:
            env["SQLITE_PATH"] = str(self.sqlite_path)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(self.env)
        return env

    # --- data ------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Fresh data: an empty, migrated database; an empty broker and cache."""
        if self.running:
            raise RuntimeError(f"{self} is running: stop it before resetting its data")
        shutil.rmtree(self.root / "var", ignore_errors=True)
        if self.database_url:
            _reset_postgres(self.database_url)
            _migrate(self.environ())
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
            if self.sqlite_template is not None:
                for suffix in ("", "-wal"):
                    if Path(f"{self.sqlite_template}{suffix}").exists():
                        shutil.copyfile(f"{self.sqlite_template}{suffix}", f"{self.sqlite_path}{suffix}")
            else:
                _migrate(self.environ())
        if self.redis_url:
            _flush_redis(self.redis_url)

    def call(self, function: str, **kwargs):
        """`tests.upstream.seeding.<function>(**kwargs)` run in this portal's environment; its answer."""
        done = subprocess.run(
            [sys.executable, "-m", "tests.upstream.seeding", function, json.dumps(kwargs)],
            cwd=ROOT, env=self.environ(), capture_output=True, text=True, timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"{self.name}: {function} failed:\n{done.stderr[-4000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`manage.py <args>` in this portal's environment (stdout and stderr as text)."""
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.environ(),
                              capture_output=True, text=True, timeout=120)
        if check and done.returncode:
            raise RuntimeError(f"{self.name}: manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    # --- processes ---------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return any(p is not None and p.poll() is None for p in (self.web, self.worker))

    def start(self, *, worker: bool = True, beat: bool = False) -> PortalProcess:
        self.start_web()
        if worker:
            self.start_worker(beat=beat)
        return self

    def start_web(self, *, threads: int = 8, timeout: float = 60) -> None:
        """gunicorn on this portal's port (the same one after a restart); returns once /healthz is 200."""
        if self.web is not None and self.web.poll() is None:
            raise RuntimeError(f"{self.name}: the web server is already running")
        deadline = time.monotonic() + 10
        while _port_open(self.port) and time.monotonic() < deadline:  # the last one still closing
            time.sleep(0.1)
        log = open(self.logs / "web.log", "ab")  # noqa: SIM115 - the child holds it
        self.web = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "python:portal.webserver", "portal.wsgi",
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", str(threads),
             "--timeout", "60", "--graceful-timeout", "5", "--access-logfile", "-", "--error-logfile", "-"],
            cwd=ROOT, env=self.environ(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited ({self.web.returncode}):\n{self.log_tail('web')}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: the web server did not come up in {timeout:g} s:\n{self.log_tail('web')}")

    def start_worker(self, *, beat: bool = False, timeout: float = 60) -> None:
        """`celery -A portal worker` (with beat if asked); returns once it says it is ready."""
        if self.worker is not None and self.worker.poll() is None:
            raise RuntimeError(f"{self.name}: the worker is already running")
        path = self.logs / "worker.log"
        offset = path.stat().st_size if path.exists() else 0
        args = [str(BIN / "celery"), "-A", "portal", "worker", "--loglevel", "INFO", "--pool", "prefork",
                "--concurrency", "1", "--without-mingle", "--without-gossip",
                "--hostname", f"portal-{self.name.lower()}-{self.port}@%h"]
        if beat:  # its schedule in the portal's data folder, which only SQLite creates by itself
            (self.root / "var").mkdir(parents=True, exist_ok=True)
            args += ["--beat", "--schedule", str(self.root / "var" / "celerybeat-schedule")]
        log = open(path, "ab")  # noqa: SIM115 - the child holds it
        self.worker = subprocess.Popen(args, cwd=ROOT, env=self.environ(), stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError(f"{self.name}: the worker exited ({self.worker.returncode}):\n{self.log_tail('worker')}")
            with open(path, "rb") as fh:
                fh.seek(offset)
                if b" ready." in fh.read():
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: the worker was not ready in {timeout:g} s:\n{self.log_tail('worker')}")

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to both at once (gunicorn and Celery finish what they are doing), then
        SIGKILL whatever is left of them after `timeout`."""
        procs = [p for p in (self.worker, self.web) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _kill(proc)

    def kill(self) -> None:
        """SIGKILL the web server and the worker with all their children at once, mid-request if need be."""
        self.kill_web()
        self.kill_worker()

    def kill_web(self) -> None:
        _kill(self.web)

    def kill_worker(self) -> None:
        _kill(self.worker)

    def restart(self, *, worker: bool = True, beat: bool = False) -> None:
        """Stopped or killed, started again on the same port and data."""
        self.stop()
        self.start(worker=worker, beat=beat)

    # --- what it did ------------------------------------------------------------------------------------

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))

    def log_tail(self, which: str, chars: int = 4000) -> str:
        path = self.logs / f"{which}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def sent_mail(self) -> list[Message]:
        """The e-mails the portal sent (each file of the file-based backend holds one or more)."""
        messages = []
        for path in sorted(self.mail.glob("*.log")):
            for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if chunk.strip():
                    messages.append(email.message_from_bytes(chunk.strip()))
        return messages

    def api(self, key: str) -> httpx.Client:
        """A plain HTTP client of this portal's API with `key` (for what tests check by hand)."""
        return httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                            trust_env=False)


def _kill(proc: subprocess.Popen | None) -> None:
    """SIGKILL the process's whole session (gunicorn's and Celery's children with it)."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be refused
        pass


def migrated_sqlite_template(folder: Path) -> Path:
    """A SQLite database with every migration applied, made once and copied for each portal."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "template.sqlite3"
    env = {k: os.environ[k] for k in INHERITED if k in os.environ}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", PORTAL_ALLOW_DEMO_SECRETS="1",
               PORTAL_VAR_DIR=str(folder / "var"), SQLITE_PATH=str(path))
    _migrate(env)
    return path


def database_label(url: str | None) -> str:
    """The database as tests may name it in messages: no password."""
    if not url:
        return "SQLite"
    parsed = urlparse(url)
    return f"PostgreSQL {parsed.hostname}:{parsed.port or 5432}/{parsed.path.lstrip('/')}"

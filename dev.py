#!/usr/bin/env python3
"""The README's two commands, needing nothing but Python 3.11+.

    python3 dev.py run     set up and serve the portal on http://127.0.0.1:8000
                           (SQLite, file-system Celery broker, worker + beat, gunicorn);
                           BIND=host:port serves elsewhere, and links in e-mails follow it
                           unless SITE_URL is set
    python3 dev.py test    set up, check the import layers (lint-imports), then run the whole
                           test suite (pytest); extra args go to pytest
    python3 dev.py screenshots
                           regenerate docs/screenshots/<page>-1366.png and -390.png of every
                           dashboard page (Chromium, CHROMIUM_PATH; seeded demo data)

Both create `.venv/` and install the project into it when pyproject.toml changed.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def sh(*args, **kwargs) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)


def ensure_env(extra: str) -> None:
    if not PY.exists():
        print("Creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extra}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installing dependencies ({extra}) …", flush=True)
    sh(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = "." if extra == "base" else f".[{extra}]"
    sh(PY, "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(digest)


WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 (recognised, not bound)


def site_url_for_bind(bind: str) -> str:
    """The address links in e-mails (invitations, list links) and the checker's judge carry when
    SITE_URL is not given: the one gunicorn serves on. A wildcard bind (all interfaces) names no
    address of its own, so the loopback stands in for it on the same port."""
    host, _, port = bind.rpartition(":")
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def run_env(base: dict) -> dict:
    """The environment `run` starts the portal with (the defaults `dev.py run` documents)."""
    env = dict(base)
    env.setdefault("DEBUG", "1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    env.setdefault("BIND", "127.0.0.1:8000")
    if not env["BIND"].startswith("unix:"):
        env.setdefault("SITE_URL", site_url_for_bind(env["BIND"]))
    return env


def run() -> int:
    ensure_env("base")
    env = run_env(os.environ)
    sh(PY, "manage.py", "migrate", "--noinput", env=env)
    sh(PY, "manage.py", "collectstatic", "--noinput", "--verbosity", "0", env=env)
    # A second portal from the same checkout (reselling the first) keeps its data apart: PORTAL_VAR_DIR.
    var = Path(env.get("PORTAL_VAR_DIR") or ROOT / "var")
    var.mkdir(parents=True, exist_ok=True)
    bind = env["BIND"]
    # Prometheus: the web and worker processes write their series to one folder, emptied here
    # (the previous run's figures start again from zero); GET /metrics sums it (docs/deploy.md).
    metrics_dir = Path(env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(var / "prometheus")))
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env.setdefault("METRICS_ALLOW_IPS", "127.0.0.1,::1")
    procs = [
        subprocess.Popen(
            [str(BIN / "celery"), "-A", "portal", "worker", "--beat", "--loglevel", "INFO",
             "--concurrency", env.get("WORKER_CONCURRENCY", "2"),
             "--schedule", str(var / "celerybeat-schedule")],
            cwd=ROOT, env=env,
        ),
        subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "python:portal.webserver", "portal.wsgi", "--bind", bind, "--workers", "1",
             "--threads", env.get("WEB_THREADS", "8"), "--access-logfile", "-", "--timeout", "120"],
            cwd=ROOT, env=env,
        ),
    ]
    print(f"Portal on http://{bind}/  (Ctrl-C stops web, worker and beat)", flush=True)
    if "SITE_URL" in env and "SITE_URL" not in os.environ:
        print(f"Links in e-mails point to {env['SITE_URL']}/ (set SITE_URL to the address "
              "customers open, when it is another)", flush=True)

    def stop(*_):
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return max((proc.returncode or 0) for proc in procs)


def test(args: list[str]) -> int:
    ensure_env("dev")
    env = dict(os.environ)
    # Tests run on the published demo secrets; production refuses them (see settings).
    env.setdefault("PORTAL_ALLOW_DEMO_SECRETS", "1")
    # The layers first (import-linter's contracts in pyproject.toml): a back-import fails the run.
    if subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, env=env).returncode:
        return 1
    code = subprocess.run([str(PY), "-m", "pytest", *args], cwd=ROOT, env=env).returncode
    return 0 if code == 5 else code  # 5: no tests collected (e.g. a -k that matched nothing)


def screenshots() -> int:
    """The page walk of tests/browser/test_layout.py, saving what it sees."""
    ensure_env("dev")
    env = dict(os.environ, PORTAL_ALLOW_DEMO_SECRETS="1", SCREENSHOTS_DIR=str(ROOT / "docs" / "screenshots"))
    return subprocess.run([str(PY), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/browser/test_layout.py",
                           "-k", "every_page"], cwd=ROOT, env=env).returncode


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test", "screenshots"}:
        print(__doc__)
        return 2
    if sys.argv[1] == "run":
        return run()
    if sys.argv[1] == "screenshots":
        return screenshots()
    return test(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

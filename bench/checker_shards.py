"""Sharded checks: a large check job on 1 vs 2 worker processes, and the pool re-check rate on
1, 2 and 4 worker processes.

    .venv/bin/python bench/checker_shards.py [--job-proxies 100000] [--job-workers 1,2]
        [--pool-proxies 200000] [--pool-workers 1,2,4] [--concurrency 1000] [--timeout 3]
        [--runs 1] [--skip-job] [--skip-pool]

Loopback proxies (bench/proxyfarm.py), each port carrying several proxies told apart by a
user name (`u17:p@127.0.0.1:port`; the farm's proxies ignore credentials), since a job or a
pool of 100,000+ distinct `host:port` pairs would not fit in one machine's ports. The judge
is the farm's asyncio judge (as a separate judge host would be), not the portal's /judge.

1. Job: 45 % HTTP, 45 % SOCKS5, 5 % refusing and 5 % silent (as bench/checker_throughput.py),
   submitted through `POST /api/v1/check` (gunicorn) when the list fits the endpoint's 2 MB body
   limit, else through the same service (`checker.services.jobs.job_create`) from a management
   shell (100,000 lines with user names are about 2.6 MB as JSON); run by one Celery worker with
   `--concurrency N` (N prefork processes) for N in `--job-workers`, CHECKER_SHARD_SIZE 5,000.
   Clock: the job's creation (the POST, or the job's `created_at` when made in the shell) →
   `GET /api/v1/jobs/{id}` says completed. Accuracy from the JSON export.
   Memory: the kernel's peak RSS (VmHWM) of each worker process (target < 300 MB each).
   Target: 2 processes >= 1.7x faster than 1, accuracy 1.0.
2. Pool: 70 % silent ports, 15 % HTTP, 15 % SOCKS5, imported into the public pool; for N in
   `--pool-workers` a worker with `--concurrency N`, every shard enqueued at once
   (`checkpool --enqueue --all`); clock from the first shard started to the last one
   finished (the worker's start-up is not counted). Reports
   proxies/s and the projected time for 1,000,000 proxies at the same rate.

Needs PostgreSQL and Redis on 127.0.0.1 (BENCH_DATABASE_URL + "_shards", BENCH_REDIS_URL or
db 14). Connects only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    PeakMemory,
    bench_account,
    bench_database_url,
    bench_env,
    bench_redis_url,
    ensure_database,
    flush_redis,
    free_port,
    guard_loopback,
    machine_line,
    manage,
    median,
    set_plan,
    start_celery_worker,
    start_gunicorn,
    stop,
)
from bench.proxyfarm import ProxyFarm, loop_name, raise_nofile  # noqa: E402

EMAIL = "bench-shards@example.com"
EXPECTED = {"http": "http", "socks5": "socks5", "silent": None, "refused": None}
PER_PORT = 10  # proxies (user names) per farm port


def build(farm: ProxyFarm, total: int, shares: dict[str, float]) -> list[tuple[str, str]]:
    """(kind, line) for `total` distinct proxies, kinds interleaved."""
    items = []
    for kind, share in shares.items():
        want = round(total * share)
        ports = farm.ports[kind]
        items += [(kind, f"u{i}:p@127.0.0.1:{ports[i % len(ports)]}") for i in range(want)]
    items = items[:total]
    order = sorted(range(len(items)), key=lambda i: (i * 7919) % len(items))
    return [items[i] for i in order]


def farm_for(total: int, shares: dict[str, float], processes: int) -> ProxyFarm:
    ports = {kind: max(1, -(-round(total * share) // PER_PORT)) for kind, share in shares.items()}
    return ProxyFarm(processes=processes, http=ports.get("http", 0), socks5=ports.get("socks5", 0),
                     silent=ports.get("silent", 0), refused=ports.get("refused", 0), judge_port=0)


def accuracy(items, verdicts: dict[str, tuple[str, str | None]]) -> tuple[float, Counter]:
    right = 0
    table: Counter = Counter()
    for kind, line in items:
        status, protocol = verdicts.get(line, ("missing", None))
        expected = EXPECTED[kind]
        right += (status == "live" and protocol == expected) if expected else status == "dead"
        table[(kind, status, protocol)] += 1
    return right / len(items), table


def api(base: str, key: str, method: str, path: str, body: dict | None = None, timeout: float = 120):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/api/v1/{path}", data=data, method=method)  # noqa: S310
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def wait_job(base: str, key: str, job_id: str, limit_s: float) -> dict:
    start = time.perf_counter()
    while True:
        job = api(base, key, "GET", f"jobs/{job_id}")["data"]
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        if time.perf_counter() - start > limit_s:
            raise SystemExit(f"job {job_id} not finished after {limit_s:.0f} s: {job}")
        time.sleep(0.1)


CHECK_BODY_LIMIT = 2 * 1024 * 1024  # the contract's limit on POST /check (checker/api.py)

JOB_CREATE = """
import os
from checker.services.jobs import job_create
from accounts.models import Account
account = Account.objects.get(memberships__user__email=os.environ["BENCH_EMAIL"])
with open(os.environ["BENCH_JOB_FILE"]) as f:
    job = job_create(account=account, proxies_text=f.read())
print(job.job_id, job.created_at.timestamp())
"""


def start_job(env: dict, base: str, key: str, email: str, text: str) -> tuple[str, float]:
    """Creates the job; returns (job id, its start on the wall clock). Through the API when the
    body fits its limit, else through the same service in a management shell."""
    body = json.dumps({"proxies_text": text})
    if len(body.encode()) <= CHECK_BODY_LIMIT:
        start = time.time()
        return api(base, key, "POST", "check", {"proxies_text": text})["data"]["job_id"], start
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
    try:
        out = manage({**env, "BENCH_EMAIL": email, "BENCH_JOB_FILE": f.name}, "shell", "-c", JOB_CREATE)
    finally:
        os.unlink(f.name)
    job_id, created = out.strip().splitlines()[-1].split()
    return job_id, float(created)


def worker_memory(memory: PeakMemory, main_pid: int) -> tuple[float, float]:
    """(largest pool process, celery main process) peak RSS in MB."""
    children = [mb for pid, mb in memory.hwm_mb.items() if pid != main_pid]
    return max(children, default=0.0), memory.hwm_mb.get(main_pid, 0.0)


def setup(args, **extra) -> dict:
    db_url = bench_database_url("shards")
    redis_url = bench_redis_url(14)
    guard_loopback(db_url)
    guard_loopback(redis_url)
    ensure_database(db_url)
    flush_redis(redis_url)
    env = bench_env(
        DATABASE_URL=db_url, REDIS_URL=redis_url, CHECKER_ALLOW_PRIVATE="1",
        CHECKER_CONCURRENCY=str(args.concurrency), CHECKER_TIMEOUT_S=str(args.timeout),
        CHECKER_SHARD_SIZE=str(args.shard_size), **extra,
    )
    manage(env, "migrate", "--noinput")
    return env


# ----------------------------------------------------------------------------- part 1
JOB_SHARES = {"http": 0.45, "socks5": 0.45, "silent": 0.05, "refused": 0.05}


def job_bench(args) -> list[dict]:
    farm = farm_for(args.job_proxies, JOB_SHARES, args.server_processes)
    runs = []
    with farm:
        judge = f"http://127.0.0.1:{farm.ports['judge'][0]}/judge"
        port = free_port()
        env = setup(args, CHECKER_JUDGE_URL=judge, SITE_URL=f"http://127.0.0.1:{port}")
        manage(env, "shell", "-c", "from checker.models import CheckJob; CheckJob.objects.all().delete()")
        print("plan:", set_plan(env, "free", limit_general=10**6, limit_check=10**6, limit_export=10**6,
                                max_check_job_size=max(10_000, args.job_proxies)))
        key = bench_account(env, EMAIL, "checker:read,checker:write")
        base = f"http://127.0.0.1:{port}"
        items = build(farm, args.job_proxies, JOB_SHARES)
        text = "\n".join(line for _, line in items)
        web = start_gunicorn(env, port, workers=1)
        try:
            for run in range(args.runs):
                for n in args.job_workers:
                    worker = start_celery_worker(env, concurrency=n)
                    try:
                        warm = "\n".join(line for _, line in items[:50])
                        wait_job(base, key, api(base, key, "POST", "check", {"proxies_text": warm})["data"]["job_id"], 120)
                        cpu0 = farm.cpu_seconds()
                        with PeakMemory(worker.pid, interval=0.5) as memory:
                            job_id, start = start_job(env, base, key, EMAIL, text)
                            job = wait_job(base, key, job_id, args.limit)
                            elapsed = time.time() - start
                        rows = api(base, key, "GET", f"jobs/{job['job_id']}/export?format=json", timeout=300)
                        rows = rows.get("data", rows) if isinstance(rows, dict) else rows
                        share, table = accuracy(items, {r["proxy_norm"]: (r["status"], r["protocol"]) for r in rows})
                        largest, main = worker_memory(memory, worker.pid)
                        runs.append({"workers": n, "elapsed": elapsed, "accuracy": share, "done": job["done"],
                                     "live": job["live"], "status": job["status"], "largest_mb": largest,
                                     "main_mb": main, "farm_cpu": farm.cpu_seconds() - cpu0, "table": table,
                                     "worker_cpu": memory.cpu_s, "machine_cpu": memory.machine_busy_s})
                        print(f"  job run {run + 1}, {n} worker process(es): {elapsed:6.1f} s ({job['status']}, "
                              f"{job['done']} done, {job['live']} live), accuracy {share:.4f}, largest worker "
                              f"process {largest:.0f} MB (celery main {main:.0f} MB), proxy servers CPU "
                              f"{runs[-1]['farm_cpu']:.0f} s, worker CPU {memory.cpu_s:.0f} s, machine busy "
                              f"{memory.machine_busy_s:.0f} CPU s", flush=True)
                    finally:
                        stop(worker, 30)
        finally:
            stop(web)
    return runs


# ----------------------------------------------------------------------------- part 2
POOL_SHARES = {"silent": 0.70, "http": 0.15, "socks5": 0.15}

POOL_LOAD = """
import os
from checker.models import PoolProxy, PoolShard
from checker.services.pools import pool_import, pool_shards_plan
PoolShard.objects.all().delete(); PoolProxy.objects.all().delete()
with open(os.environ["BENCH_POOL_FILE"]) as f:
    print(pool_import(pool="public", text=f.read()), pool_shards_plan(pool="public"))
"""

def pool_state(env: dict) -> dict:
    """The shards' progress, read straight from PostgreSQL (a `manage.py` per poll would cost a
    core-second each on the machine being measured)."""
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        n, done, checked, started, finished = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'done' AND finished_at IS NOT NULL),"
            " coalesce(sum(checked), 0), extract(epoch FROM min(started_at)),"
            " extract(epoch FROM max(finished_at))"
            " FROM checker_poolshard WHERE pool = 'public'").fetchone()
        (live,) = conn.execute(
            "SELECT count(*) FROM checker_poolproxy WHERE pool = 'public' AND last_status = 'live'").fetchone()
    return {"shards": n, "done": done, "checked": int(checked), "live": live,
            "started": float(started) if started is not None else None,
            "finished": float(finished) if finished is not None else None}


POOL_RESET = """
from checker.models import PoolShard
PoolShard.objects.update(status="done", finished_at=None, started_at=None, checked=0, live=0)
"""


def pool_bench(args) -> list[dict]:
    import tempfile

    runs = []
    farm = farm_for(args.pool_proxies, POOL_SHARES, args.server_processes)
    with farm, tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        judge = f"http://127.0.0.1:{farm.ports['judge'][0]}/judge"
        env = setup(args, CHECKER_JUDGE_URL=judge)
        items = build(farm, args.pool_proxies, POOL_SHARES)
        listing.write("\n".join(line for _, line in items))
        listing.flush()
        print("pool:", manage({**env, "BENCH_POOL_FILE": listing.name}, "shell", "-c", POOL_LOAD).strip(), flush=True)
        expected_live = sum(1 for kind, _ in items if EXPECTED[kind])
        for run in range(args.runs):
            for n in args.pool_workers:
                manage(env, "shell", "-c", POOL_RESET)
                worker = start_celery_worker(env, concurrency=n)
                try:
                    with PeakMemory(worker.pid, interval=0.5) as memory:
                        start = time.time()
                        manage(env, "checkpool", "--pool", "public", "--enqueue", "--all")
                        while True:
                            state = pool_state(env)
                            if state["done"] == state["shards"]:
                                break
                            if time.time() - start > args.limit:
                                raise SystemExit(f"pool re-check not finished after {args.limit:.0f} s: {state}")
                            time.sleep(1)
                    elapsed = state["finished"] - state["started"]  # the workers' time, not their start-up
                    rate = state["checked"] / elapsed
                    largest, main = worker_memory(memory, worker.pid)
                    runs.append({"workers": n, "elapsed": elapsed, "rate": rate, "checked": state["checked"],
                                 "live": state["live"], "expected_live": expected_live, "largest_mb": largest})
                    print(f"  pool run {run + 1}, {n} worker process(es): {state['checked']} checked in "
                          f"{elapsed:6.1f} s = {rate:6.0f} proxies/s ({state['live']} live of {expected_live} "
                          f"expected), 1,000,000 would take {1e6 / rate / 60:5.1f} min; largest worker process "
                          f"{largest:.0f} MB (celery main {main:.0f} MB)", flush=True)
                finally:
                    stop(worker, 30)
    return runs


# ----------------------------------------------------------------------------- main
def _joined(runs: list[dict], key: str, spec: str) -> str:
    return ", ".join(format(r[key], spec) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job-proxies", type=int, default=100_000)
    parser.add_argument("--job-workers", default="1,2")
    parser.add_argument("--pool-proxies", type=int, default=200_000)
    parser.add_argument("--pool-workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=1000, help="CHECKER_CONCURRENCY per process")
    parser.add_argument("--timeout", type=float, default=3.0, help="CHECKER_TIMEOUT_S")
    parser.add_argument("--shard-size", type=int, default=5000, help="CHECKER_SHARD_SIZE")
    parser.add_argument("--server-processes", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="rounds; each round runs every worker count")
    parser.add_argument("--limit", type=float, default=3600, help="seconds before a run is given up")
    parser.add_argument("--skip-job", action="store_true")
    parser.add_argument("--skip-pool", action="store_true")
    args = parser.parse_args()
    args.job_workers = [int(n) for n in args.job_workers.split(",") if n]
    args.pool_workers = [int(n) for n in args.pool_workers.split(",") if n]
    raise_nofile()
    print(machine_line())
    print(f"concurrency {args.concurrency} per process, timeout {args.timeout} s, shard size {args.shard_size}; "
          f"{args.server_processes} proxy server processes ({loop_name()}), {PER_PORT} proxies per port", flush=True)
    jobs = [] if args.skip_job else job_bench(args)
    pools = [] if args.skip_pool else pool_bench(args)

    print("\nsummary")
    if jobs:
        by_n = {n: median([r["elapsed"] for r in jobs if r["workers"] == n]) for n in args.job_workers}
        base = by_n[args.job_workers[0]]
        for n, elapsed in by_n.items():
            runs = [r for r in jobs if r["workers"] == n]
            print(f"  job of {args.job_proxies} proxies, {n} worker process(es): {elapsed:.1f} s "
                  f"(speed-up {base / elapsed:.2f}x; runs {_joined(runs, 'elapsed', '.1f')}), "
                  f"accuracy {min(r['accuracy'] for r in runs):.4f}, largest worker process "
                  f"{max(r['largest_mb'] for r in runs):.0f} MB")
        for (kind, status, protocol), count in sorted(jobs[-1]["table"].items(), key=str):
            print(f"    last run: {kind:7} -> {status} {protocol}: {count}")
    if pools:
        for n in args.pool_workers:
            runs = [r for r in pools if r["workers"] == n]
            rate = median([r["rate"] for r in runs])
            print(f"  pool of {args.pool_proxies} proxies (70 % silent), {n} worker process(es): {rate:.0f} proxies/s "
                  f"(runs {_joined(runs, 'rate', '.0f')}); 1,000,000 projected "
                  f"{1e6 / rate / 60:.1f} min; live found {runs[-1]['live']} of {runs[-1]['expected_live']}; "
                  f"largest worker process {max(r['largest_mb'] for r in runs):.0f} MB")


if __name__ == "__main__":
    main()

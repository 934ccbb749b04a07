"""Checker throughput: a 10,000-proxy check job end to end, and the engine vs proxybroker2.

    .venv/bin/python bench/checker_throughput.py [--proxies 10000] [--concurrency 1000]
        [--timeout 3] [--e2e-runs 3] [--compare-runs 3] [--skip-e2e] [--skip-compare]

Loopback proxies (bench/proxyfarm.py): 45 % live HTTP forward proxies, 45 % live SOCKS5
proxies, 5 % refusing ports and 5 % silent ports (accept, never answer), every one on a
port of its own, served by a few asyncio server processes (`--server-processes`, 2; on uvloop
when installed — it stands in for proxies on other machines, so the cheaper the better).

1. End to end (target < 15 s, worker peak memory < 300 MB): gunicorn (`--web-workers`, 2
   sync workers, which also serve the judge) + a real Celery worker (`--worker-concurrency` 1)
   process on Redis + PostgreSQL (CHECKER_ALLOW_PRIVATE=1, CHECKER_CONCURRENCY and
   CHECKER_TIMEOUT_S from the options, the portal's own /judge as the judge). The clock runs
   from `POST /api/v1/check` to `GET /api/v1/jobs/{id}` saying `completed`. Memory: RSS of
   the worker's process tree (celery main + pool processes), sampled, and the kernel's
   peak RSS (VmHWM) of each of its processes. Accuracy: the job's items vs what each port is.
2. Engine alone vs proxybroker2's checker (target: ours ≥ 2x faster, accuracy equal or
   better), alternating A and B in one run, same proxies, same judge (an asyncio judge on
   127.0.0.1:80 — proxybroker's SOCKS negotiators always ask for port 80), same concurrency
   and timeout, one attempt each. Both run in fresh processes; proxybroker2 from PyPI in
   its own virtualenv (bench/.venv-proxybroker, created on first use). Two modes:
   `known` (each line carries its protocol; proxybroker gets it as the proxy's expected
   type) and `auto` (no protocol given: both find it among HTTP, CONNECT, SOCKS4, SOCKS5).

Needs PostgreSQL and Redis on 127.0.0.1 (BENCH_DATABASE_URL + "_checker", BENCH_REDIS_URL or
db 9) and root or CAP_NET_BIND_SERVICE for port 80 (part 2). Connects only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    ROOT,
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

PB_VENV = ROOT / "bench" / ".venv-proxybroker"
PB_PY = PB_VENV / "bin" / "python"
EXPECTED_PROTOCOL = {"http": "http", "socks5": "socks5", "silent": None, "refused": None}
PB_TYPE = {"http": "HTTP", "socks5": "SOCKS5"}
AUTO_TYPES = ["HTTP", "CONNECT:80", "SOCKS4", "SOCKS5"]


# ----------------------------------------------------------------------------- the list
def build_list(farm: ProxyFarm, total: int) -> list[tuple[str, int]]:
    """(kind, port) for `total` proxies, kinds interleaved so every wave mixes them."""
    shares = {"http": 0.45, "socks5": 0.45, "silent": 0.05, "refused": 0.05}
    items = []
    for kind, share in shares.items():
        ports = farm.ports[kind]
        items += [(kind, ports[i]) for i in range(min(len(ports), round(total * share)))]
    items = items[:total]
    order = sorted(range(len(items)), key=lambda i: (i * 7919) % len(items))
    return [items[i] for i in order]


def farm_for(total: int, processes: int, judge_port: int | None = None) -> ProxyFarm:
    return ProxyFarm(
        processes=processes,
        http=round(total * 0.45),
        socks5=round(total * 0.45),
        silent=round(total * 0.05),
        refused=round(total * 0.05),
        judge_port=judge_port,
    )


def accuracy(items: list[tuple[str, int]], verdicts: dict[int, tuple[str, str | None]]) -> tuple[float, Counter]:
    """Share of proxies judged right: live ones live with the right protocol, dead ones dead."""
    right = 0
    table: Counter = Counter()
    for kind, port in items:
        status, protocol = verdicts.get(port, ("dead", None))
        expected = EXPECTED_PROTOCOL[kind]
        ok = (status == "live" and protocol == expected) if expected else status == "dead"
        right += ok
        table[(kind, status, protocol)] += 1
    return right / len(items), table


# ----------------------------------------------------------------------------- part 1
def api(base: str, key: str, method: str, path: str, body: dict | None = None, timeout: float = 30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/api/v1/{path}", data=data, method=method)  # noqa: S310
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def wait_job(base: str, key: str, job_id: str, limit_s: float) -> tuple[dict, float]:
    start = time.perf_counter()
    while True:
        job = api(base, key, "GET", f"jobs/{job_id}")["data"]
        if job["status"] in ("completed", "failed", "cancelled"):
            return job, time.perf_counter()
        if time.perf_counter() - start > limit_s:
            raise SystemExit(f"job {job_id} not finished after {limit_s:.0f} s: {job}")
        time.sleep(0.05)


def job_phases(env: dict, job_id: str) -> dict:
    """Seconds the job waited for a worker and ran (from the job row's timestamps)."""
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute(
            "SELECT EXTRACT(EPOCH FROM started_at - created_at), EXTRACT(EPOCH FROM finished_at - started_at)"
            " FROM checker_checkjob WHERE job_id = %s", (job_id,)).fetchone()
    return {"queued_s": float(row[0] or 0), "running_s": float(row[1] or 0)}


def end_to_end(args) -> list[dict]:
    db_url = bench_database_url("checker")
    redis_url = bench_redis_url(9)
    guard_loopback(db_url)
    guard_loopback(redis_url)
    ensure_database(db_url)
    flush_redis(redis_url)
    port = free_port()
    env = bench_env(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        CHECKER_ALLOW_PRIVATE="1",
        CHECKER_CONCURRENCY=str(args.concurrency),
        CHECKER_TIMEOUT_S=str(args.timeout),
        CHECKER_JUDGE_URL=f"http://127.0.0.1:{port}/judge",
        SITE_URL=f"http://127.0.0.1:{port}",
    )
    manage(env, "migrate", "--noinput")
    manage(env, "shell", "-c", "from checker.models import CheckJob; CheckJob.objects.all().delete()")
    print("plan:", set_plan(env, "free", limit_general=10**6, limit_check=10**6, limit_export=10**6,
                            max_check_job_size=max(10_000, args.proxies)))
    key = bench_account(env, "bench-checker@example.com", "checker:read,checker:write")
    base = f"http://127.0.0.1:{port}"
    runs = []
    web = worker = None
    try:
        # the web server first: the farm's thousands of ports could otherwise take its port
        web = start_gunicorn(env, port, workers=args.web_workers)
        worker = start_celery_worker(env, concurrency=args.worker_concurrency)
        with farm_for(args.proxies, args.server_processes) as farm:
            items = build_list(farm, args.proxies)
            text = "\n".join(f"127.0.0.1:{p}" for _, p in items)
            # warm-up: the worker is up and the path is hot once a small job completes
            warm = "\n".join(f"127.0.0.1:{p}" for _, p in items[:50])
            job = api(base, key, "POST", "check", {"proxies_text": warm})["data"]
            wait_job(base, key, job["job_id"], 120)
            for run in range(args.e2e_runs):
                cpu0 = farm.cpu_seconds()
                with PeakMemory(worker.pid) as memory:
                    start = time.perf_counter()
                    job = api(base, key, "POST", "check", {"proxies_text": text})["data"]
                    submitted = time.perf_counter()
                    job, end = wait_job(base, key, job["job_id"], 120)
                elapsed = end - start
                rows = api(base, key, "GET", f"jobs/{job['job_id']}/export?format=json", timeout=60)
                if isinstance(rows, dict):
                    rows = rows.get("data", rows)
                verdicts = {}
                for row in rows:
                    verdicts[int(row["proxy_norm"].rsplit(":", 1)[1])] = (row["status"], row["protocol"])
                share, table = accuracy(items, verdicts)
                phases = job_phases(env, job["job_id"])
                runs.append({
                    "elapsed": elapsed, "submit": submitted - start, "status": job["status"],
                    "done": job["done"], "live": job["live"], "accuracy": share,
                    "rss_tree": memory.peak_rss_mb, "pss_tree": memory.peak_pss_mb,
                    "hwm_max": max(memory.hwm_mb.values(), default=0.0),
                    "server_cpu": farm.cpu_seconds() - cpu0, "table": table, **phases,
                })
                r = runs[-1]
                print(f"  e2e run {run + 1}: {elapsed:5.2f} s ({r['status']}, {r['done']} done, "
                      f"{r['live']} live; submit {r['submit'] * 1000:.0f} ms), accuracy {share:.4f}, "
                      f"worker tree peak RSS {r['rss_tree']:.0f} MB (PSS {r['pss_tree']:.0f} MB, "
                      f"largest process {r['hwm_max']:.0f} MB), proxy servers CPU {r['server_cpu']:.1f} s; "
                      f"queued {r['queued_s']:.2f} s, running {r['running_s']:.2f} s", flush=True)
    finally:
        stop(worker, 30)
        stop(web)
    return runs


# ----------------------------------------------------------------------------- part 2
def ensure_proxybroker() -> None:
    if PB_PY.exists() and subprocess.run([str(PB_PY), "-c", "import proxybroker2"],
                                         capture_output=True).returncode == 0:
        return
    print("installing proxybroker2 into bench/.venv-proxybroker …", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PB_VENV)], check=True)
    subprocess.run([str(PB_PY), "-m", "pip", "install", "--quiet", "proxybroker2"], check=True)


def engine_job(items, mode: str) -> list[str]:
    if mode == "known":
        return [f"{EXPECTED_PROTOCOL[k] or 'http'}://127.0.0.1:{p}" for k, p in items]
    return [f"127.0.0.1:{p}" for _, p in items]


def run_engine(job_path: str) -> None:
    """Child process: the portal's engine over the job file; prints one JSON line."""
    import asyncio

    from checker.engine.check import CheckConfig, check_many
    from checker.engine.parse import parse_proxy_line

    raise_nofile()
    with open(job_path) as f:
        job = json.load(f)
    specs = [parse_proxy_line(line) for line in job["lines"]]
    config = CheckConfig(judge_url=job["judge_url"], timeout_s=job["timeout"],
                         concurrency=job["concurrency"], allow_private=True)
    start = time.perf_counter()
    cpu0 = time.process_time()
    results = asyncio.run(check_many(specs, config))
    elapsed = time.perf_counter() - start
    out = {r.proxy.port: [r.status, r.protocol] for r in results}
    print(json.dumps({"elapsed": elapsed, "cpu": time.process_time() - cpu0, "results": out}))


def _child(argv: list[str], limit_s: float) -> dict:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=limit_s, cwd=ROOT)  # noqa: S603
    if out.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(args) -> dict:
    ensure_proxybroker()
    judge_port = 80
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", judge_port))
        except OSError as exc:
            raise SystemExit(f"the comparison needs 127.0.0.1:80 for its judge ({exc}); run as root, "
                             "free the port, or pass --skip-compare") from None
    results: dict[str, dict[str, list]] = {}
    with farm_for(args.proxies, args.server_processes, judge_port=judge_port) as farm, \
            tempfile.TemporaryDirectory() as tmp:
        items = build_list(farm, args.proxies)
        judge_url = "http://127.0.0.1/judge"  # port 80, written without it: proxybroker2
        # takes the URL's netloc for a host name and cannot resolve "127.0.0.1:80"
        limit = max(120.0, args.proxies / args.concurrency * args.timeout * 6)
        for mode in args.modes:
            ours_path, theirs_path = os.path.join(tmp, f"ours-{mode}.json"), os.path.join(tmp, f"pb-{mode}.json")
            with open(ours_path, "w") as f:
                json.dump({"lines": engine_job(items, mode), "judge_url": judge_url,
                           "timeout": args.timeout, "concurrency": args.concurrency}, f)
            pb_proxies = [["127.0.0.1", p, [PB_TYPE[k]] if mode == "known" and k in PB_TYPE else []]
                          for k, p in items]
            with open(theirs_path, "w") as f:
                json.dump({"proxies": pb_proxies, "judge_url": judge_url, "timeout": args.timeout,
                           "concurrency": args.concurrency, "limit_s": limit,
                           "types": ["HTTP", "SOCKS5"] if mode == "known" else AUTO_TYPES}, f)
            mode_results = results.setdefault(mode, {"ours": [], "theirs": []})
            for run in range(args.compare_runs):
                ours = _child([sys.executable, __file__, "--engine-run", ours_path], limit + 30)
                verdicts = {int(p): (s, proto) for p, (s, proto) in ours["results"].items()}
                acc, table = accuracy(items, verdicts)
                mode_results["ours"].append((ours["elapsed"], ours["cpu"], acc, table))
                theirs = _child([str(PB_PY), str(ROOT / "bench" / "proxybroker_run.py"), theirs_path], limit + 30)
                if "error" in theirs:
                    print(f"  proxybroker2 ({mode}): {theirs['error']}")
                    mode_results["theirs"].append((float("inf"), 0.0, 0.0, Counter()))
                else:
                    verdicts = {}
                    for hostport, types in theirs["results"].items():
                        port = int(hostport.rsplit(":", 1)[1])
                        proto = next((k for k, t in PB_TYPE.items() if t in types), (types or [None])[0])
                        verdicts[port] = ("live", proto)
                    acc_t, table_t = accuracy(items, verdicts)
                    mode_results["theirs"].append((theirs["elapsed"], theirs["cpu"], acc_t, table_t))
                o, t = mode_results["ours"][-1], mode_results["theirs"][-1]
                print(f"  {mode:5} run {run + 1}: engine {o[0]:6.2f} s (CPU {o[1]:5.2f} s, accuracy {o[2]:.4f})"
                      f" | proxybroker2 {t[0]:6.2f} s (CPU {t[1]:5.2f} s, accuracy {t[2]:.4f})"
                      f" | ratio {t[0] / o[0]:.2f}x", flush=True)
    return results


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--e2e-runs", type=int, default=3)
    parser.add_argument("--compare-runs", type=int, default=3)
    parser.add_argument("--modes", default="known,auto", help="comparison modes: known, auto")
    # On 2 cores shared by web, worker, PostgreSQL, Redis and the proxies, more processes only
    # add context switches: 2 gunicorn workers and 2 proxy processes measured fastest.
    parser.add_argument("--server-processes", type=int, default=2)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--engine-run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_run:
        run_engine(args.engine_run)
        return
    args.modes = [m for m in args.modes.split(",") if m]
    raise_nofile()
    print(machine_line())
    print(f"{args.proxies} proxies (45 % HTTP, 45 % SOCKS5, 5 % refusing, 5 % silent), "
          f"concurrency {args.concurrency}, timeout {args.timeout} s; {args.server_processes} proxy server "
          f"processes ({loop_name()})", flush=True)
    e2e = [] if args.skip_e2e else end_to_end(args)
    cmp = {} if args.skip_compare else compare(args)

    print("\nsummary")
    if e2e:
        e2e_runs = ", ".join(f"{r['elapsed']:.2f}" for r in e2e)
        print(f"  end to end (API submit -> completed), median of {len(e2e)}: "
              f"{median([r['elapsed'] for r in e2e]):.2f} s (target < 15 s; runs "
              f"{e2e_runs}), accuracy {median([r['accuracy'] for r in e2e]):.4f}")
        print(f"  worker peak memory: tree RSS {max(r['rss_tree'] for r in e2e):.0f} MB, tree PSS "
              f"{max(r['pss_tree'] for r in e2e):.0f} MB, largest process {max(r['hwm_max'] for r in e2e):.0f} MB "
              f"(target < 300 MB; celery --concurrency {args.worker_concurrency})")
        for (kind, status, protocol), count in sorted(e2e[-1]["table"].items(), key=str):
            print(f"    last run: {kind:7} -> {status} {protocol}: {count}")
    for mode, res in cmp.items():
        ours, theirs = res["ours"], res["theirs"]
        ratios = [t[0] / o[0] for o, t in zip(ours, theirs, strict=True)]
        cpu_ratios = [t[1] / o[1] for o, t in zip(ours, theirs, strict=True) if o[1]]
        print(f"  engine vs proxybroker2 ({mode}), median of {len(ours)} alternating runs: "
              f"engine {median([o[0] for o in ours]):.2f} s, proxybroker2 {median([t[0] for t in theirs]):.2f} s, "
              f"ratio {median(ratios):.2f}x (target >= 2x; runs {', '.join(f'{r:.2f}' for r in ratios)}); "
              f"accuracy {median([o[2] for o in ours]):.4f} vs {median([t[2] for t in theirs]):.4f}; "
              f"checker CPU {median([o[1] for o in ours]):.2f} s vs {median([t[1] for t in theirs]):.2f} s "
              f"({median(cpu_ratios):.2f}x)")
        for label, runs in (("engine", ours), ("proxybroker2", theirs)):
            for (kind, status, protocol), count in sorted(runs[-1][3].items(), key=str):
                print(f"    {label} last run: {kind:7} -> {status} {protocol}: {count}")


if __name__ == "__main__":
    main()

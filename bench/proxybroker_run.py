"""Runs proxybroker2's checker over a list of loopback proxies (its own virtualenv's Python).

    bench/.venv-proxybroker/bin/python bench/proxybroker_run.py JOB.json

JOB.json: {"judge_url", "timeout", "concurrency", "types", "proxies": [[host, port, [types]]…],
"limit_s"}. Driven through proxybroker2's public Python API (`Broker.find(data=…, types=…)`)
with `max_tries=1` (one attempt, like the portal's engine) and no providers. One shim only:
proxybroker asks outside web services for the machine's public address before checking;
here that address is 127.0.0.1 and nothing outside is contacted. Prints one JSON line:
{"elapsed", "cpu", "results": {"host:port": [types found]}} (absent = not working).
"""

import asyncio
import json
import logging
import sys
import time
import warnings

from proxybroker2 import Broker
from proxybroker2.resolver import Resolver


async def _loopback_ip(self):
    return "127.0.0.1"


Resolver.get_real_ext_ip = _loopback_ip  # never ask the internet who we are


async def run(job: dict) -> dict:
    queue: asyncio.Queue = asyncio.Queue()
    broker = Broker(
        queue,
        timeout=job["timeout"],
        max_conn=job["concurrency"],
        max_tries=1,
        judges=[job["judge_url"]],
        providers=[],
        stop_broker_on_sigint=False,
    )
    data = [(host, port, tuple(types)) for host, port, types in job["proxies"]]
    found: dict[str, list[str]] = {}
    start = time.perf_counter()
    cpu0 = time.process_time()
    async with asyncio.timeout(job.get("limit_s", 300)):
        await broker.find(types=job["types"], data=data)
        while True:
            proxy = await queue.get()
            if proxy is None:
                break
            found[f"{proxy.host}:{proxy.port}"] = sorted(proxy.types)
    elapsed = time.perf_counter() - start
    return {"elapsed": elapsed, "cpu": time.process_time() - cpu0, "results": found}


def main() -> None:
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    with open(sys.argv[1]) as f:
        job = json.load(f)
    try:
        out = asyncio.run(run(job))
    except TimeoutError:
        out = {"error": f"did not finish within {job.get('limit_s', 300)} s"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

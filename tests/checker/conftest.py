"""Real proxy servers (pproxy subprocesses) and a judge on 127.0.0.1 for the checker tests.

The asyncio test servers of `tests/checker/servers.py` run on an event loop in a background
thread, so synchronous Django tests can use them.
"""

import asyncio
import threading

import pytest

from tests.checker.servers import JudgeServer, SilentServer, start_pproxy, stop_process


class LoopThread:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="session")
def aio():
    loop = LoopThread()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def judge_server(aio):
    server = aio.run(JudgeServer().start())
    yield server
    aio.run(server.stop())


@pytest.fixture
def silent_server(aio):
    """Accepts connections and never answers."""
    server = aio.run(SilentServer().start())
    yield server
    aio.run(server.stop())


@pytest.fixture(scope="session")
def proxies():
    """Real proxy servers: {name: port}. http serves forward and CONNECT."""
    started = {}
    try:
        for name, scheme, creds in [
            ("http", "http", None),
            ("socks5", "socks5", None),
            ("socks4", "socks4", None),
            ("http_auth", "http", "alice:s3cret"),
            ("socks5_auth", "socks5", "bob:pa55"),
        ]:
            started[name] = start_pproxy(scheme, credentials=creds)
        yield {name: port for name, (_, port) in started.items()}
    finally:
        for proc, _ in started.values():
            stop_process(proc)


@pytest.fixture
def checker_on(settings, judge_server):
    """The checker pointed at the local judge, loopback allowed, short timeouts."""
    settings.CHECKER_JUDGE_URL = judge_server.url
    settings.CHECKER_ALLOW_PRIVATE = True
    settings.CHECKER_TIMEOUT_S = 3.0
    settings.CHECKER_CONCURRENCY = 50
    return settings


@pytest.fixture
def submit(api, django_capture_on_commit_callbacks):
    """submit(key, body, headers=None) → response of POST /check with the job run (eager)."""

    def do(key, body, headers=None):
        with django_capture_on_commit_callbacks(execute=True):
            return api(key).post("check", body, headers=headers)

    return do

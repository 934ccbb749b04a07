"""The checker engine against real proxy servers on 127.0.0.1.

pproxy (from PyPI) runs in subprocesses as HTTP (forward + CONNECT), SOCKS4 and SOCKS5
proxies, with and without credentials; small asyncio servers from tests/checker/servers.py play
the judge, a header-adding HTTP proxy, and misbehaving ports (silent, garbage, dribbling,
closing); a closed port refuses.
"""

import asyncio
import time

import pytest

from checker.engine.check import CheckConfig, check_many, run_checks
from checker.engine.parse import ProxySpec, parse_proxy_line, parse_proxy_list
from tests.checker.servers import (
    CloseServer,
    DribbleServer,
    GarbageServer,
    HeaderProxy,
    JudgeServer,
    SilentServer,
    TextSite,
    closed_port,
    start_pproxy,
    stop_process,
)

CREDS = "alice:s3cret"


@pytest.fixture(scope="module")
def pproxies():
    started = {}
    try:
        for name, scheme, creds in [
            ("http", "http", None),
            ("socks4", "socks4", None),
            ("socks5", "socks5", None),
            ("http_auth", "http", CREDS),
            ("socks5_auth", "socks5", CREDS),
        ]:
            started[name] = start_pproxy(scheme, credentials=creds)
        yield {name: port for name, (_, port) in started.items()}
    finally:
        for proc, _ in started.values():
            stop_process(proc)


def _specs(lines):
    specs = [parse_proxy_line(line) for line in lines]
    assert all(specs), lines
    return specs


def _run(coro_factory):
    return asyncio.run(coro_factory())


def test_live_proxies_are_live_with_the_right_protocol_explicit_and_auto_detected(pproxies):
    p = pproxies
    cases = {
        f"127.0.0.1:{p['http']}": "http",
        f"http://127.0.0.1:{p['http']}": "http",
        f"https://127.0.0.1:{p['http']}": "https",
        f"127.0.0.1:{p['socks4']}": "socks4",
        f"socks4://127.0.0.1:{p['socks4']}": "socks4",
        f"127.0.0.1:{p['socks5']}": "socks5",
        f"socks5://127.0.0.1:{p['socks5']}": "socks5",
        f"socks5h://127.0.0.1:{p['socks5']}": "socks5",
        f"127.0.0.1:{p['http_auth']}:{CREDS}": "http",
        f"{CREDS}@127.0.0.1:{p['http_auth']}": "http",
        f"https://{CREDS}@127.0.0.1:{p['http_auth']}": "https",
        f"127.0.0.1:{p['socks5_auth']}:{CREDS}": "socks5",
        f"socks5://{CREDS}@127.0.0.1:{p['socks5_auth']}": "socks5",
    }

    async def scenario():
        async with JudgeServer() as judge:
            config = CheckConfig(judge_url=judge.url, timeout_s=5, allow_private=True)
            return await check_many(_specs(cases), config)

    results = _run(scenario)
    for line, result in zip(cases, results, strict=True):
        assert result.status == "live", (line, result.error)
        assert result.error is None
        assert result.protocol == cases[line], line
        assert result.exit_ip == "127.0.0.1"
        assert result.country is None  # loopback has no country
        assert result.anonymity is None  # not asked
        assert result.connect_ms is not None and result.connect_ms >= 0
        assert result.ttfb_ms is not None and result.ttfb_ms >= result.connect_ms


def test_wrong_or_missing_credentials_are_dead_with_auth_failed(pproxies):
    p = pproxies
    lines = [
        f"127.0.0.1:{p['http_auth']}",
        f"http://alice:wrong@127.0.0.1:{p['http_auth']}",
        f"https://alice:wrong@127.0.0.1:{p['http_auth']}",
        f"socks5://alice:wrong@127.0.0.1:{p['socks5_auth']}",
        f"127.0.0.1:{p['socks5_auth']}:alice:wrong",
    ]

    async def scenario():
        async with JudgeServer() as judge:
            config = CheckConfig(judge_url=judge.url, timeout_s=5, allow_private=True)
            return await check_many(_specs(lines), config)

    results = _run(scenario)
    for line, result in zip(lines, results, strict=True):
        assert result.status == "dead", line
        assert result.error == "auth_failed", (line, result.error)
    assert [r.protocol for r in results] == ["http", "http", "https", "socks5", "socks5"]


def test_socks5_requiring_auth_without_credentials_is_dead_with_a_reason(pproxies):
    # pproxy hangs up on a SOCKS5 greeting without the user/pass method
    async def scenario():
        async with JudgeServer() as judge:
            config = CheckConfig(judge_url=judge.url, timeout_s=3, allow_private=True)
            return await check_many(
                _specs([f"socks5://127.0.0.1:{pproxies['socks5_auth']}"]), config
            )

    (result,) = _run(scenario)
    assert result.status == "dead"
    assert result.error in ("auth_failed", "closed", "reset")


def test_dead_ports_are_dead_with_a_reason_and_silent_ones_end_within_the_timeout():
    timeout = 1.0

    async def scenario():
        async with (
            JudgeServer() as judge,
            SilentServer() as silent,
            GarbageServer() as garbage,
            DribbleServer(interval=0.05) as dribble,
            CloseServer() as closing,
        ):
            refused = closed_port()
            lines = {
                f"127.0.0.1:{refused}": {"refused"},
                f"socks5://127.0.0.1:{refused}": {"refused"},
                f"127.0.0.1:{silent.port}": {"timeout"},
                f"socks5://127.0.0.1:{silent.port}": {"timeout"},
                f"socks4://127.0.0.1:{silent.port}": {"timeout"},
                f"http://127.0.0.1:{silent.port}": {"timeout"},
                f"https://127.0.0.1:{silent.port}": {"timeout"},
                f"127.0.0.1:{garbage.port}": {"bad_response"},
                f"socks5://127.0.0.1:{garbage.port}": {"bad_response"},
                f"socks4://127.0.0.1:{garbage.port}": {"bad_response"},
                f"http://127.0.0.1:{garbage.port}": {"bad_response"},
                f"127.0.0.1:{dribble.port}": {"timeout"},
                f"https://127.0.0.1:{dribble.port}": {"timeout"},
                f"127.0.0.1:{closing.port}": {"closed", "reset"},
                f"socks5://127.0.0.1:{closing.port}": {"closed", "reset"},
            }
            config = CheckConfig(judge_url=judge.url, timeout_s=timeout, allow_private=True)
            start = time.monotonic()
            results = await check_many(_specs(lines), config)
            return lines, results, time.monotonic() - start, judge.connections

    lines, results, elapsed, judge_connections = _run(scenario)
    for (line, expected), result in zip(lines.items(), results, strict=True):
        assert result.status == "dead", line
        assert result.error in expected, (line, result.error)
    assert judge_connections == 0
    # all checks ran concurrently; none outlived its budget
    assert elapsed <= timeout + 0.5, elapsed


def test_a_silent_proxy_alone_ends_within_the_timeout():
    async def scenario():
        async with SilentServer() as silent, JudgeServer() as judge:
            config = CheckConfig(judge_url=judge.url, timeout_s=0.7, allow_private=True)
            start = time.monotonic()
            results = await check_many([ProxySpec(None, "127.0.0.1", silent.port)], config)
            return results, time.monotonic() - start

    (result,), elapsed = _run(scenario)
    assert result.error == "timeout"
    assert result.connect_ms is not None
    assert 0.6 <= elapsed <= 0.7 + 0.3


def test_mixed_run_finds_every_live_proxy_and_every_dead_one(pproxies):
    async def scenario():
        async with JudgeServer() as judge, SilentServer() as silent, GarbageServer() as garbage:
            live = [f"127.0.0.1:{pproxies[name]}" for name in ("http", "socks4", "socks5")]
            dead = [
                f"127.0.0.1:{silent.port}",
                f"127.0.0.1:{garbage.port}",
                f"127.0.0.1:{closed_port()}",
            ]
            text = "\n".join(live * 3 + dead * 3)  # duplicates are dropped by the parser
            parsed = parse_proxy_list(text)
            config = CheckConfig(judge_url=judge.url, timeout_s=1.5, allow_private=True)
            return parsed, await check_many(parsed.proxies, config), live

    parsed, results, live = _run(scenario)
    assert parsed.duplicates == 12
    by_norm = {r.proxy.norm: r for r in results}
    assert len(by_norm) == 6
    assert [by_norm[line].protocol for line in live] == ["http", "socks4", "socks5"]
    assert sum(r.status == "live" for r in results) == 3
    assert {r.error for r in results if r.status == "dead"} == {
        "timeout",
        "bad_response",
        "refused",
    }


def test_anonymity_levels_from_the_headers_the_proxy_adds():
    real_ip = "203.0.113.7"

    async def scenario():
        async with (
            JudgeServer() as judge,
            HeaderProxy() as elite,
            HeaderProxy({"Via": "1.1 squid"}) as anonymous,
            HeaderProxy({"X-Forwarded-For": f"{real_ip}, 10.0.0.1"}) as transparent,
            HeaderProxy({"X-Forwarded-For": "198.51.100.9"}) as forwarded_other,
        ):
            specs = [
                ProxySpec(None, "127.0.0.1", server.port)
                for server in (elite, anonymous, transparent, forwarded_other)
            ]
            config = CheckConfig(
                judge_url=judge.url,
                timeout_s=3,
                allow_private=True,
                include_anonymity=True,
                real_ips=frozenset({real_ip}),
            )
            return await check_many(specs, config)

    results = _run(scenario)
    assert [r.status for r in results] == ["live"] * 4
    assert [r.protocol for r in results] == ["http"] * 4
    assert [r.anonymity for r in results] == ["elite", "anonymous", "transparent", "anonymous"]


def test_pproxy_http_and_socks_are_elite(pproxies):
    async def scenario():
        async with JudgeServer() as judge:
            config = CheckConfig(
                judge_url=judge.url, timeout_s=3, allow_private=True, include_anonymity=True
            )
            lines = [f"127.0.0.1:{pproxies[n]}" for n in ("http", "socks5")]
            return await check_many(_specs(lines), config)

    assert [r.anonymity for r in _run(scenario)] == ["elite", "elite"]


@pytest.mark.parametrize(
    "judge_kwargs",
    [{"fmt": "text"}, {"fmt": "json"}, {"chunked": True}, {"fmt": "text", "chunked": True}],
)
def test_both_judge_formats_and_chunked_bodies_are_understood(pproxies, judge_kwargs):
    async def scenario():
        async with JudgeServer(**judge_kwargs) as judge, HeaderProxy({"Via": "1.1 x"}) as via:
            config = CheckConfig(
                judge_url=judge.url, timeout_s=3, allow_private=True, include_anonymity=True
            )
            lines = [f"127.0.0.1:{pproxies['http']}", f"127.0.0.1:{pproxies['socks5']}"]
            specs = [*_specs(lines), ProxySpec(None, "127.0.0.1", via.port)]
            return await check_many(specs, config)

    results = _run(scenario)
    assert [r.status for r in results] == ["live"] * 3
    assert [r.exit_ip for r in results] == ["127.0.0.1"] * 3
    assert [r.anonymity for r in results] == ["elite", "elite", "anonymous"]


def test_a_judge_url_with_a_hostname_works_through_every_protocol(pproxies):
    async def scenario():
        async with JudgeServer() as judge:
            url = judge.url.replace("127.0.0.1", "localhost")
            config = CheckConfig(judge_url=url, timeout_s=3, allow_private=True)
            lines = [
                f"http://127.0.0.1:{pproxies['http']}",
                f"https://127.0.0.1:{pproxies['http']}",
                f"socks4://127.0.0.1:{pproxies['socks4']}",
                f"socks5://127.0.0.1:{pproxies['socks5']}",
            ]
            return await check_many(_specs(lines), config)

    results = _run(scenario)
    assert [(r.status, r.error) for r in results] == [("live", None)] * 4


def test_a_page_that_is_not_a_judge_echo_is_a_bad_response(pproxies):
    async def scenario():
        async with TextSite("<html>captive portal</html>") as site:
            config = CheckConfig(judge_url=site.url, timeout_s=3, allow_private=True)
            return await check_many(_specs([f"http://127.0.0.1:{pproxies['http']}"]), config)

    (result,) = _run(scenario)
    assert (result.status, result.error, result.protocol) == ("dead", "bad_response", "http")


def test_target_url_with_expect_text_decides_liveness(pproxies):
    async def scenario(body, expect, status=200):
        async with JudgeServer() as judge, TextSite(body, status=status) as site:
            config = CheckConfig(
                judge_url=judge.url,
                timeout_s=3,
                allow_private=True,
                target_url=site.url,
                expect_text=expect,
            )
            lines = [
                f"127.0.0.1:{pproxies['http']}",
                f"https://127.0.0.1:{pproxies['http']}",
                f"127.0.0.1:{pproxies['socks4']}",
                f"127.0.0.1:{pproxies['socks5']}",
            ]
            results = await check_many(_specs(lines), config)
            return results, site.connections

    found, site_hits = asyncio.run(scenario("<h1>Welcome to Shop</h1>", "Welcome to Shop"))
    assert [(r.status, r.error) for r in found] == [("live", None)] * 4
    assert [r.exit_ip for r in found] == ["127.0.0.1"] * 4
    assert site_hits == 4

    missing, _ = asyncio.run(scenario("<h1>Access denied</h1>", "Welcome to Shop"))
    assert [(r.status, r.error) for r in missing] == [("dead", "expect_text_missing")] * 4
    assert [r.protocol for r in missing] == ["http", "https", "socks4", "socks5"]

    forbidden, _ = asyncio.run(scenario("nope", None, status=403))
    assert [(r.status, r.error) for r in forbidden] == [("dead", "target_failed")] * 4


def test_https_target_that_does_not_speak_tls_is_a_tls_error(pproxies):
    async def scenario():
        async with (
            JudgeServer() as judge,
            GarbageServer(b"HTTP/1.1 400 No TLS here\r\n\r\n") as site,
        ):
            config = CheckConfig(
                judge_url=judge.url,
                timeout_s=3,
                allow_private=True,
                target_url=f"https://127.0.0.1:{site.port}/",
            )
            return await check_many(_specs([f"socks5://127.0.0.1:{pproxies['socks5']}"]), config)

    (result,) = _run(scenario)
    assert (result.status, result.error) == ("dead", "tls_error")


def test_concurrency_bounds_checks_in_flight_and_on_result_sees_every_result():
    async def scenario():
        seen = []

        async def on_result(result):
            await asyncio.sleep(0)
            seen.append(result.proxy.port)

        async with SilentServer() as silent, JudgeServer() as judge:
            specs = [ProxySpec("socks5", "127.0.0.1", silent.port, f"u{i}", "p") for i in range(9)]
            config = CheckConfig(
                judge_url=judge.url, timeout_s=0.4, concurrency=3, allow_private=True
            )
            start = time.monotonic()
            results = await check_many(specs, config, on_result)
            return results, seen, silent.max_concurrent, time.monotonic() - start

    results, seen, max_concurrent, elapsed = _run(scenario)
    assert len(results) == 9 and len(seen) == 9
    assert [r.proxy.username for r in results] == [f"u{i}" for i in range(9)]  # input order
    assert max_concurrent <= 3
    assert 1.1 <= elapsed <= 2.0  # three waves of 0.4 s


def test_run_checks_is_a_synchronous_wrapper_with_a_sync_callback(pproxies):
    judge = JudgeServer()
    seen = []

    async def with_judge():
        await judge.start()
        try:
            config = CheckConfig(judge_url=judge.url, timeout_s=3, allow_private=True)
            spec = ProxySpec(None, "127.0.0.1", pproxies["socks5"])
            return await asyncio.to_thread(run_checks, [spec, spec], config, seen.append)
        finally:
            await judge.stop()

    results = asyncio.run(with_judge())
    assert [r.status for r in results] == ["live", "live"]
    assert len(seen) == 2


def test_loopback_proxies_are_refused_without_allow_private(pproxies):
    async def scenario():
        async with JudgeServer() as judge:
            config = CheckConfig(judge_url=judge.url, timeout_s=3, allow_private=False)
            results = await check_many(_specs([f"127.0.0.1:{pproxies['http']}"]), config)
            return results, judge.connections

    (result,), judge_connections = _run(scenario)
    assert (result.status, result.error, result.connect_ms) == ("dead", "blocked_address", None)
    assert judge_connections == 0


def test_a_hostname_proxy_is_resolved_once_and_reached_at_the_checked_address(pproxies):
    resolved = []

    async def resolver(host):
        resolved.append(host)
        return ["127.0.0.1"]

    async def scenario():
        async with JudgeServer() as judge:
            config = CheckConfig(
                judge_url=judge.url, timeout_s=3, allow_private=True, resolver=resolver
            )
            specs = _specs([f"proxy.internal.test:{pproxies['socks5']}"])
            return await check_many(specs, config)

    (result,) = _run(scenario)
    assert (result.status, result.protocol) == ("live", "socks5")
    # auto-detection made two attempts (http, then socks5) but resolved the name once
    assert resolved == ["proxy.internal.test"]


def test_cancelling_a_run_stops_it_promptly_and_closes_its_connections():
    async def scenario():
        async with SilentServer() as silent, JudgeServer() as judge:
            specs = [ProxySpec("socks5", "127.0.0.1", silent.port, f"u{i}", "p") for i in range(50)]
            config = CheckConfig(judge_url=judge.url, timeout_s=30, allow_private=True)
            task = asyncio.create_task(check_many(specs, config))
            await asyncio.sleep(0.3)
            assert silent.connections == 50
            start = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            cancel_time = time.monotonic() - start
            await asyncio.sleep(0.2)
            return cancel_time, len(silent._writers)

    cancel_time, still_open = _run(scenario)
    assert cancel_time < 0.5
    assert still_open == 0


def test_an_exception_in_on_result_stops_the_run_and_propagates():
    async def scenario():
        async with JudgeServer() as judge:
            config = CheckConfig(judge_url=judge.url, timeout_s=1, allow_private=True)
            specs = [ProxySpec(None, "127.0.0.1", closed_port()) for _ in range(5)]

            def boom(result):
                raise RuntimeError("storage failed")

            await check_many(specs, config, boom)

    with pytest.raises(RuntimeError, match="storage failed"):
        _run(scenario)


def test_auto_detect_reaches_a_socks4_server_that_waits_for_a_full_request():
    from tests.checker.servers import Socks4Proxy, Socks5Proxy

    async def scenario():
        async with (
            JudgeServer() as judge,
            Socks4Proxy() as socks4,
            Socks5Proxy() as socks5,
            Socks5Proxy(credentials=CREDS) as socks5_auth,
        ):
            config = CheckConfig(judge_url=judge.url, timeout_s=2.5, allow_private=True)
            specs = [
                ProxySpec(None, "127.0.0.1", socks4.port),
                ProxySpec(None, "127.0.0.1", socks5.port),
                ProxySpec(None, "127.0.0.1", socks5_auth.port, "alice", "s3cret"),
                ProxySpec(None, "127.0.0.1", socks5_auth.port),
                ProxySpec(None, "127.0.0.1", socks5_auth.port, "alice", "wrong"),
            ]
            start = time.monotonic()
            results = await check_many(specs, config)
            return results, time.monotonic() - start

    results, elapsed = _run(scenario)
    assert [(r.status, r.protocol, r.error) for r in results] == [
        ("live", "socks4", None),
        ("live", "socks5", None),
        ("live", "socks5", None),
        ("dead", "socks5", "auth_failed"),
        ("dead", "socks5", "auth_failed"),
    ]
    assert elapsed < 2.5


def test_an_ipv6_proxy_in_brackets_is_checked_over_ipv6():
    from tests.checker.servers import Socks5Proxy

    async def scenario():
        proxy = Socks5Proxy()
        proxy.bind_host = "::1"
        await proxy.start()
        try:
            async with JudgeServer() as judge:
                config = CheckConfig(judge_url=judge.url, timeout_s=3, allow_private=True)
                results = await check_many(_specs([f"[::1]:{proxy.port}"]), config)
                return results, proxy.connections
        finally:
            await proxy.stop()

    (result,), connections = _run(scenario)
    assert result.proxy.norm.startswith("[::1]:")
    assert (result.status, result.protocol) == ("live", "socks5")
    assert connections == 2  # the http attempt, then socks5


def test_the_engine_package_imports_no_django():
    import subprocess
    import sys

    code = (
        "import sys, checker.engine, checker.engine.check, core.netguard, "
        "checker.engine.parse, checker.engine.protocols, checker.engine.judge, checker.engine.geo, "
        "tests.checker.servers; "
        "bad = [m for m in sys.modules if m == 'django' or m.startswith('django.')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_low_soft_open_files_limit_is_raised_for_the_concurrency():
    import resource

    from checker.engine.check import _fd_budget

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2000:
        pytest.skip("hard open-files limit too low to observe the raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))
    try:
        allowed = _fd_budget(1000)
        raised_to = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert allowed == 1000
    assert raised_to >= 1000


def _tls_contexts(tmp_path):
    """A self-signed certificate for 127.0.0.1/localhost: (server context, client context)."""
    import datetime
    import ipaddress
    import ssl

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = tmp_path / "cert.pem"
    key_file = tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def test_https_judge_and_https_target_work_through_tunnels(pproxies, tmp_path):
    server_tls, client_tls = _tls_contexts(tmp_path)

    async def scenario(client_context):
        judge, site = JudgeServer(), TextSite("<p>secure shop</p>")
        judge.ssl_context = site.ssl_context = server_tls
        await judge.start()
        await site.start()
        try:
            config = CheckConfig(
                judge_url=judge.url,
                timeout_s=5,
                allow_private=True,
                target_url=site.url,
                expect_text="secure shop",
                ssl_context=client_context,
            )
            lines = [
                f"http://127.0.0.1:{pproxies['http']}",  # https URL: CONNECT even for http
                f"https://127.0.0.1:{pproxies['http']}",
                f"socks4://127.0.0.1:{pproxies['socks4']}",
                f"127.0.0.1:{pproxies['socks5']}",
            ]
            return await check_many(_specs(lines), config)
        finally:
            await judge.stop()
            await site.stop()

    results = _run(lambda: scenario(client_tls))
    assert [(r.status, r.error) for r in results] == [("live", None)] * 4
    assert [r.protocol for r in results] == ["http", "https", "socks4", "socks5"]
    assert [r.exit_ip for r in results] == ["127.0.0.1"] * 4
    # without trusting the certificate the TLS handshake to the judge fails
    untrusted = _run(lambda: scenario(None))
    assert [(r.status, r.error) for r in untrusted] == [("dead", "tls_error")] * 4

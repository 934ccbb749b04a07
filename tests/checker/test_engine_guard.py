"""The address guard: internal addresses are refused before any socket opens."""

import asyncio

import pytest

from checker.engine.check import CheckConfig, check_many
from checker.engine.parse import ProxySpec, parse_proxy_line
from core.netguard import check_address, check_address_async
from tests.checker.servers import JudgeServer, SilentServer

REFUSED_LITERALS = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "192.168.255.255",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "[::ffff:192.168.1.1]",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2001:db8::1",
    # odd IPv4 spellings of loopback / private
    "2130706433",
    "0177.0.0.1",
    "0x7f.1",
    "0x7f000001",
    "127.1",
    "127.0.1",
    "012.0.0.1",
    "3232235777",  # 192.168.1.1
]


@pytest.mark.parametrize("host", REFUSED_LITERALS)
def test_internal_literal_addresses_are_refused(host):
    verdict = check_address(host, allow_private=False, resolver=_no_dns)
    assert verdict.allowed is False
    assert verdict.reason == "blocked_address"


@pytest.mark.parametrize("host", REFUSED_LITERALS)
def test_internal_literal_addresses_are_refused_by_the_async_variant(host):
    verdict = asyncio.run(check_address_async(host, allow_private=False, resolver=_no_dns_async))
    assert verdict.allowed is False
    assert verdict.reason == "blocked_address"


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("8.8.8.8", "8.8.8.8"),
        ("1.1.1.1", "1.1.1.1"),
        ("2606:4700:4700::1111", "2606:4700:4700::1111"),
        ("[2606:4700:4700::1111]", "2606:4700:4700::1111"),
        ("::ffff:8.8.8.8", "8.8.8.8"),
        ("134744072", "8.8.8.8"),  # odd spelling of a public address: normalised
        ("0x08.0x08.0x08.0x08", "8.8.8.8"),
    ],
)
def test_public_literal_addresses_are_allowed_and_normalised(host, address):
    verdict = check_address(host, allow_private=False, resolver=_no_dns)
    assert verdict.allowed is True
    assert verdict.address == address
    assert verdict.reason is None


def test_odd_loopback_spellings_normalise_to_loopback_when_private_is_allowed():
    for host in ("2130706433", "0177.0.0.1", "0x7f.1", "127.1"):
        verdict = check_address(host, allow_private=True, resolver=_no_dns)
        assert verdict.allowed is True
        assert verdict.address == "127.0.0.1"


def _no_dns(host):
    raise AssertionError(f"literal {host!r} must not be resolved")


async def _no_dns_async(host):
    raise AssertionError(f"literal {host!r} must not be resolved")


def test_hostname_resolving_to_a_private_address_is_refused():
    calls = []

    def resolver(host):
        calls.append(host)
        return ["10.1.2.3"]

    verdict = check_address("internal.example.com", allow_private=False, resolver=resolver)
    assert verdict.allowed is False
    assert verdict.reason == "blocked_address"
    assert calls == ["internal.example.com"]


def test_hostname_with_any_private_address_among_public_ones_is_refused():
    verdict = check_address(
        "mixed.example.com", allow_private=False, resolver=lambda h: ["8.8.8.8", "127.0.0.1"]
    )
    assert verdict.allowed is False


def test_hostname_is_resolved_once_and_the_checked_address_is_returned():
    calls = []

    async def resolver(host):
        calls.append(host)
        return ["93.184.216.34", "2606:2800:220:1::1"]

    verdict = asyncio.run(
        check_address_async("Example.COM", allow_private=False, resolver=resolver)
    )
    assert verdict.allowed is True
    assert verdict.address == "93.184.216.34"
    assert calls == ["example.com"]


def test_localhost_is_refused_with_the_system_resolver():
    assert check_address("localhost", allow_private=False).allowed is False
    assert asyncio.run(check_address_async("localhost", allow_private=False)).allowed is False


def test_unresolvable_hostname_is_a_dns_error():
    def resolver(host):
        raise OSError("no such host")

    verdict = check_address("nx.invalid", allow_private=False, resolver=resolver)
    assert (verdict.allowed, verdict.reason) == (False, "dns_error")


@pytest.mark.parametrize("host", ["", "   ", "[::1", "1.2.3.4.5.6", "999.1.1.1", "fe80::1%eth0"])
def test_malformed_hosts_are_refused_without_raising(host):
    verdict = check_address(host, allow_private=False, resolver=lambda h: [])
    assert verdict.allowed is False


# ------------------------------------------------ end to end: no socket is ever opened

GUARD_CORPUS_LINES = [
    "127.0.0.1:{port}",
    "10.0.0.1:{port}",
    "10.255.0.3:{port}",
    "172.16.0.1:{port}",
    "172.31.1.1:{port}",
    "192.168.1.1:{port}",
    "169.254.169.254:{port}",
    "100.64.0.1:{port}",
    "0.0.0.0:{port}",
    "[::1]:{port}",
    "[fc00::1]:{port}",
    "[fd00::1]:{port}",
    "[fe80::1]:{port}",
    "[::ffff:127.0.0.1]:{port}",
    "2130706433:{port}",
    "0177.0.0.1:{port}",
    "0x7f.1:{port}",
    "127.1:{port}",
    "socks5://127.0.0.1:{port}",
    "http://u:p@127.0.0.1:{port}",
    "localhost:{port}",
    "internal.example.test:{port}",
]


def test_guard_corpus_is_refused_before_any_connection_is_attempted():
    async def scenario():
        resolved = []

        async def resolver(host):
            resolved.append(host)
            return {"localhost": ["127.0.0.1", "::1"], "internal.example.test": ["192.168.7.7"]}[
                host
            ]

        async with SilentServer() as listener, JudgeServer() as judge:
            specs = [
                parse_proxy_line(line.format(port=listener.port)) for line in GUARD_CORPUS_LINES
            ]
            assert all(specs)
            config = CheckConfig(
                judge_url=judge.url, timeout_s=2, allow_private=False, resolver=resolver
            )
            results = await check_many(specs, config)
            await asyncio.sleep(0.1)
            return results, listener.connections, judge.connections, resolved

    results, listener_connections, judge_connections, resolved = asyncio.run(scenario())
    assert len(results) == len(GUARD_CORPUS_LINES)
    for result in results:
        assert result.status == "dead", result.proxy.norm
        assert result.error == "blocked_address", (result.proxy.norm, result.error)
        assert result.connect_ms is None
    assert listener_connections == 0
    assert judge_connections == 0
    assert sorted(resolved) == ["internal.example.test", "localhost"]


def test_with_allow_private_the_same_loopback_listener_is_reached():
    async def scenario():
        async with SilentServer() as listener, JudgeServer() as judge:
            spec = ProxySpec(None, "2130706433", listener.port)
            config = CheckConfig(judge_url=judge.url, timeout_s=0.5, allow_private=True)
            results = await check_many([spec], config)
            await asyncio.sleep(0.05)
            return results, listener.connections

    results, connections = asyncio.run(scenario())
    assert results[0].error == "timeout"
    assert connections == 1


def test_blocked_target_url_fails_every_check_without_connecting():
    async def scenario():
        async with SilentServer() as listener, JudgeServer() as judge:
            config = CheckConfig(
                judge_url=judge.url,
                timeout_s=1,
                allow_private=False,
                target_url="http://169.254.169.254/latest/meta-data/",
                expect_text="ami-id",
            )
            results = await check_many([ProxySpec(None, "127.0.0.1", listener.port)], config)
            await asyncio.sleep(0.05)
            return results, listener.connections

    results, connections = asyncio.run(scenario())
    assert results[0].status == "dead"
    assert results[0].error == "blocked_target"
    assert connections == 0

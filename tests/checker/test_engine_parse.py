"""The proxy list parser: formats, normalisation, counting, and never raising."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.engine.parse import ProxySpec, parse_proxy_line, parse_proxy_list


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1.2.3.4:8080", ProxySpec(None, "1.2.3.4", 8080)),
        ("  1.2.3.4:8080  ", ProxySpec(None, "1.2.3.4", 8080)),
        ("1.2.3.4:8080:user:pass", ProxySpec(None, "1.2.3.4", 8080, "user", "pass")),
        ("1.2.3.4:8080:user:pa:ss", ProxySpec(None, "1.2.3.4", 8080, "user", "pa:ss")),
        ("user:pass@1.2.3.4:8080", ProxySpec(None, "1.2.3.4", 8080, "user", "pass")),
        ("user:p@ss@1.2.3.4:8080", ProxySpec(None, "1.2.3.4", 8080, "user", "p@ss")),
        ("user@1.2.3.4:8080", ProxySpec(None, "1.2.3.4", 8080, "user", None)),
        ("socks5://1.2.3.4:1080", ProxySpec("socks5", "1.2.3.4", 1080)),
        ("SOCKS5H://u:p@1.2.3.4:1080", ProxySpec("socks5", "1.2.3.4", 1080, "u", "p")),
        ("socks4a://1.2.3.4:1080", ProxySpec("socks4", "1.2.3.4", 1080)),
        ("socks4://1.2.3.4:1080", ProxySpec("socks4", "1.2.3.4", 1080)),
        ("http://1.2.3.4:3128/", ProxySpec("http", "1.2.3.4", 3128)),
        ("https://1.2.3.4:3128", ProxySpec("https", "1.2.3.4", 3128)),
        ("Proxy.Example.COM:3128", ProxySpec(None, "proxy.example.com", 3128)),
        ("[::1]:8080", ProxySpec(None, "::1", 8080)),
        ("[2001:DB8:0:0::1]:8080:u:p", ProxySpec(None, "2001:db8::1", 8080, "u", "p")),
        ("socks5://u:p@[2001:db8::1]:1080", ProxySpec("socks5", "2001:db8::1", 1080, "u", "p")),
        ("1.2.3.4:08080", ProxySpec(None, "1.2.3.4", 8080)),
        ("1.2.3.4:8080 # my proxy", ProxySpec(None, "1.2.3.4", 8080)),
        ("2130706433:80", ProxySpec(None, "2130706433", 80)),
    ],
)
def test_accepted_line_formats_parse_to_the_expected_spec(line, expected):
    assert parse_proxy_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "1.2.3.4",
        "1.2.3.4:",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "1.2.3.4:99999999",
        "1.2.3.4:-1",
        "1.2.3.4:+80",
        "1.2.3.4:80:user",
        ":8080",
        "::1:8080",
        "[::1]8080",
        "[::1:8080",
        "[1.2.3.4]:80",
        "[fe80::1%eth0]:80",
        "ftp://1.2.3.4:21",
        "socks6://1.2.3.4:1080",
        "1.2.3.4:80 extra words",
        "bad host!:80",
        "@1.2.3.4:80",
        ":pass@1.2.3.4:80",
        "http://",
        "1.2.3.4\x00:80",
        "a" * 5000 + ":80",
        "-bad-.example:80",
    ],
)
def test_invalid_lines_are_rejected(line):
    assert parse_proxy_line(line) is None


def test_list_counts_invalid_and_duplicate_lines_and_skips_blanks_and_comments():
    text = "\n".join(
        [
            "# my list",
            "",
            "   ",
            "1.2.3.4:8080",
            "1.2.3.4:8080",
            "  1.2.3.4:8080",
            "5.6.7.8:3128:u:p",
            "u:p@5.6.7.8:3128",  # same proxy, other spelling -> duplicate
            "socks5://5.6.7.8:1080",
            "not a proxy",
            "1.2.3.4:70000",
            "    # indented comment",
        ]
    )
    result = parse_proxy_list(text)
    assert [p.norm for p in result.proxies] == [
        "1.2.3.4:8080",
        "u:p@5.6.7.8:3128",
        "socks5://5.6.7.8:1080",
    ]
    assert result.duplicates == 3
    assert result.invalid == 2
    assert result.invalid_lines == ["not a proxy", "1.2.3.4:70000"]


def test_windows_and_old_mac_line_endings_are_handled():
    result = parse_proxy_list("1.1.1.1:80\r\n2.2.2.2:80\r3.3.3.3:80")
    assert [p.host for p in result.proxies] == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]


def test_max_items_caps_the_list_and_counts_the_rest():
    text = "\n".join(f"10.0.0.{i}:80" for i in range(1, 11)) + "\n10.0.0.1:80\n"
    result = parse_proxy_list(text, max_items=4)
    assert len(result.proxies) == 4
    assert result.over_limit == 6
    assert result.duplicates == 1


def test_invalid_sample_is_bounded_and_lines_are_truncated():
    text = "\n".join(["x" * 1000] * 100)
    result = parse_proxy_list(text)
    assert result.invalid == 100
    assert len(result.invalid_lines) == 20
    assert all(len(line) <= 200 for line in result.invalid_lines)


def test_norm_puts_scheme_only_when_explicit_and_brackets_ipv6():
    assert ProxySpec(None, "1.2.3.4", 80).norm == "1.2.3.4:80"
    assert ProxySpec("socks5", "1.2.3.4", 80, "u", "p").norm == "socks5://u:p@1.2.3.4:80"
    assert ProxySpec(None, "::1", 80).norm == "[::1]:80"
    assert ProxySpec(None, "h.example", 80, "u", None).norm == "u@h.example:80"


def test_big_list_parses_quickly():
    import time

    text = "\n".join(
        f"{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}.1:{1 + i % 60000}" for i in range(100_000)
    )
    start = time.perf_counter()
    result = parse_proxy_list(text)
    assert len(result.proxies) == 100_000
    assert time.perf_counter() - start < 5


# ---------------------------------------------------------------- property tests

_hyp = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_invariants(result):
    assert result.invalid >= 0 and result.duplicates >= 0
    norms = [p.norm for p in result.proxies]
    assert len(norms) == len(set(norms))
    for spec in result.proxies:
        assert 1 <= spec.port <= 65535
        assert spec.scheme in (None, "http", "https", "socks4", "socks5")
        assert spec.host
        assert parse_proxy_line(spec.norm) == spec


@_hyp
@given(st.text())
def test_parser_never_raises_on_arbitrary_text(text):
    _check_invariants(parse_proxy_list(text))


@_hyp
@given(st.binary())
def test_parser_never_raises_on_arbitrary_bytes_decoded_with_replacement(data):
    _check_invariants(parse_proxy_list(data.decode("utf-8", errors="replace")))


@_hyp
@given(
    st.lists(
        st.sampled_from(
            [
                "1.2.3.4",
                ":",
                "@",
                "[",
                "]",
                "::1",
                "80",
                "u",
                "p",
                "#",
                " ",
                "\x00",
                "\n",
                "socks5://",
                "http://",
                "65535",
                "0",
                "\u2028",
                "a.b",
                "%",
                "/",
                "99999",
            ]
        ),
        max_size=30,
    )
)
def test_parser_never_raises_on_proxy_like_fragments(parts):
    _check_invariants(parse_proxy_list("".join(parts)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=5000, max_size=20000))
def test_parser_never_raises_on_very_long_lines(text):
    _check_invariants(parse_proxy_list(text.replace("\n", "") + ":80"))


# credentials: printable, no whitespace (passwords may hold ':' '@' '#'; users not)
_printable = {"min_codepoint": 33, "max_codepoint": 0x2FF, "blacklist_categories": ("Cc", "Zs")}
_user = st.text(
    alphabet=st.characters(**_printable, blacklist_characters=":@#"), min_size=1, max_size=12
)
_password = st.text(alphabet=st.characters(**_printable), max_size=12)
_host = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}", fullmatch=True),
)


@_hyp
@given(
    st.sampled_from([None, "http", "https", "socks4", "socks5"]),
    _host,
    st.integers(1, 65535),
    st.one_of(st.none(), st.tuples(_user, st.one_of(st.none(), _password))),
)
def test_every_valid_spec_round_trips_through_its_norm(scheme, host, port, creds):
    user, password = creds if creds else (None, None)
    spec = ProxySpec(scheme, host, port, user, password)
    parsed = parse_proxy_line(spec.norm)
    assert parsed is not None
    assert parsed.norm == spec.norm
    assert parsed.port == port
    assert parsed.username == user and parsed.password == password
    assert parse_proxy_list(spec.norm + "\n" + spec.norm).duplicates == 1


def test_an_invalid_line_with_nul_is_kept_printable_and_storable():
    """PostgreSQL's JSON refuses NUL: the sample shown back to the customer replaces it."""
    result = parse_proxy_list("1.2.3.4:8080\nbad\x00line")
    assert result.invalid == 1 and result.invalid_lines == ["bad\ufffdline"]

"""Judge protocol parsing, anonymity rules and the offline GeoIP lookup."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.engine.geo import country_of
from checker.engine.judge import (
    JudgeEcho,
    anonymity_of,
    parse_judge_body,
    render_json,
    render_text,
)


def test_azenv_text_is_parsed():
    body = (
        "REMOTE_ADDR = 5.6.7.8\n"
        "REMOTE_PORT = 5555\n"
        "HTTP_HOST = judge.example\n"
        "HTTP_X_FORWARDED_FOR = 1.2.3.4\n"
        "HTTP_VIA = 1.1 squid\n"
        "REQUEST_METHOD = GET\n"
    )
    echo = parse_judge_body(body.encode())
    assert echo.remote_addr == "5.6.7.8"
    assert echo.headers == {
        "host": "judge.example",
        "x-forwarded-for": "1.2.3.4",
        "via": "1.1 squid",
    }


def test_azenv_php_page_wrapped_in_html_is_parsed():
    body = b"<html><body><pre>\nREMOTE_ADDR = 9.9.9.9\nHTTP_USER_AGENT = x\n</pre></body></html>"
    echo = parse_judge_body(body)
    assert echo.remote_addr == "9.9.9.9"
    assert echo.headers == {"user-agent": "x"}


def test_json_is_parsed_and_header_names_are_case_insensitive():
    body = json.dumps(
        {
            "remote_addr": "::ffff:5.6.7.8",
            "headers": {"X-Forwarded-For": ["1.1.1.1", "2.2.2.2"], "VIA": "x"},
        }
    )
    echo = parse_judge_body(body)
    assert echo.remote_addr == "5.6.7.8"
    assert echo.headers == {"x-forwarded-for": "1.1.1.1, 2.2.2.2", "via": "x"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>captive portal</html>",
        b"REMOTE_ADDR = not-an-ip\n",
        b'{"remote_addr": 5}',
        b'{"headers": {}}',
        b"[1, 2]",
        b"{broken json",
        b"\xff\xfe\x00garbage",
    ],
)
def test_bodies_that_are_not_judge_echoes_give_none(body):
    assert parse_judge_body(body) is None


def test_reference_renderings_round_trip():
    headers = [("Host", "j"), ("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "5.6.7.8")]
    for rendered in (render_text("8.8.4.4", headers), render_json("8.8.4.4", headers)):
        echo = parse_judge_body(rendered)
        assert echo.remote_addr == "8.8.4.4"
        assert echo.headers["x-forwarded-for"] == "1.2.3.4, 5.6.7.8"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"host": "j", "user-agent": "ua", "accept": "*/*"}, "elite"),
        ({"via": "1.1 proxy"}, "anonymous"),
        ({"x-forwarded-for": "10.0.0.1"}, "anonymous"),
        ({"forwarded": "for=10.0.0.1"}, "anonymous"),
        ({"x-real-ip": "10.0.0.1"}, "anonymous"),
        ({"client-ip": "10.0.0.1"}, "anonymous"),
        ({"proxy-connection": "keep-alive"}, "anonymous"),
        ({"x-proxy-id": "123"}, "anonymous"),
        ({"x-forwarded-for": "203.0.113.7"}, "transparent"),
        ({"x-forwarded-for": "10.0.0.1, 203.0.113.7"}, "transparent"),
        ({"forwarded": 'for="203.0.113.7:4711";proto=http'}, "transparent"),
        ({"x-client-info": "203.0.113.7"}, "transparent"),
        ({"x-forwarded-for": "203.0.113.70"}, "anonymous"),
        # The judge reached by the checker's own address: Host is not a leak.
        ({"host": "203.0.113.7:8000", "user-agent": "ua"}, "elite"),
        ({"host": "203.0.113.7:8000", "x-forwarded-for": "203.0.113.7"}, "transparent"),
    ],
)
def test_anonymity_levels(headers, expected):
    echo = JudgeEcho("198.51.100.1", headers)
    assert anonymity_of(echo, frozenset({"203.0.113.7"})) == expected


def test_without_known_real_ips_proxy_headers_still_mean_anonymous():
    assert (
        anonymity_of(JudgeEcho("1.1.1.1", {"x-forwarded-for": "203.0.113.7"}), frozenset())
        == "anonymous"
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(), st.text().map(str.encode)))
def test_judge_parser_never_raises(body):
    echo = parse_judge_body(body)
    assert echo is None or isinstance(echo.remote_addr, str)


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),
        ("::ffff:8.8.8.8", "US"),
        ("127.0.0.1", None),
        ("10.1.2.3", None),
        ("192.168.0.1", None),
        ("::1", None),
        ("not an ip", None),
        ("", None),
        (None, None),
    ],
)
def test_country_comes_from_offline_geoip_data(ip, country):
    assert country_of(ip) == country


def test_country_codes_are_two_upper_case_letters():
    for ip in ("1.1.1.1", "81.2.69.142", "200.160.2.3", "202.12.27.33"):
        code = country_of(ip)
        assert code is None or (len(code) == 2 and code.isupper())

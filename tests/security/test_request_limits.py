"""API clients always get the JSON envelope, even for requests refused before Django
(issue 22, finding 10) and for Django's own request limits.

A real gunicorn runs with the project's configuration (`-c python:portal.webserver`, as
`dev.py run` and the deploy files start it), once with sync workers and once with gthread:
a 20 KB request line, a 20 KB header, 200 headers and malformed request lines are answered
with status 400 and the envelope, never gunicorn's HTML, on API and dashboard paths alike.
The same server answers /judge on the judge's own host name (CHECKER_JUDGE_URL). Then a real
nginx runs the shipped site (deploy/nginx/) in front of it: what nginx refuses itself is the
envelope too. Django's own limits (too many parameters) are envelopes on API paths.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import stop_processes
from tests.security.conftest import call

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
JUDGE_HOST = "judge.example.com"  # as in deploy/nginx/portal.conf
PORTAL_HOST = "portal.example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port: int, raw: bytes) -> tuple[int, dict, bytes]:
    """Sends `raw` as is and reads the whole answer: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        answer = b""
        while piece := conn.recv(65536):
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        chunks, rest = [], body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            if int(size, 16) == 0:
                break
            chunks.append(rest[: int(size, 16)])
            rest = rest[int(size, 16) + 2:]
        body = b"".join(chunks)
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module", params=[1, 2], ids=["sync", "gthread"])
def portal_server(request):
    """gunicorn with the project's config; no request below reaches the database."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DEBUG="0", PORTAL_ALLOW_DEMO_SECRETS="1", ALLOWED_HOSTS=f"127.0.0.1,localhost,{PORTAL_HOST}",
               CHECKER_JUDGE_URL=f"https://{JUDGE_HOST}/judge", LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:portal.webserver", "portal.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", str(request.param), "--timeout", "30", "--graceful-timeout", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            status, _, _ = exchange(port, b"GET /judge HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            if status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        stop_processes([proc])
        raise AssertionError("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])
    yield port
    stop_processes([proc])


REFUSED = {
    "request line of 20 KB": b"GET /api/v1/account?q=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "header of 20 KB": b"GET /api/v1/account HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
    "200 headers": b"GET /api/v1/account HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   + b"".join(b"X-Header-%d: v\r\n" % i for i in range(200)) + b"\r\n",
    "malformed request line": b"GARBAGE\r\n\r\n",
    "request line without version": b"GET /api/v1/account\r\nHost: 127.0.0.1\r\n\r\n",
    "invalid method": b"G\x00T /api/v1/account HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "invalid header name": b"GET /api/v1/account HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n",
    "dashboard page, 20 KB header": b"GET /orders/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: " + b"c" * 20_000
                                    + b"\r\n\r\n",
}


@pytest.mark.parametrize("raw", REFUSED.values(), ids=REFUSED.keys())
def test_requests_gunicorn_refuses_get_the_json_envelope(portal_server, raw):
    status, headers, body = exchange(portal_server, raw)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert b"<html" not in body.lower()
    envelope = json.loads(body)
    assert envelope["result"] is False and envelope["data"] is None and envelope["meta"] == {}
    assert envelope["error_type"] == "bad_request" and envelope["error"]
    assert int(headers["content-length"]) == len(body)


def test_refusals_name_the_limit(portal_server):
    messages = {name: json.loads(exchange(portal_server, raw)[2])["error"] for name, raw in REFUSED.items()}
    assert "8190 bytes" in messages["request line of 20 KB"]
    assert "8190 bytes" in messages["header of 20 KB"]
    assert "more than 100 headers" in messages["200 headers"]
    assert "malformed" in messages["malformed request line"]


def test_a_request_within_the_limits_reaches_the_portal(portal_server):
    line = b"GET /api/v1/account?q=" + b"a" * 7_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    status, headers, body = exchange(portal_server, line + b"X-Big: " + b"b" * 7_000 + b"\r\n\r\n")
    assert status == 401 and json.loads(body)["error_type"] == "unauthorized"


def test_a_body_over_the_limit_gets_the_413_envelope_while_it_is_still_being_sent(portal_server):
    """The portal refuses from Content-Length; the server reads the rest before closing, so
    the client (or a proxy) still sending the body gets the answer, not a reset."""
    for _ in range(3):
        status, headers, body = exchange(portal_server, (
            b"POST /api/v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: 3000000\r\n\r\n" + b" " * 3_000_000))
        assert status == 413 and json.loads(body)["error_type"] == "payload_too_large"


def test_the_judge_answers_on_its_own_host_name(portal_server):
    """CHECKER_JUDGE_URL's host passes the host check without being added to ALLOWED_HOSTS;
    other unknown hosts are still refused."""
    status, headers, body = exchange(
        portal_server, f"GET /judge HTTP/1.1\r\nHost: {JUDGE_HOST}\r\nConnection: close\r\n\r\n".encode())
    assert status == 200 and body.startswith(b"REMOTE_ADDR = 127.0.0.1\n")
    assert "no-store" in headers["cache-control"]
    other, _, body = exchange(
        portal_server, b"GET /api/v1/account HTTP/1.0\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n")
    assert other == 400 and json.loads(body)["error_type"] == "bad_request"


# ----------------------------------------------------------------------------- nginx in front
def test_every_shipped_gunicorn_command_uses_the_portal_configuration():
    """dev.py run, the Procfile, the systemd unit, compose and the image all start gunicorn with
    portal.webserver (its limits and JSON refusals); a command without it would serve HTML."""
    files = ["dev.py", "deploy/Procfile", "deploy/systemd/portal-web.service", "deploy/compose.yaml",
             "deploy/Dockerfile", "docs/deploy.md"]
    for name in files:
        text = (ROOT / name).read_text()
        starts = [m.start() for m in re.finditer(r"portal\.wsgi\b", text)]
        assert starts, name
        for at in starts:
            assert "portal.webserver" in text[max(0, at - 120):at], (name, text[max(0, at - 120):at + 12])


@pytest.fixture(scope="module")
def nginx_front(portal_server, tmp_path_factory):
    """nginx running deploy/nginx/portal.conf (TLS and public ports swapped for a loopback
    port) in front of the gunicorn above."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (.ci/run installs it)")
    conf_dir = tmp_path_factory.mktemp("nginx")
    port = free_port()
    shutil.copy(ROOT / "deploy/nginx/portal-limits.conf", conf_dir / "portal-limits.conf")
    site = (ROOT / "deploy/nginx/portal.conf").read_text()
    site = site.replace("/etc/nginx/conf.d/", f"{conf_dir}/").replace("127.0.0.1:8000", f"127.0.0.1:{portal_server}")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    site = re.sub(r"\n\s*(listen \[::\].*|ssl_certificate.*)", "", site)
    (conf_dir / "portal.conf").write_text(site)
    (conf_dir / "nginx.conf").write_text(
        f"daemon off;\nmaster_process off;\npid {conf_dir}/nginx.pid;\nevents {{}}\n"
        f"http {{\n access_log off;\n include {conf_dir}/portal.conf;\n}}\n")
    proc = subprocess.Popen(["nginx", "-e", "stderr", "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        stop_processes([proc])
        raise AssertionError("nginx did not start: " + proc.stderr.read().decode()[-2000:])
    yield port
    stop_processes([proc])


def _portal(path: bytes, extra: bytes = b"") -> bytes:
    return (b"GET " + path + b" HTTP/1.1\r\nHost: " + PORTAL_HOST.encode() + b"\r\nConnection: close\r\n"
            + extra + b"\r\n")


THROUGH_NGINX = {
    # refused by nginx itself (over one 16k buffer, malformed), answered by portal-limits.conf
    "request line of 20 KB": (_portal(b"/api/v1/account?q=" + b"a" * 20_000), 400, "bad_request"),
    "header of 20 KB": (_portal(b"/api/v1/account", b"X-Big: " + b"b" * 20_000 + b"\r\n"), 400, "bad_request"),
    "malformed request line": (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    "body over client_max_body_size": (
        b"POST /api/v1/check HTTP/1.1\r\nHost: " + PORTAL_HOST.encode()
        + b"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 4000000\r\n\r\n", 413,
        "payload_too_large"),
    # passed on by nginx, refused by gunicorn or the portal with the envelope
    "request line of 10 KB": (_portal(b"/api/v1/account?q=" + b"a" * 10_000), 400, "bad_request"),
    "200 headers": (_portal(b"/api/v1/account", b"".join(b"X-H-%d: v\r\n" % i for i in range(200))), 400,
                    "bad_request"),
    "body over the portal's 2 MB": (
        b"POST /api/v1/check HTTP/1.1\r\nHost: " + PORTAL_HOST.encode() + b"\r\nContent-Type: application/json"
        b"\r\nConnection: close\r\nContent-Length: 2500000\r\n\r\n" + b" " * 2_500_000, 413, "payload_too_large"),
}


@pytest.mark.parametrize("raw, status, error_type", THROUGH_NGINX.values(), ids=THROUGH_NGINX.keys())
def test_behind_nginx_every_refusal_is_the_json_envelope(nginx_front, raw, status, error_type):
    got, headers, body = exchange(nginx_front, raw)
    assert got == status, body[:300]
    assert headers["content-type"].startswith("application/json"), headers
    envelope = json.loads(body)
    assert (envelope["result"], envelope["data"], envelope["error_type"]) == (False, None, error_type)


def test_behind_nginx_the_judge_host_serves_only_the_judge(nginx_front):
    judge = f"GET /judge HTTP/1.1\r\nHost: {JUDGE_HOST}\r\nConnection: close\r\n\r\n".encode()
    status, _, body = exchange(nginx_front, judge)
    assert status == 200 and body.startswith(b"REMOTE_ADDR = 127.0.0.1\n")
    other = f"GET /api/v1/account HTTP/1.1\r\nHost: {JUDGE_HOST}\r\nConnection: close\r\n\r\n".encode()
    status, headers, body = exchange(nginx_front, other)
    assert status == 404 and json.loads(body)["error_type"] == "not_found"


# ----------------------------------------------------------------------------- Django's limits
TOO_MANY_FIELDS = "&".join(f"f{i}=1" for i in range(1_100))  # DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000


@pytest.mark.parametrize("path", ["orders", "jobs", "public-proxies", "stats", "account/transactions", "proxy", "geo/states"])
def test_too_many_query_parameters_is_a_400_envelope(tenants, path):
    response = call(tenants.a.key, "GET", f"{path}?{TOO_MANY_FIELDS}")
    assert response.status_code == 400, response.raw[:300]
    assert response.json_body["error_type"] == "bad_request"
    assert "parameters" in response.json_body["error"]


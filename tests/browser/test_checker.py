"""The Checker page in Chromium: paste a list, watch the job's progress reach 100 %, filter, export."""

import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from checker.models import CheckJob
from checker.tasks import run_check_job
from portal.celery import app as celery_app
from tests.checker.servers import closed_port, start_pproxy, stop_process
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def real_proxies():
    started = [start_pproxy("http"), start_pproxy("socks5")]
    yield [port for _, port in started]
    for proc, _ in started:
        stop_process(proc)


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (the slow part of the job)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted = []
    stop = threading.Event()

    def loop():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


def test_submit_watch_progress_filter_and_export(page, login, owner, live_server, settings, real_proxies,
                                                  silent_port, tmp_path):
    # The portal's own judge; the job runs in a worker thread (not inside the request) so the
    # page has something to watch.
    settings.CHECKER_JUDGE_URL = live_server.url.replace("127.0.0.1", "localhost") + "/judge"
    settings.CHECKER_ALLOW_PRIVATE = True
    settings.CHECKER_TIMEOUT_S = 3.0
    celery_app.conf.task_always_eager = False
    http_port, socks_port = real_proxies
    dead_port = closed_port()

    login("owner@example.com", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Checker").click()
    expect(page.get_by_role("heading", name="Checker", level=1)).to_be_visible()
    page.get_by_label("Proxies").fill(
        f"127.0.0.1:{http_port}\nsocks5://127.0.0.1:{socks_port}\n127.0.0.1:{dead_port}\n"
        + "\n".join(f"user{i}:pw@127.0.0.1:{silent_port}" for i in range(3))
    )
    page.get_by_label("Include anonymity").check()
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("heading", name="Check job", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    expect(page.locator("#job-progress")).to_contain_text("0 %")

    job = CheckJob.objects.get()
    assert job.status == "queued"

    def worker():
        try:
            run_check_job(str(job.job_id))
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        # Updates by itself: no reload from the test.
        expect(page.locator("#job-progress")).to_contain_text("100 %", timeout=20_000)
    finally:
        thread.join(30)
    results = page.get_by_role("table", name="Results")
    expect(results.locator("tbody tr")).to_have_count(6, timeout=10_000)
    expect(page.get_by_role("progressbar")).to_have_attribute("value", "100")
    expect(page.locator("#job-progress")).to_contain_text("Live 2")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)

    page.get_by_role("navigation", name="Filter results").get_by_role("link", name="Live").click()
    expect(results.locator("tbody tr")).to_have_count(2)
    expect(results).to_contain_text(f"socks5://127.0.0.1:{socks_port}")
    expect(results).not_to_contain_text(str(dead_port))

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export TXT").click()
    path = tmp_path / "live.txt"
    download_info.value.save_as(path)
    assert sorted(path.read_text().split()) == sorted([f"127.0.0.1:{http_port}", f"socks5://127.0.0.1:{socks_port}"])

    page.get_by_role("navigation", name="Filter results").get_by_role("link", name="All").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    csv_path = tmp_path / "all.csv"
    download_info.value.save_as(csv_path)
    assert len(csv_path.read_text().splitlines()) == 7

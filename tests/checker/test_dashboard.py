"""The Checker pages: submit (paste or upload), the job page, progress JSON, exports, cancel,
roles, tenancy, and the public list browser."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Role
from accounts.services import user_create_with_account
from checker.models import CheckItem, CheckJob, PoolProxy
from tests.checker.servers import closed_port
from tests.conftest import PASSWORD, dashboard_client


@pytest.fixture
def dash():
    """dash(user, account) → a signed-in client working in `account`."""
    return dashboard_client


@pytest.fixture
def viewer(account):
    user, _ = user_create_with_account(email="viewer@example.com", password=PASSWORD, name="Viewer's own")
    Membership.objects.create(user=user, account=account, role=Role.VIEWER)
    return user


def _post(client, data, capture):
    with capture(execute=True):
        return client.post("/checker/", data)


def test_member_pastes_a_list_and_sees_the_results(account, member, dash, checker_on, proxies,
                                                    django_capture_on_commit_callbacks):
    client = dash(member, account)
    page = client.get("/checker/")
    assert page.status_code == 200
    assert b'<label for="id_proxies_text">Proxies</label>' in page.content
    assert b">Check</button>" in page.content
    dead = closed_port()
    response = _post(client, {"proxies_text": f"127.0.0.1:{proxies['http']}\n127.0.0.1:{dead}\nbad line"},
                     django_capture_on_commit_callbacks)
    job = CheckJob.objects.get(account=account)
    assert response.status_code == 302 and response.url == f"/checker/jobs/{job.job_id}/"
    assert job.created_by == member and job.invalid == 1
    html = client.get(response.url).content.decode()
    assert "100 %" in html
    assert f"127.0.0.1:{proxies['http']}" in html
    assert '<strong title="refused">Connection refused</strong>' in html  # in words, with a reason
    assert "Nothing accepted the connection on this port" in html
    assert ">Completed</span>" in html and ">Live</span>" in html and ">Dead</span>" in html
    assert "Lines that are not proxies" in html and "<li><code>bad line</code></li>" in html
    assert "Cancel</button>" not in html  # finished
    live_only = client.get(response.url, {"status": "live"}).content.decode()
    assert f"127.0.0.1:{proxies['http']}" in live_only and f"127.0.0.1:{dead}" not in live_only

    progress = json.loads(client.get(f"/checker/jobs/{job.job_id}/progress/").content)
    assert progress == {"job_id": str(job.job_id), "status": "completed", "status_label": "Completed", "total": 2,
                        "done": 2, "live": 1, "dead": 1, "percent": 100, "finished": True}

    export = client.get(f"/checker/jobs/{job.job_id}/export/", {"format": "txt"})
    assert b"".join(export.streaming_content).decode() == f"127.0.0.1:{proxies['http']}\n"
    csv_export = client.get(f"/checker/jobs/{job.job_id}/export/", {"format": "csv"})
    assert len(b"".join(csv_export.streaming_content).decode().splitlines()) == 3


def test_upload_a_file_with_options(account, owner, dash, django_capture_on_commit_callbacks):
    client = dash(owner, account)
    upload = SimpleUploadedFile("list.txt", b"203.0.113.1:80\n203.0.113.2:80\n", content_type="text/plain")
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/checker/", {
            "proxies_file": upload, "include_anonymity": "on", "target_url": "https://example.com/",
            "expect_text": "Example",
        })
    assert response.status_code == 302
    job = CheckJob.objects.get(account=account)
    assert (job.total, job.include_anonymity, job.target_url, job.expect_text) == (2, True, "https://example.com/", "Example")
    html = client.get(response.url).content.decode()
    assert "0 %" in html and "Cancel</button>" in html and 'data-progress-url="' in html


def test_form_errors_show_beside_the_field(account, owner, dash):
    client = dash(owner, account)
    empty = client.post("/checker/", {"proxies_text": ""})
    assert empty.status_code == 400
    assert "Paste a list of proxies or upload a file." in empty.content.decode()
    invalid = client.post("/checker/", {"proxies_text": "nothing here"})
    assert invalid.status_code == 400 and "No valid proxy" in invalid.content.decode()
    target = client.post("/checker/", {"proxies_text": "203.0.113.1:80", "target_url": "gopher://x"})
    assert target.status_code == 400 and "http:// or https://" in target.content.decode()
    assert CheckJob.objects.count() == 0


def test_viewer_reads_but_cannot_submit_or_cancel(account, owner, viewer, dash):
    job = CheckJob.objects.create(account=account, total=1, status="running")
    client = dash(viewer, account)
    page = client.get("/checker/").content.decode()
    assert "Check</button>" not in page
    assert f"/checker/jobs/{job.job_id}/" in page
    refused = client.post("/checker/", {"proxies_text": "203.0.113.1:80"})
    assert refused.status_code == 302
    assert CheckJob.objects.count() == 1
    job_page = client.get(f"/checker/jobs/{job.job_id}/").content.decode()
    assert "Cancel</button>" not in job_page
    assert client.post(f"/checker/jobs/{job.job_id}/cancel/").status_code == 403
    job.refresh_from_db()
    assert job.status == "running"


def test_cancel_button_cancels_a_running_job(account, member, dash):
    job = CheckJob.objects.create(account=account, total=10, status="running", heartbeat_at=timezone.now())
    client = dash(member, account)
    assert "Cancel</button>" in client.get(f"/checker/jobs/{job.job_id}/").content.decode()
    response = client.post(f"/checker/jobs/{job.job_id}/cancel/", follow=True)
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished_at
    assert "The job was cancelled." in response.content.decode()
    again = client.post(f"/checker/jobs/{job.job_id}/cancel/", follow=True)
    assert "already cancelled" in again.content.decode()


def test_another_tenants_job_is_404_everywhere(account, owner, outsider, outsider_account, dash):
    theirs = CheckJob.objects.create(account=outsider_account, total=1)
    CheckItem.objects.create(job=theirs, proxy_norm="203.0.113.1:80", status="live")
    client = dash(owner, account)
    for suffix in ("", "progress/", "export/?format=txt"):
        assert client.get(f"/checker/jobs/{theirs.job_id}/{suffix}").status_code == 404, suffix
    assert client.post(f"/checker/jobs/{theirs.job_id}/cancel/").status_code == 404
    assert client.get("/checker/jobs/not-a-uuid/").status_code == 404
    assert str(theirs.job_id) not in client.get("/checker/").content.decode()


def test_anonymous_visitors_are_sent_to_log_in(db):
    response = Client().get("/checker/")
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_public_list_browser_filters_and_exports(account, viewer, dash):
    now = timezone.now()
    PoolProxy.objects.create(pool="public", proxy_norm="203.0.113.1:80", host="203.0.113.1", port=80,
                             protocol="http", country="US", last_status="live", last_checked_at=now, uptime_score=1)
    PoolProxy.objects.create(pool="public", proxy_norm="socks5://203.0.113.2:1080", host="203.0.113.2", port=1080,
                             protocol="socks5", country="DE", last_status="live", last_checked_at=now, uptime_score=1)
    client = dash(viewer, account)
    html = client.get("/checker/public/").content.decode()
    assert "203.0.113.1:80" in html and "socks5://203.0.113.2:1080" in html
    html = client.get("/checker/public/", {"protocol": "socks5"}).content.decode()
    assert "203.0.113.1:80" not in html and "socks5://203.0.113.2:1080" in html
    bad = client.get("/checker/public/", {"min_uptime": "7"})
    assert bad.status_code == 400
    export = client.get("/checker/public/export/", {"country": "US", "format": "txt"})
    assert b"".join(export.streaming_content).decode() == "203.0.113.1:80\n"


def test_a_list_without_any_proxy_is_explained_beside_the_field(account, owner, dash):
    client = dash(owner, account)
    html = client.post("/checker/", {"proxies_text": "hello\nworld"}).content.decode()
    assert "No valid proxy in the list: no line reads as a proxy." in html
    assert 'class="alert-link">Proxies</a>: No valid proxy' in html  # the label, not the API's name
    assert "in proxies_text" not in html
    assert not CheckJob.objects.exists()


def test_every_engine_error_code_has_words_and_a_reason():
    from checker.engine.check import ERROR_CODES
    from checker.reasons import REASONS, reason_for

    assert set(REASONS) == set(ERROR_CODES)
    assert reason_for("blocked_address")[0] == "Address not allowed"
    assert reason_for("bad_response")[0] == "Not a proxy"
    assert reason_for(None) is None and reason_for("new_code") == ("New code", "")

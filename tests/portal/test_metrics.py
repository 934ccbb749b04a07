"""GET /metrics: closed to an anonymous caller, open to the token or an allowed address, and
exposing the series the deployment guide and the Grafana dashboard read after a check job, an
order, a webhook delivery, a usage delivery, a rate-limit refusal and a Celery task."""

import re

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from checker.services.jobs import job_create
from checker.services.runner import job_run
from events.services import event_emit
from orders.residential import services as residential
from tests.checker.conftest import aio, checker_on, judge_server, proxies, silent_server  # noqa: F401
from tests.events.conftest import hook, receiver, webhook_settings  # noqa: F401
from tests.orders.conftest import add_stock, ensure_catalogue, fund
from tests.orders.residential.subuser_fixtures import deliver, record, residential_order

TOKEN = "metrics-test-token-0123456789"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW_IPS = []
    return settings


def scrape(**headers) -> dict[str, float]:
    """{'name{label="v",…}': value} of every sample /metrics shows."""
    response = Client().get("/metrics", headers=headers or {"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for key, v in samples.items()
               if key.split("{", 1)[0] == name and all(w in key for w in wanted))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                                     {"X-API-Key": TOKEN}])
def test_an_anonymous_or_wrong_caller_is_refused(db, metrics_on, headers):
    response = Client().get("/metrics", headers=headers)
    assert response.status_code == 404
    assert response.json() == {"result": False, "data": None, "error": "Not found.", "error_type": "not_found",
                               "meta": {}}
    assert b"portal_http" not in response.content


def test_closed_without_a_token_or_an_address(db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_IPS = []
    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_an_allowed_address_needs_no_token(db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_IPS = ["127.0.0.0/8"]
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 404
    settings.NUM_PROXIES = 1  # behind a proxy, the client's address counts, not the proxy's
    behind = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert behind.get("/metrics").status_code == 404


def test_other_methods_are_405_in_the_envelope(db, metrics_on):
    response = Client().post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405 and response.json()["error_type"] == "method_not_allowed"


def test_series_after_a_job_an_order_a_webhook_and_usage(
    account, make_key, api, metrics_on, checker_on, proxies, silent_server, hook, receiver,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    before = scrape()

    # A check job: 1 live, 1 dead.
    checker_on.CHECKER_TIMEOUT_S = 1.0
    job = job_create(account=account, proxies_text=f"127.0.0.1:{proxies['http']}\n"
                                                   f"http://127.0.0.1:{silent_server.port}")
    job_run(job_id=job.pk)

    # An order through the API (a ledger charge; the deposit that funds it is a posting too).
    ensure_catalogue()
    add_stock()
    with django_capture_on_commit_callbacks(execute=True):
        fund(account, "100.00")
    client = api(make_key(account, scopes=["orders:read", "orders:write"]))
    with django_capture_on_commit_callbacks(execute=True):
        placed = client.post("orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"})
    assert placed.status_code == 201, placed.json_body

    # A webhook delivery to the customer's receiver.
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(account=account, type="order.activated", data={"id": "ord_x"})
    assert receiver.calls

    # A usage delivery.
    proxy = residential.subuser_create(account=account, order_id=residential_order(account).public_id, name="m")
    assert deliver([record(proxy.username, 10, 20)]).status_code == 200

    after = scrape()

    def grew(name, by=1, **labels):
        assert value(after, name, **labels) - value(before, name, **labels) >= by, (name, labels)

    grew("portal_checks_total", kind="job", outcome="live")
    grew("portal_checks_total", kind="job", outcome="dead")
    grew("portal_ledger_postings_total", type="charge")
    grew("portal_ledger_postings_total", type="deposit")
    grew("portal_webhook_deliveries_total", outcome="delivered")
    grew("portal_celery_task_duration_seconds_count", task="orders.tasks.provision_order", state="SUCCESS")
    grew("portal_usage_records_total", source="webhook", outcome="accepted")
    # Requests by route name (not path), method and status; a histogram's count is the request count.
    grew("portal_http_request_duration_seconds_count", route="api-orders", method="POST", status="201")
    grew("portal_http_request_duration_seconds_count", route="webhook-usage", method="POST", status="200")
    assert not any("/api/v1" in key for key in after)
    assert value(after, "portal_celery_queue_length", queue="celery") >= 0
    assert any(k.startswith("portal_celery_queue_length{") for k in after)


def test_rate_limit_refusals_are_counted_by_category(account, make_key, api, metrics_on):
    client = api(make_key(account, scopes=["balance:read"]))
    before = value(scrape(), "portal_rate_limit_refusals_total", category="general")
    statuses = [client.get("account").status_code for _ in range(62)]  # the free plan's 60 a minute
    assert statuses[-2:] == [429, 429]
    assert value(scrape(), "portal_rate_limit_refusals_total", category="general") - before == 2


def test_task_durations_come_from_celerys_signals(db, metrics_on):
    from celery.signals import task_postrun, task_prerun

    class Task:
        name = "orders.tasks.expire_orders"

    task_prerun.send(sender=Task, task_id="t1", task=Task)
    task_postrun.send(sender=Task, task_id="t1", task=Task, state="SUCCESS")
    samples = scrape()
    assert value(samples, "portal_celery_task_duration_seconds_count", task=Task.name, state="SUCCESS") >= 1


def test_the_scrape_is_valid_exposition_text(db, metrics_on):
    body = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    assert re.search(r"^# TYPE portal_http_request_duration_seconds histogram$", body, re.M)

"""The Webhooks page: owners and admins add endpoints (the secret shown once), toggle, delete,
send a test event, see deliveries and resend; members are refused, other tenants get 404."""

import re

import pytest

from accounts.models import Membership, Role
from events.models import Delivery, Endpoint
from tests.conftest import dashboard_client

pytestmark = pytest.mark.django_db

PAGE = "/settings/webhooks/"


@pytest.fixture
def owner_client(owner, account):
    return dashboard_client(owner, account)


def test_adding_an_endpoint_shows_its_secret_once(owner_client, receiver):
    response = owner_client.post(PAGE, {"url": receiver.url, "events": ["order.activated", "job.completed"]})
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["order.activated", "job.completed"]
    page = owner_client.get(PAGE).content.decode()
    assert endpoint.secret in page and "will not be shown again" in page
    again = owner_client.get(PAGE).content.decode()
    assert endpoint.secret not in again and receiver.url in again
    assert endpoint.secret not in owner_client.get(f"{PAGE}{endpoint.public_id}/").content.decode()


def test_bad_input_is_shown_beside_the_fields(owner_client, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = owner_client.post(PAGE, {"url": "https://127.0.0.1/x"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "cannot be sent to this host" in page and "Choose at least one event type." in page
    response = owner_client.post(PAGE, {"url": "https://127.0.0.1/x", "events": ["ping"]})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_test_event_toggle_resend_and_delete(owner_client, account, hook, receiver, django_capture_on_commit_callbacks):
    detail = f"{PAGE}{hook.public_id}/"
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(f"{detail}test/").status_code == 302
    page = owner_client.get(detail).content.decode()
    delivery = Delivery.objects.get()
    assert delivery.event.public_id in page and "ping" in page and ">200<" in page
    assert receiver.calls[0]["verified"]
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(f"{detail}deliveries/{delivery.public_id}/resend/").status_code == 302
    assert len(receiver.calls) == 2 and Delivery.objects.count() == 2
    owner_client.post(f"{detail}toggle/")
    assert Endpoint.objects.get().enabled is False
    owner_client.post(f"{detail}toggle/", {"next": "detail"})
    assert Endpoint.objects.get().enabled is True
    assert owner_client.get(f"{detail}delete/").status_code == 200
    assert owner_client.post(f"{detail}delete/").status_code == 302
    assert not Endpoint.objects.exists()


def test_members_are_refused_and_the_link_is_hidden(member, account):
    client = dashboard_client(member, account)
    assert client.get(PAGE).status_code == 403
    assert PAGE not in client.get("/").content.decode()


def test_admins_may(member, account):
    Membership.objects.filter(user=member, account=account).update(role=Role.ADMIN)
    client = dashboard_client(member, account)
    assert client.get(PAGE).status_code == 200
    assert re.search(rf'href="{PAGE}"[^>]*>Webhooks<', client.get("/").content.decode())


def test_another_tenants_endpoint_is_404(outsider, outsider_account, hook):
    client = dashboard_client(outsider, outsider_account)
    for url in ("", "delete/"):
        assert client.get(f"{PAGE}{hook.public_id}/{url}").status_code == 404
    for url in ("toggle/", "delete/", "test/", "deliveries/dlv_x/resend/"):
        assert client.post(f"{PAGE}{hook.public_id}/{url}").status_code == 404
    assert Endpoint.objects.get().enabled is True


def test_a_suspended_account_reads_but_changes_nothing(owner_client, account, hook):
    account.is_active = False
    account.save(update_fields=["is_active"])
    assert owner_client.get(PAGE).status_code == 200
    assert owner_client.post(f"{PAGE}{hook.public_id}/delete/").status_code == 403
    assert owner_client.post(PAGE, {"url": "https://example.com/x", "events": ["order.failed"]}).status_code == 403
    assert Endpoint.objects.count() == 1

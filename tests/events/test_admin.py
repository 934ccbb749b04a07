"""Operators see endpoints and delivery attempts in the admin, never an endpoint's secret."""

import pytest
from django.test import Client

from accounts.models import User
from events.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    user = User.objects.create_superuser(email="operator@example.com", password="x-operator-9")
    client = Client()
    client.force_login(user)
    return client


def test_endpoints_and_deliveries_without_the_secret(operator, hook, account, django_capture_on_commit_callbacks):
    from events.services import endpoint_ping

    with django_capture_on_commit_callbacks(execute=True):
        endpoint_ping(account=account, public_id=hook.public_id)
    for url in ("/admin/events/endpoint/", f"/admin/events/endpoint/{hook.pk}/change/", "/admin/events/delivery/",
                f"/admin/events/delivery/{Delivery.objects.get().pk}/change/"):
        response = operator.get(url)
        assert response.status_code == 200, url
        assert hook.secret not in response.content.decode()
    operator.post("/admin/events/endpoint/", {"action": "disable_endpoints", "_selected_action": [hook.pk]})
    assert Endpoint.objects.get().enabled is False
    operator.post("/admin/events/endpoint/", {"action": "enable_endpoints", "_selected_action": [hook.pk]})
    assert Endpoint.objects.get().enabled is True

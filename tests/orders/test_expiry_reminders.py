from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Membership, Role
from orders.models import Order
from orders.tasks import expire_orders

from .conftest import add_stock, fund

pytestmark = pytest.mark.django_db


def _active_order(client_for, days_left):
    order_id = client_for.post(
        "orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"}
    ).json_body["data"]["id"]
    Order.objects.filter(public_id=order_id).update(expires_at=timezone.now() + timedelta(days=days_left))
    return order_id


def test_owners_and_admins_are_reminded_three_days_and_one_day_before(account, member, client_for):
    fund(account, "50")
    add_stock("datacenter", "DE", 3)
    order_id = _active_order(client_for, 2.5)
    mail.outbox.clear()
    expire_orders()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert order_id in message.subject and "3 days" in message.subject
    assert message.to == ["owner@example.com"]  # the member is not an owner or admin
    expire_orders()
    assert len(mail.outbox) == 1  # once per window
    Order.objects.filter(public_id=order_id).update(expires_at=timezone.now() + timedelta(hours=20))
    expire_orders()
    assert len(mail.outbox) == 2 and "1 day" in mail.outbox[1].subject
    expire_orders()
    assert len(mail.outbox) == 2


def test_an_order_due_within_a_day_gets_only_the_one_day_reminder(account, member, client_for):
    Membership.objects.filter(user=member).update(role=Role.ADMIN)
    fund(account, "50")
    add_stock("datacenter", "DE", 3)
    _active_order(client_for, 0.5)
    _active_order(client_for, 10)
    mail.outbox.clear()
    expire_orders()
    assert len(mail.outbox) == 1
    assert "1 day" in mail.outbox[0].subject
    assert sorted(mail.outbox[0].to) == ["member@example.com", "owner@example.com"]
    expire_orders()
    assert len(mail.outbox) == 1

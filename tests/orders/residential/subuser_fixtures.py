"""Helpers for the sub-user, usage and statistics tests: residential orders, signed deliveries."""

import hashlib
import hmac
import itertools
import json
from decimal import Decimal

from django.conf import settings
from django.test import Client
from django.utils import timezone

from orders.models import Order, OrderStatus

_ids = itertools.count(1)


def residential_order(account, gb="10", status=OrderStatus.ACTIVE) -> Order:
    """An active residential order of `gb` GB (as provisioning leaves it), without charging."""
    now = timezone.now()
    return Order.objects.create(
        account=account, type="residential", quantity=Decimal(gb), status=status,
        unit_price=Decimal("3.00"), subtotal=Decimal("30.00"), discount=Decimal("0.00"), total=Decimal("30.00"),
        activated_at=now if status == OrderStatus.ACTIVE else None, traffic_gb=Decimal(gb), provider="inventory",
    )


def datacenter_order(account) -> Order:
    return Order.objects.create(
        account=account, type="datacenter", quantity=Decimal(1), period_days=30, status=OrderStatus.ACTIVE,
        unit_price=Decimal("2.00"), subtotal=Decimal("2.00"), discount=Decimal("0.00"), total=Decimal("2.00"),
        activated_at=timezone.now(), provider="inventory",
    )


def sign(raw: bytes, secret: str | None = None) -> str:
    secret = settings.USAGE_WEBHOOK_SECRET if secret is None else secret
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def record(username, bytes_in, bytes_out, *, period_start="2025-03-01T10:15:00Z", requests=1, id=None):  # noqa: A002
    return {
        "id": id or f"rec-{next(_ids)}", "username": username, "period_start": period_start,
        "bytes_in": bytes_in, "bytes_out": bytes_out, "requests": requests,
    }


def deliver(records, *, client=None, signature=None):
    """POSTs a signed usage delivery; returns the response with `.json_body`."""
    raw = json.dumps({"records": records}).encode()
    client = client or Client()
    response = client.post(
        "/webhooks/usage", data=raw, content_type="application/json",
        headers={"X-Signature": signature if signature is not None else sign(raw)},
    )
    response.json_body = json.loads(response.content) if response.content else None
    return response

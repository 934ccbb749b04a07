"""Billing test helpers: funding through the ledger, signed webhook deliveries, PostgreSQL gates."""

import hashlib
import hmac
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from billing.services import ledger_post

requires_postgres = pytest.mark.skipif(
    not settings.IS_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL)"
)

BTC_VECTOR_0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
ETH_VECTOR_0 = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


def fund(account, amount, reference=None):
    """Credits `account` through the ledger (as a deposit would)."""
    amount = Decimal(str(amount))
    return ledger_post(
        account=account, type="deposit", amount=amount,
        reference=reference or f"test-fund:{account.pk}:{amount}:{threading.get_ident()}:{id(object())}",
        description="Test funding",
    )


def sign(body: bytes, secret: str | None = None) -> str:
    secret = settings.DEPOSIT_WEBHOOK_SECRET if secret is None else secret
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(payload, *, signature: str | None = None, client: Client | None = None, raw: bytes | None = None):
    """POSTs a deposit notification, signed correctly unless `signature` is given."""
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    sig = sign(body) if signature is None else signature
    if sig:
        headers["X-Signature"] = sig
    response = (client or Client()).post(
        "/webhooks/deposits", data=body, content_type="application/json", headers=headers
    )
    response.json_body = json.loads(response.content) if response.content else None
    return response


def run_concurrently(fn, count: int):
    """Runs fn(i) for i in range(count) on `count` threads released together by a barrier.

    Every thread uses its own database connection (Django's are per thread) and closes it.
    """
    barrier = threading.Barrier(count)

    def worker(i):
        try:
            barrier.wait(timeout=60)
            return fn(i)
        except Exception as exc:  # the caller inspects outcomes
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))

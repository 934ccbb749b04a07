from decimal import Decimal

from accounts.models import Plan
from billing.services import ledger_post
from tests.billing.conftest import fund


def test_transactions_are_newest_first_with_signed_two_place_amounts(account, make_key, api):
    fund(account, "20", reference="t1")
    ledger_post(account=account, type="charge", amount=Decimal("-3"), reference="t2", description="Order ord_x")
    response = api(make_key(account, scopes=["balance:read"])).get("account/transactions")
    assert response.status_code == 200
    body = response.json_body
    assert body["meta"] == {"page": 1, "limit": 20, "total": 2}
    first, second = body["data"]
    assert first["type"] == "charge" and first["amount"] == "-3.00" and first["balance_after"] == "17.00"
    assert second["type"] == "deposit" and second["amount"] == "20.00" and second["balance_after"] == "20.00"
    assert set(first) == {"id", "type", "amount", "balance_after", "description", "reference", "order_id", "created_at"}
    assert first["order_id"] is None  # posted without an order
    assert first["id"].startswith("txn_") and first["reference"] == "t2"
    assert first["created_at"].endswith("Z")


def test_transactions_paginate(account, make_key, api):
    for i in range(5):
        fund(account, "1", reference=f"p{i}")
    client = api(make_key(account, scopes=["balance:read"]))
    page2 = client.get("account/transactions", page=2, limit=2).json_body
    assert page2["meta"] == {"page": 2, "limit": 2, "total": 5}
    assert [t["reference"] for t in page2["data"]] == ["p2", "p1"]
    assert client.get("account/transactions", limit=100).status_code == 200


def test_transactions_limit_out_of_range_is_a_validation_error(account, make_key, api):
    client = api(make_key(account, scopes=["balance:read"]))
    for params in ({"limit": 101}, {"limit": 0}, {"page": 0}, {"limit": "x"}):
        response = client.get("account/transactions", **params)
        assert response.status_code == 400, params
        assert response.json_body["error_type"] == "validation_error"


def test_transactions_need_balance_read(account, make_key, api):
    response = api(make_key(account, scopes=["orders:read"])).get("account/transactions")
    assert response.status_code == 403
    assert response.json_body["error_type"] == "insufficient_scope"
    assert response.json_body["meta"]["required"] == "balance:read"


def test_another_tenants_transactions_are_invisible(account, outsider_account, make_key, api):
    fund(outsider_account, "99", reference="theirs")
    fund(account, "1", reference="mine")
    data = api(make_key(account, scopes=["balance:read"])).get("account/transactions").json_body["data"]
    assert [t["reference"] for t in data] == ["mine"]


def test_account_shows_balance_and_tier(account, make_key, api):
    fund(account, "12.5", reference="a")
    data = api(make_key(account, scopes=["balance:read"])).get("account").json_body["data"]
    assert data["balance"] == "12.50" and data["currency"] == "USD" and data["tier"] == "free"
    assert data["premium_until"] is None


def test_plans_list_the_default_plans_with_integer_limits(account, make_key, api):
    response = api(make_key(account, scopes=["balance:read"])).get("plans")
    assert response.status_code == 200
    plans = {p["tier"]: p for p in response.json_body["data"]}
    assert set(plans) == {"free", "premium"}
    free, premium = plans["free"], plans["premium"]
    assert free == {
        "id": "free", "name": "Free", "tier": "free", "price": "0.00", "period_days": 30,
        "limits": {"general": 60, "order_create": 10, "check": 20, "export": 10},
    }
    assert premium["price"] == "29.00" and premium["period_days"] == 30
    assert premium["limits"] == {"general": 300, "order_create": 30, "check": 200, "export": 60}
    assert not isinstance(premium["id"], int)


def test_plans_follow_operator_edits_and_hide_private_plans(account, make_key, api):
    Plan.objects.filter(tier="premium").update(price=Decimal("35.00"), limit_general=500)
    client = api(make_key(account, scopes=["balance:read"]))
    premium = next(p for p in client.get("plans").json_body["data"] if p["tier"] == "premium")
    assert premium["price"] == "35.00" and premium["limits"]["general"] == 500
    Plan.objects.filter(tier="premium").update(is_public=False)
    assert [p["tier"] for p in client.get("plans").json_body["data"]] == ["free"]


def test_plans_need_balance_read(account, make_key, api):
    response = api(make_key(account, scopes=["deposits:write"])).get("plans")
    assert response.status_code == 403
    assert response.json_body["meta"]["required"] == "balance:read"


def test_account_payload_is_what_the_serializer_renders(account, make_key, api):
    from datetime import timedelta

    from django.utils import timezone

    from billing.api import AccountOut

    account.name = "Zoë's proxies"
    account.premium_until = timezone.now() + timedelta(days=3, microseconds=7)
    account.save()
    fund(account, "0.1", reference="cents")
    account.refresh_from_db()
    served = api(make_key(account, scopes=["balance:read"])).get("account").json_body["data"]
    assert served == dict(AccountOut(account).data)
    assert served["tier"] == "premium" and served["balance"] == "0.10"

"""Runs inside a portal's own environment (its database, its settings), never in pytest's:

    python -m tests.upstream.seeding <function> '<JSON keyword arguments>'

prints the function's JSON answer on the last line. The harness (tests/upstream/harness.py)
calls it through `PortalProcess.call()`. Data is made through the operator's management
commands where one exists (createaccount, adjustbalance, createapikey, importproxies,
createsuperuser), and through the ORM for what has none (a plan's limits, premium).
"""

import io
import json
import os
import sys
import tempfile
from datetime import timedelta

STOCK_HOSTS = "203.0.113"  # TEST-NET-3: stock rows only, nothing ever connects to them


def _command(command: str, *args, **options) -> str:
    from django.core.management import call_command

    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def _account_of(email: str):
    from accounts.models import Membership

    return Membership.objects.select_related("account").get(user__email__iexact=email, role="owner").account


def operator(*, email: str, password: str) -> dict:
    """A staff superuser (the portal's owner, who gets the staff e-mails)."""
    os.environ["DJANGO_SUPERUSER_PASSWORD"] = password
    _command("createsuperuser", interactive=False, email=email)
    return {"email": email}


def customer(*, email: str, password: str, name: str, balance: str = "0", scopes: list[str] = (),
             premium: bool = False) -> dict:
    """An account with an owner, a balance, and (with `scopes`) an API key: {account_id, key}."""
    from django.utils import timezone

    _command("createaccount", email=email, password=password, name=name)
    if balance and float(balance):
        _command("adjustbalance", email=email, amount=balance, reason="two-portal test funding")
    account = _account_of(email)
    if premium:
        account.premium_until = timezone.now() + timedelta(days=365)
        account.save(update_fields=["premium_until"])
    key = None
    if scopes:
        key = _command("createapikey", email=email, scopes=",".join(scopes), name="reseller").strip().splitlines()[-1]
    return {"account_id": account.public_id, "email": email, "key": key}


def api_key(*, email: str, scopes: list[str], name: str = "extra") -> dict:
    return {"key": _command("createapikey", email=email, scopes=",".join(scopes), name=name).strip().splitlines()[-1]}


def stock(*, type: str, country: str, count: int, start: int = 0) -> dict:  # noqa: A002
    """`count` proxies of `type` in `country` into the order stock (importproxies --pool inventory)."""
    lines = [f"{STOCK_HOSTS}.{(i % 250) + 1}:{20000 + i}:{type}{i}:pw{i}" for i in range(start, start + count)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(lines) + "\n")
    try:
        text = _command("importproxies", fh.name, pool="inventory", type_code=type, country=country)
    finally:
        os.unlink(fh.name)
    return {"output": text.strip()}


def plan_limits(*, tier: str, **limits: int) -> dict:
    """Sets the tier's rate limits (limit_general=…, limit_order_create=…); set before the web
    server starts, which keeps plans in memory for a while."""
    from accounts.models import Plan

    updated = Plan.objects.filter(tier=tier).update(**limits)
    return {"updated": updated}


def quote(*, type: str, quantity: str, period: int | None = None, country: str | None = None) -> dict:  # noqa: A002
    """The portal's own price for this body (orders.pricing.quote, what its calc answers)."""
    from orders import pricing

    q = pricing.quote(type=type, quantity=quantity, period=period, country=country)
    return {"total": str(q.total), "unit_price": str(q.unit_price), "subtotal": str(q.subtotal),
            "discount": str(q.discount)}


def catalogue_drop(*, type: str, country: str | None = None, period: int | None = None) -> dict:  # noqa: A002
    """Makes this portal's own catalogue differ: `country` no longer sold for `type`, or the
    period of `period` days deactivated."""
    from orders.models import Country, Period, ProxyType

    if country:
        Country.objects.get(code=country).types.remove(ProxyType.objects.get(code=type))
    if period:
        Period.objects.filter(days=period).update(is_active=False)
    return {"ok": True}


def account_state(*, email: str) -> dict:
    """The account's balance, orders and ledger, as its portal's database holds them."""
    from billing.models import LedgerEntry
    from orders.models import Order

    account = _account_of(email)
    return {
        "account_id": account.public_id,
        "balance": str(account.balance),
        "orders": [
            {"id": o.public_id, "type": o.type, "status": o.status, "total": str(o.total), "provider": o.provider,
             "provider_ref": o.provider_ref, "expires_at": o.expires_at.isoformat() if o.expires_at else None}
            for o in Order.objects.filter(account=account).order_by("id")
        ],
        "ledger": [
            {"type": e.type, "amount": str(e.amount), "reference": e.reference}
            for e in LedgerEntry.objects.filter(account=account).order_by("id")
        ],
    }


def upstream_residential_order(*, email: str, provider_ref: str, gb: str) -> dict:
    """A residential order of `gb` GB as placement through the upstream provider leaves it once
    active: `provider` "upstream", `provider_ref` the upstream order's id (placed there by the
    test through the client, as the reseller's worker does), paid, not charged here."""
    from decimal import Decimal

    from django.utils import timezone

    from orders.models import Order, OrderStatus

    total = Decimal("3.90") * Decimal(gb)
    order = Order.objects.create(
        account=_account_of(email), type="residential", quantity=Decimal(gb), status=OrderStatus.ACTIVE,
        unit_price=Decimal("3.90"), subtotal=total, discount=Decimal("0.00"), total=total,
        activated_at=timezone.now(), traffic_gb=Decimal(gb), provider="upstream", provider_ref=provider_ref,
    )
    return {"id": order.public_id}


def pull_usage() -> dict:
    """One run of the beat's usage pull (`orders.residential.tasks.pull_usage`), here and now."""
    from orders.residential.tasks import pull_usage as task

    return task()


def subuser_state(*, public_id: str) -> dict:
    """A sub-user's row as this portal's database holds it (deleted ones too)."""
    from orders.residential.models import SubUserProxy, UsageRecord

    p = SubUserProxy.objects.select_related("order").get(public_id=public_id)
    return {
        "name": p.name, "status": p.status, "disabled_reason": p.disabled_reason, "deleted": p.deleted_at is not None,
        "username": p.username, "password": p.password, "upstream_id": p.upstream_id,
        "upstream_username": p.upstream_username, "upstream_pending": p.upstream_pending,
        "whitelist": p.whitelist, "city": p.city, "traffic_limit_gb": str(p.traffic_limit_gb),
        "traffic_used_bytes": p.traffic_used_bytes, "order_traffic_used_gb": str(p.order.traffic_used_gb),
        "records": UsageRecord.objects.filter(proxy=p).count(),
    }


def batch(*, steps: list[list]) -> list:
    """[[function, {kwargs}], ...] in one process (one Django start-up instead of one each)."""
    return [FUNCTIONS[name](**kwargs) for name, kwargs in steps]


FUNCTIONS = {f.__name__: f for f in (operator, customer, api_key, stock, plan_limits, quote, account_state, catalogue_drop,
                                      upstream_residential_order, pull_usage, subuser_state, batch)}


def main(argv: list[str]) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    name, kwargs = argv[0], json.loads(argv[1] if len(argv) > 1 else "{}")
    result = FUNCTIONS[name](**kwargs)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The dashboard Billing page: balance, transactions, deposit addresses, plans and premium."""

import segno
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import dashboard_view
from billing import selectors, services
from billing.derivation import NETWORKS, payment_uri
from billing.forms import DepositAddressForm
from core.errors import Conflict, DomainValidationError, InsufficientFunds, NotFound
from core.forms import form_add_service_error
from core.http import client_ip

TRANSACTIONS_PER_PAGE = 20
ADDRESSES_SHOWN = 100


def _address_rows(account):
    rows = []
    for a in selectors.deposit_addresses(account=account)[:ADDRESSES_SHOWN]:
        uri = payment_uri(NETWORKS[(a.currency, a.network)].uri_scheme, a.address)
        qr = segno.make(uri, error="m").svg_data_uri(scale=3, border=2)
        rows.append({"obj": a, "uri": uri, "qr": qr})
    return rows


def _render_page(request, *, form=None, status=200, upgrade_error=""):
    account = request.account
    account.refresh_from_db(fields=["balance", "premium_until"])
    transactions = Paginator(selectors.ledger_entries(account=account), TRANSACTIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    plans = list(selectors.plans_public())
    premium = next((p for p in plans if p.tier == "premium"), None)
    return render(
        request,
        "billing/page.html",
        {
            "account": account,
            "transactions": transactions,
            "addresses": _address_rows(account),
            "pending_deposits": selectors.pending_deposits(account=account),
            "plans": plans,
            "premium_plan": premium,
            "form": form or DepositAddressForm(),
            "upgrade_error": upgrade_error,
        },
        status=status,
    )


@dashboard_view("view")
def billing_page(request):
    return _render_page(request)


@dashboard_view("manage_deposits")
@require_POST
def address_create(request):
    form = DepositAddressForm(request.POST)
    if not form.is_valid():
        return _render_page(request, form=form, status=400)
    try:
        address = services.deposit_address_create(
            account=request.account, currency=form.cleaned_data["currency"],
            network=form.cleaned_data["network"] or None, actor=request.user,
        )
    except DomainValidationError as exc:
        form_add_service_error(form, exc)
        return _render_page(request, form=form, status=400)
    except Conflict as exc:
        form.add_error(None, exc.message)
        return _render_page(request, form=form, status=409)
    messages.success(request, f"New {address.currency} ({address.network}) deposit address: {address.address}")
    return redirect("dashboard:billing")


@dashboard_view("manage_deposits")
@require_POST
def premium_upgrade(request):
    try:
        account = services.premium_purchase(account=request.account, actor=request.user, ip=client_ip(request))
    except (InsufficientFunds, NotFound) as exc:
        return _render_page(request, status=402 if isinstance(exc, InsufficientFunds) else 404,
                            upgrade_error=exc.message)
    messages.success(request, f"Premium is active until {account.premium_until:%Y-%m-%d %H:%M} UTC.")
    return redirect("dashboard:billing")

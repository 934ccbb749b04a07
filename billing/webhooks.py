"""POST /webhooks/deposits: the chain watcher's signed deposit notifications.

No API key: the body is authenticated by `X-Signature: sha256=<hex HMAC-SHA256 of the raw
body keyed with DEPOSIT_WEBHOOK_SECRET>`, compared in constant time before anything else
is done with the call. A signed delivery is recorded for the operator with its body (up
to RAW_BODY_KEEP), status and outcome. A call whose signature does not hold leaves only
a short row without its body, and only the newest REJECTED_KEEP such rows are kept; bad
signatures are limited per client address (`refuse_bad_signature`). Answers use the API
envelope.
"""

import hashlib
import hmac
import ipaddress
import json
from decimal import Decimal

from django.conf import settings
from django.db.models import Subquery
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers

from api.envelope import envelope, error_envelope
from api.errors import http_error
from api.exceptions import _flatten
from api.ratelimit import TOO_MANY_AUTH_FAILURES, failed_authentication
from billing import selectors, services
from billing.derivation import NETWORKS
from billing.models import DepositDelivery
from billing.services import BALANCE_MAX
from core.errors import PortalError
from core.http import client_ip
from core.money import money_str

RAW_BODY_KEEP = 64 * 1024
REJECTED_KEEP = 1000  # rows of refused (badly signed) calls kept, newest first
BAD_SIGNATURE = "Bad or missing X-Signature (sha256=<hex HMAC-SHA256 of the body>)."


def signature_valid(raw_body: bytes, header: str, secret: str) -> bool:
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len("sha256="):].strip().lower().encode())


def refuse_bad_signature(request) -> JsonResponse:
    """The answer to a webhook call whose signature does not hold: 401, or 429 past the limit.

    Each bad signature counts against the caller's address in the failed-authentication
    budget its bad API keys draw on too (AUTH_FAILURES_PER_MINUTE, on the shared rate-limit
    store, so every web process counts together). Once it is spent, calls from that address
    get 429 with Retry-After until the window ends. Signatures are verified before this is
    consulted and a good one is never counted, so the real sender is never refused because
    of someone else's bad calls, whatever its address.
    """
    over = failed_authentication(request, client_ip(request))
    if over is not None:
        response = JsonResponse(error_envelope(TOO_MANY_AUTH_FAILURES, "rate_limited"), status=429)
        response["Retry-After"] = str(over.retry_after)
    else:
        response = JsonResponse(error_envelope(BAD_SIGNATURE, "unauthorized"), status=401)
    usage = getattr(request, "rate_usage", None)
    if usage is not None:
        for name, value in usage.headers().items():
            response[name] = value
    return response


def _ip_or_none(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _record_rejected(request, signature: str) -> None:
    """A short row for a refused call (no body), pruning all but the newest REJECTED_KEEP.

    Whoever knows the URL can make these, so they are bounded in size and in number: the
    operator still sees that (and from where) calls failed, e.g. a watcher with the wrong
    secret, but a flood costs two small writes per call within the address's budget.
    """
    DepositDelivery.objects.create(
        remote_ip=_ip_or_none(client_ip(request)), signature=signature[:200], signature_ok=False,
        status_code=401, outcome="refused: bad or missing signature",
    )
    rejected = DepositDelivery.objects.filter(signature_ok=False)
    oldest_kept_out = rejected.order_by("-id").values("id")[REJECTED_KEEP:REJECTED_KEEP + 1]
    rejected.filter(id__lte=Subquery(oldest_kept_out)).delete()


class DepositNotificationIn(serializers.Serializer):
    currency = serializers.CharField(max_length=8)
    network = serializers.CharField(max_length=8, required=False, allow_null=True, allow_blank=True)
    address = serializers.CharField(max_length=120)
    txid = serializers.RegexField(r"^[A-Za-z0-9:_\-]{1,128}$", max_length=128)
    vout = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    # In the coin's units: 15 whole digits (far above any coin's supply) and 18 places. The
    # column holds 22 whole digits; the margin keeps SQLite, which stores the value as a
    # float, from rounding a 22-digit amount up to 23 digits that no longer read back.
    amount = serializers.DecimalField(max_digits=33, decimal_places=18, min_value=Decimal("0"))
    amount_usd = serializers.DecimalField(
        max_digits=20, decimal_places=8, min_value=Decimal("0.005"), max_value=BALANCE_MAX,
        error_messages={"max_value": f"A deposit of more than {BALANCE_MAX} USD is more than an account can hold."},
    )
    confirmations = serializers.IntegerField(min_value=0, max_value=2**31 - 1)


def _answer(status: int, payload: dict, delivery: DepositDelivery) -> JsonResponse:
    delivery.status_code = status
    delivery.save()
    return JsonResponse(payload, status=status)


@csrf_exempt
def deposit_webhook(request):
    if request.method != "POST":
        return JsonResponse(
            error_envelope(f"Method {request.method} is not allowed here.", "method_not_allowed"), status=405
        )
    raw = request.body
    signature = request.headers.get("X-Signature", "")
    if not signature_valid(raw, signature, settings.DEPOSIT_WEBHOOK_SECRET):
        response = refuse_bad_signature(request)
        if response.status_code == 401:  # past the address's limit nothing is written
            _record_rejected(request, signature)
        return response
    delivery = DepositDelivery(
        remote_ip=_ip_or_none(client_ip(request)), signature=signature[:200], signature_ok=True,
        raw_body=raw[:RAW_BODY_KEEP].decode("utf-8", errors="replace"), outcome="", status_code=0,
    )
    try:
        payload = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError):
        delivery.outcome = "refused: malformed JSON"
        return _answer(400, error_envelope("Malformed request body: not JSON.", "bad_request"), delivery)
    if not isinstance(payload, dict):
        delivery.outcome = "refused: body is not a JSON object"
        return _answer(400, error_envelope("The body must be a JSON object.", "bad_request"), delivery)
    body = DepositNotificationIn(data=payload)
    if not body.is_valid():
        fields = _flatten(body.errors)
        first_field, messages = next(iter(fields.items()))
        delivery.outcome = f"refused: invalid {', '.join(fields)}"
        return _answer(400, error_envelope(
            f"{first_field}: {messages[0]}", "validation_error", meta={"fields": fields}
        ), delivery)
    data = body.validated_data
    try:
        deposit, outcome = services.deposit_notification_apply(
            currency=data["currency"], network=data.get("network"), address=data["address"],
            txid=data["txid"], vout=data["vout"], amount=data["amount"], amount_usd=data["amount_usd"],
            confirmations=data["confirmations"],
        )
    except PortalError as exc:
        delivery.outcome = f"refused: {exc.message}"[:255]
        status, error_type = http_error(exc)
        return _answer(status, error_envelope(exc.message, error_type, meta=exc.meta), delivery)
    delivery.deposit = deposit
    delivery.outcome = outcome[:255]
    return _answer(200, envelope({
        "currency": deposit.currency,
        "network": deposit.network,
        "txid": deposit.txid,
        "vout": deposit.vout,
        "amount_usd": money_str(deposit.amount_usd),
        "confirmations": deposit.confirmations,
        "confirmations_required": selectors.confirmations_required(
            NETWORKS[(deposit.currency, deposit.network)].chain
        ),
        "status": deposit.status,
        "credited": deposit.status == "credited",
    }), delivery)

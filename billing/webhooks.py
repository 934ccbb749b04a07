"""POST /webhooks/deposits: the chain watcher's signed deposit notifications.

No API key: the body is authenticated by `X-Signature: sha256=<hex HMAC-SHA256 of the raw
body keyed with DEPOSIT_WEBHOOK_SECRET>`, compared in constant time. Every delivery is
recorded (raw body, whether the signature held, status and outcome) for the operator.
Answers use the API envelope.
"""

import hashlib
import hmac
import json
from decimal import Decimal

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers

from billing import services
from billing.models import DepositDelivery
from billing.services import BALANCE_MAX
from portal.api.envelope import envelope, error_envelope
from portal.api.errors import PortalError
from portal.api.exceptions import _flatten
from portal.http import client_ip
from portal.money import money_str

RAW_BODY_KEEP = 64 * 1024


def signature_valid(raw_body: bytes, header: str, secret: str) -> bool:
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len("sha256="):].strip().lower().encode())


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
    delivery = DepositDelivery(
        remote_ip=client_ip(request) or None,
        signature=request.headers.get("X-Signature", "")[:200],
        outcome="",
        status_code=0,
    )
    if request.method != "POST":
        return JsonResponse(
            error_envelope(f"Method {request.method} is not allowed here.", "method_not_allowed"), status=405
        )
    raw = request.body
    delivery.raw_body = raw[:RAW_BODY_KEEP].decode("utf-8", errors="replace")
    delivery.signature_ok = signature_valid(raw, delivery.signature, settings.DEPOSIT_WEBHOOK_SECRET)
    if not delivery.signature_ok:
        delivery.outcome = "refused: bad or missing signature"
        return _answer(401, error_envelope(
            "Bad or missing X-Signature (sha256=<hex HMAC-SHA256 of the body>).", "unauthorized"
        ), delivery)
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
        return _answer(exc.status_code, error_envelope(exc.message, exc.error_type, meta=exc.meta), delivery)
    delivery.deposit = deposit
    delivery.outcome = outcome[:255]
    return _answer(200, envelope({
        "currency": deposit.currency,
        "network": deposit.network,
        "txid": deposit.txid,
        "vout": deposit.vout,
        "amount_usd": money_str(deposit.amount_usd),
        "confirmations": deposit.confirmations,
        "confirmations_required": services.confirmations_required(
            services.NETWORKS[(deposit.currency, deposit.network)].chain
        ),
        "status": deposit.status,
        "credited": deposit.status == "credited",
    }), delivery)

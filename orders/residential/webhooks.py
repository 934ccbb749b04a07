"""POST /webhooks/usage: the provider's signed usage records.

No API key: `X-Signature: sha256=<hex HMAC-SHA256 of the raw body keyed with
USAGE_WEBHOOK_SECRET>`, compared in constant time before anything else is done (bad or
missing: 401, nothing stored; past the address's budget of bad signatures: 429, see
`billing.webhooks.refuse_bad_signature`). Body
`{"records": [{id, username, period_start, bytes_in, bytes_out, requests}]}` (at most
MAX_RECORDS). Each record is stored once by its `id`; records for unknown usernames are
reported back in `data.unknown` and stored nowhere. Answers use the API envelope:
`data: {accepted, duplicates, unknown: [ids], disabled: [proxy ids]}`.
"""

import json
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers

from api.envelope import envelope, error_envelope
from api.errors import http_error
from api.exceptions import _flatten
from billing.webhooks import refuse_bad_signature, signature_valid
from core import dates
from core.errors import PortalError

from . import services

MAX_RECORDS = 5000
MAX_BYTES = 10**15  # per record: a petabyte an hour is a provider bug, not traffic
CLOCK_SKEW = timedelta(days=1)  # a record may be stamped this far ahead of our clock


class UsageRecordIn(serializers.Serializer):
    id = serializers.CharField(max_length=200)
    username = serializers.CharField(max_length=255)
    period_start = serializers.DateTimeField()
    bytes_in = serializers.IntegerField(min_value=0, max_value=MAX_BYTES)
    bytes_out = serializers.IntegerField(min_value=0, max_value=MAX_BYTES)
    requests = serializers.IntegerField(min_value=0, max_value=10**12, required=False, default=0)

    def validate_period_start(self, value):
        """Usage lies between the dates statistics can show and now: a record stamped
        0001-01-01 or 9999-12-31 would count against traffic yet never appear in a report."""
        earliest = datetime.combine(dates.EARLIEST, time.min, tzinfo=UTC)
        latest = timezone.now() + CLOCK_SKEW
        if not earliest <= value <= latest:
            raise serializers.ValidationError(
                f"period_start must lie between {earliest:%Y-%m-%d} and {latest:%Y-%m-%d %H:%M} UTC."
            )
        return value


class UsageDeliveryIn(serializers.Serializer):
    records = UsageRecordIn(many=True, allow_empty=True, max_length=MAX_RECORDS)


def _plain_records(payload: dict) -> list[services.UsageIn] | None:
    """The records of a delivery in the plain form providers send (trimmed strings, integers,
    ISO times), read without DRF: its serializer costs more than the rest of the ingest. None
    as soon as anything is unusual; the serializer then reads the body and names the errors,
    so what is accepted, and every message, is the serializer's."""
    records = payload.get("records")
    if not isinstance(records, list) or len(records) > MAX_RECORDS or len(payload) != 1:
        return None
    earliest = datetime.combine(dates.EARLIEST, time.min, tzinfo=UTC)
    latest = timezone.now() + CLOCK_SKEW
    out = []
    for r in records:
        if not isinstance(r, dict):
            return None
        rid, username, stamp = r.get("id"), r.get("username"), r.get("period_start")
        bytes_in, bytes_out, requests = r.get("bytes_in"), r.get("bytes_out"), r.get("requests", 0)
        if not (type(rid) is str and type(username) is str and type(stamp) is str
                and type(bytes_in) is int and type(bytes_out) is int and type(requests) is int):
            return None
        if not (0 < len(rid) <= 200 and 0 < len(username) <= 255 and rid.strip() == rid
                and username.strip() == username and rid.isascii() and username.isascii()
                and "\x00" not in rid and "\x00" not in username):
            return None
        if not (0 <= bytes_in <= MAX_BYTES and 0 <= bytes_out <= MAX_BYTES and 0 <= requests <= 10**12):
            return None
        if len(stamp) < 19 or stamp[10] != "T" or not stamp.endswith(("Z", "+00:00")):
            return None
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if when.tzinfo is None or not earliest <= when <= latest:
            return None
        out.append(services.UsageIn(id=rid, username=username, period_start=when, bytes_in=bytes_in,
                                    bytes_out=bytes_out, requests=requests))
    return out


@csrf_exempt
def usage_webhook(request):
    if request.method != "POST":
        return JsonResponse(
            error_envelope(f"Method {request.method} is not allowed here.", "method_not_allowed"), status=405
        )
    raw = request.body
    if not signature_valid(raw, request.headers.get("X-Signature", ""), settings.USAGE_WEBHOOK_SECRET):
        return refuse_bad_signature(request)
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return JsonResponse(error_envelope("Malformed request body: not JSON.", "bad_request"), status=400)
    if not isinstance(payload, dict):
        return JsonResponse(error_envelope("The body must be a JSON object.", "bad_request"), status=400)
    records = _plain_records(payload)
    if records is None:
        body = UsageDeliveryIn(data=payload)
        if not body.is_valid():
            fields = _flatten(body.errors)
            first_field, messages = next(iter(fields.items()))
            return JsonResponse(error_envelope(
                f"{first_field}: {messages[0]}", "validation_error", meta={"fields": fields}
            ), status=400)
        records = [
            services.UsageIn(
                id=r["id"], username=r["username"], period_start=r["period_start"], bytes_in=r["bytes_in"],
                bytes_out=r["bytes_out"], requests=r.get("requests") or 0,
            )
            for r in body.validated_data["records"]
        ]
    try:
        result = services.usage_ingest(records=records, source="webhook")
    except PortalError as exc:
        status, error_type = http_error(exc)
        return JsonResponse(error_envelope(exc.message, error_type, meta=exc.meta), status=status)
    return JsonResponse(envelope(result.as_dict()), status=200)

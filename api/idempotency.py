"""`Idempotency-Key` support for POST endpoints, as a decorator on the view method.

The record is inserted at the start of the request's transaction; a concurrent request with
the same key blocks on the unique index until the first commits, then replays its response.
Domain and validation errors are stored and replayed like successes (the service already
rolled back its own writes); rate limits and server errors are not stored.
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from api.exceptions import envelope_exception_handler
from api.models import IdempotencyRecord
from api.renderers import ApiResponse
from core.db import insert_unless_conflict
from core.errors import Conflict, DomainValidationError, PortalError

NOT_STORED = {429, 500, 503}


def _request_hash(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder)
    except (TypeError, ValueError):
        body = request.body.decode("utf-8", "replace")
    material = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(material.encode()).hexdigest()


def _snapshot(response: Response) -> dict:
    payload = json.loads(json.dumps(response.data, cls=JSONEncoder))
    return {
        "data": payload,
        "meta": json.loads(json.dumps(getattr(response, "envelope_meta", {}), cls=JSONEncoder)),
        "is_envelope": getattr(response, "is_envelope", False),
        "headers": {k: v for k, v in response.items() if k in ("Retry-After", "Location")},
    }


def _replay(record: IdempotencyRecord) -> Response:
    stored = record.response
    response = ApiResponse(stored["data"], meta=stored["meta"], status=record.status_code)
    response.is_envelope = stored["is_envelope"]
    for header, value in stored.get("headers", {}).items():
        response[header] = value
    response["Idempotent-Replayed"] = "true"
    return response


def _claim(*, account, key: str, request_hash: str, now) -> tuple[IdempotencyRecord, bool]:
    """Inserts this request's record: (record, True); or (the earlier record, False).

    A concurrent request with the same key waits on the unique index until the first one
    commits. An expired record of the key is replaced here (the beat purges them hourly,
    so this is rare and costs nothing on the common path)."""

    def insert() -> IdempotencyRecord | None:
        record = IdempotencyRecord(
            account=account, key=key, request_hash=request_hash,
            expires_at=now + timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS),
        )
        return record if insert_unless_conflict(record) else None

    record = insert()
    if record is not None:
        return record, True
    record = IdempotencyRecord.objects.get(account=account, key=key)
    if record.expires_at > now:
        return record, False
    record.delete()
    replacement = insert()
    if replacement is not None:
        return replacement, True
    # another request replaced it first
    return IdempotencyRecord.objects.get(account=account, key=key), False


def idempotent(view_method):
    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view_method(self, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > 255 or not key.isprintable():
            raise DomainValidationError({"Idempotency-Key": "Use 1 to 255 printable characters."})
        account = self.account
        request_hash = _request_hash(request)
        now = timezone.now()
        with transaction.atomic():
            record, claimed = _claim(account=account, key=key, request_hash=request_hash, now=now)
            if not claimed:
                if record.request_hash != request_hash:
                    raise Conflict("This Idempotency-Key was used with a different request body.")
                if record.status_code is None:
                    raise Conflict("A request with this Idempotency-Key is still in progress.")
                return _replay(record)
            try:
                response = view_method(self, request, *args, **kwargs)
            except (PortalError, APIException) as exc:
                response = envelope_exception_handler(exc, {"request": request, "view": self})
            if response.status_code in NOT_STORED:
                record.delete()
            else:
                record.status_code = response.status_code
                record.response = _snapshot(response)
                record.save(update_fields=["status_code", "response"])
            return response

    return wrapper


def purge_expired_idempotency_records() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted

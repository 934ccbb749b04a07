def test_account_endpoint_answers_in_the_envelope(account, make_key, api):
    response = api(make_key(account, scopes=["balance:read"])).get("account")
    assert response.status_code == 200
    body = response.json_body
    assert body["result"] is True and body["error"] == "" and body["error_type"] == ""
    assert body["data"]["id"] == account.public_id
    assert body["data"]["balance"] == "0.00"
    assert response["X-RateLimit-Limit"] == "60"


def test_unknown_api_path_is_an_envelope_404(db, api):
    response = api(None).get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json_body["error_type"] == "not_found"


def test_envelope_renderer_writes_exactly_what_drfs_json_renderer_writes():
    """The renderer's fast path (no indent asked for) must not drift from DRF's output."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from rest_framework.renderers import JSONRenderer

    from api.envelope import envelope
    from api.renderers import ApiResponse, EnvelopeRenderer

    payload = {"name": "Zoë \u2028 line \u2029 para ✓", "amount": Decimal("1.50"), "at": datetime(2026, 1, 2, tzinfo=UTC),
               "nested": [1, None, True, {"k": "v"}]}
    response = ApiResponse(payload, meta={"page": 1})
    ours = EnvelopeRenderer().render(payload, "application/json", {"response": response})
    drfs = JSONRenderer().render(envelope(payload, meta={"page": 1}), "application/json", {})
    assert ours == drfs
    assert b"\\u2028" in ours and "Zoë".encode() in ours
    indented = EnvelopeRenderer().render(payload, "application/json; indent=2", {"response": response})
    assert indented == JSONRenderer().render(envelope(payload, meta={"page": 1}), "application/json; indent=2", {})


def test_envelope_renderer_matches_drf_on_every_kind_of_value_it_may_meet():
    """orjson writes the plain case; what it declines (a lone surrogate, an integer past 64
    bits, a key that is not text) and what it would write its own way (datetimes, lazy text,
    decimals) still come out as DRF writes them."""
    import json
    import uuid
    from datetime import UTC, date, datetime, timedelta, timezone
    from decimal import Decimal

    from django.utils.translation import gettext_lazy
    from rest_framework.renderers import JSONRenderer

    from api.envelope import envelope
    from api.renderers import ApiResponse, EnvelopeRenderer

    payloads = [
        {"rows": [{"id": "px_1", "port": 8080, "ok": True, "none": None, "ratio": 0.25, "ms": 123.5}] * 3},
        {"at": datetime(2026, 12, 7, 8, 30, 1, 123456, tzinfo=UTC), "day": date(2026, 12, 7),
         "there": datetime(2026, 12, 7, 8, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))},
        {"amount": Decimal("12.340000"), "lazy": gettext_lazy("Not found."), "uuid": uuid.UUID(int=7)},
        {"big": 2**70, "negative_big": -(2**64)},
        {1: "int key", "text": "kept"},
        {"unicode": "Zoë ✓ 東京 \u2028\u2029 \x00\x1f \"quoted\" \\ back"},
        [],
        {},
    ]
    for payload in payloads:
        response = ApiResponse(payload, meta={"page": 1})
        ours = EnvelopeRenderer().render(payload, "application/json", {"response": response})
        drfs = JSONRenderer().render(envelope(payload, meta={"page": 1}), "application/json", {})
        assert ours == drfs, payload
        assert json.loads(ours)["result"] is True
    # DRF itself cannot write a lone surrogate (not UTF-8); the envelope carries it escaped.
    lone = {"lone": "a\ud800b"}
    ours = EnvelopeRenderer().render(lone, "application/json", {"response": ApiResponse(lone)})
    assert b"\\ud800" in ours and json.loads(ours)["data"] == lone

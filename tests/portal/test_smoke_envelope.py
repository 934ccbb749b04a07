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

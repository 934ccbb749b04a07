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

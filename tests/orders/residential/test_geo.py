"""Geo directory: lookups from packaged data, validation of targets, and the /geo API."""

import pytest

from core.errors import DomainValidationError
from orders.residential import geo

# --- the directory and validate_geo --------------------------------------------------------


def test_city_outside_its_state_is_refused():
    with pytest.raises(DomainValidationError) as exc:
        geo.validate_geo("US", "NY", "Los Angeles")
    assert "city" in exc.value.meta["fields"]
    assert "CA" in exc.value.meta["fields"]["city"][0]


def test_city_in_its_state_is_accepted_and_normalised():
    target = geo.validate_geo("us", "US-CA", "los_angeles", "")
    assert target == geo.GeoTarget(country="US", state="CA", city="Los Angeles", zip="")


def test_city_of_another_country_is_refused():
    with pytest.raises(DomainValidationError) as exc:
        geo.validate_geo("DE", "", "Los Angeles")
    assert list(exc.value.meta["fields"]) == ["city"]


def test_unknown_country_and_foreign_state_are_refused():
    with pytest.raises(DomainValidationError) as exc:
        geo.validate_geo("XX", "", "")
    assert "country" in exc.value.meta["fields"]
    with pytest.raises(DomainValidationError) as exc:
        geo.validate_geo("DE", "CA", "")
    assert "state" in exc.value.meta["fields"]
    with pytest.raises(DomainValidationError) as exc:
        geo.validate_geo("", "CA", "")
    assert "country" in exc.value.meta["fields"]


def test_zip_must_match_state_and_city():
    assert geo.validate_geo("US", "CA", "Beverly Hills", "90210").zip == "90210"
    with pytest.raises(DomainValidationError) as exc:
        geo.validate_geo("US", "NY", "", "90210")
    assert "zip" in exc.value.meta["fields"]
    with pytest.raises(DomainValidationError) as exc:
        geo.validate_geo("US", "", "Chicago", "90210")
    assert "zip" in exc.value.meta["fields"]
    with pytest.raises(DomainValidationError) as exc:
        geo.validate_geo("DE", "", "", "10115")
    assert "zip" in exc.value.meta["fields"]


def test_empty_target_means_anywhere():
    assert geo.validate_geo("", "", "", "") == geo.GeoTarget()


def test_directory_is_loaded_once_per_process():
    first = geo.directory.cities("US")
    assert geo.directory.cities("US") is first
    assert len(first) > 1000


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def geo_client(api, account, make_key):
    return api(make_key(account, scopes=["geo:read"]))


def test_countries_are_paginated_and_searchable(geo_client):
    r = geo_client.get("geo/countries")
    assert r.status_code == 200
    body = r.json_body
    assert body["meta"]["limit"] == 50 and body["meta"]["page"] == 1
    assert body["meta"]["total"] >= 240
    assert len(body["data"]) == 50
    page2 = geo_client.get("geo/countries", page=2, limit=10).json_body
    assert len(page2["data"]) == 10 and page2["data"][0] != body["data"][0]
    found = geo_client.get("geo/countries", q="germ").json_body["data"]
    assert {"code": "DE", "name": "Germany"} in found


def test_limit_outside_range_is_400(geo_client):
    r = geo_client.get("geo/countries", limit=201)
    assert r.status_code == 400 and r.json_body["error_type"] == "validation_error"
    assert "limit" in r.json_body["meta"]["fields"]
    assert geo_client.get("geo/countries", limit=200).status_code == 200


def test_states_of_a_country(geo_client):
    r = geo_client.get("geo/states", country="US", q="califor")
    assert r.status_code == 200
    assert r.json_body["data"][0]["code"] == "CA"
    assert r.json_body["data"][0]["iso_code"] == "US-CA"
    assert r.json_body["data"][0]["name"] == "California"


@pytest.mark.parametrize("path", ["geo/states", "geo/cities", "geo/zip"])
def test_unknown_country_is_a_validation_error_naming_it(geo_client, path):
    r = geo_client.get(path, country="XX")
    assert r.status_code == 400
    assert r.json_body["error_type"] == "validation_error"
    assert "country" in r.json_body["meta"]["fields"]


def test_states_need_a_country(geo_client):
    r = geo_client.get("geo/states")
    assert r.status_code == 400 and "country" in r.json_body["meta"]["fields"]


@pytest.mark.parametrize("state", ["CA", "US-CA", "ca"])
def test_cities_filter_by_state_in_either_form(geo_client, state):
    r = geo_client.get("geo/cities", country="US", state=state, q="los ang")
    assert r.status_code == 200
    names = [(c["name"], c["state"], c["country"]) for c in r.json_body["data"]]
    assert ("Los Angeles", "CA", "US") in names
    assert all(c["state"] == "CA" for c in r.json_body["data"])
    assert r.json_body["data"][0]["population"] > 1_000_000


def test_unknown_state_is_a_validation_error(geo_client):
    r = geo_client.get("geo/cities", country="US", state="ZZ")
    assert r.status_code == 400 and "state" in r.json_body["meta"]["fields"]


def test_zip_search_by_prefix(geo_client):
    r = geo_client.get("geo/zip", country="US", q="9021")
    assert r.status_code == 200
    rows = r.json_body["data"]
    assert {"zip": "90210", "city": "Beverly Hills", "state": "CA", "country": "US"} in rows
    assert all(row["zip"].startswith("9021") for row in rows)


def test_zip_of_country_without_data_is_refused(geo_client):
    r = geo_client.get("geo/zip", country="DE")
    assert r.status_code == 400 and "country" in r.json_body["meta"]["fields"]


def test_geo_needs_the_geo_scope(api, account, make_key):
    client = api(make_key(account, scopes=["proxies:read"]))
    r = client.get("geo/countries")
    assert r.status_code == 403
    assert r.json_body["meta"]["required"] == "geo:read"

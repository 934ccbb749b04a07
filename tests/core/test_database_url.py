"""core.env.database_from_url: the DATABASES entry, with psycopg's binding and preparing options."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.env import database_from_url


def test_parameters_are_quoted_by_the_client_by_default():
    entry = database_from_url("postgres://user:p%40ss@db.example:6432/portal?sslmode=require")
    assert entry["NAME"] == "portal" and entry["PASSWORD"] == "p@ss" and entry["PORT"] == "6432"
    assert entry["OPTIONS"] == {"sslmode": "require", "server_side_binding": False, "prepare_threshold": 5}


def test_the_url_turns_server_side_binding_on_and_tunes_it_with_typed_values():
    on = database_from_url("postgres://u:p@db/portal?server_side_binding=true")["OPTIONS"]
    assert on["server_side_binding"] is True
    tuned = database_from_url("postgres://u:p@db/portal?server_side_binding=true&prepare_threshold=2")["OPTIONS"]
    assert tuned == {"server_side_binding": True, "prepare_threshold": 2}
    for bad in ("server_side_binding=maybe", "prepare_threshold=often"):
        with pytest.raises(ImproperlyConfigured):
            database_from_url(f"postgres://u:p@db/portal?{bad}")

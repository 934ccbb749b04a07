"""core.env.database_from_url: the DATABASES entry, with psycopg's binding and preparing options."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.env import database_from_url


def test_parameters_are_bound_on_the_server_by_default_and_nothing_else_prepared_automatically():
    entry = database_from_url("postgres://user:p%40ss@db.example:6432/portal?sslmode=require")
    assert entry["NAME"] == "portal" and entry["PASSWORD"] == "p@ss" and entry["PORT"] == "6432"
    assert entry["OPTIONS"] == {"sslmode": "require", "server_side_binding": True}


def test_the_url_turns_server_side_binding_off_or_prepares_repeated_statements_with_typed_values():
    off = database_from_url("postgres://u:p@db/portal?server_side_binding=false")["OPTIONS"]
    assert off == {"server_side_binding": False}
    tuned = database_from_url("postgres://u:p@db/portal?prepare_threshold=2")["OPTIONS"]
    assert tuned == {"server_side_binding": True, "prepare_threshold": 2}
    for bad in ("server_side_binding=maybe", "prepare_threshold=often"):
        with pytest.raises(ImproperlyConfigured):
            database_from_url(f"postgres://u:p@db/portal?{bad}")

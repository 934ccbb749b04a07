"""core.db.insert_unless_conflict: the row once, however often it is offered."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from api.models import IdempotencyRecord
from core.db import insert_unless_conflict


def _record(account, key="k-1"):
    return IdempotencyRecord(account=account, key=key, request_hash="h",
                             expires_at=timezone.now() + timedelta(hours=1))


@pytest.fixture(params=["returning", "without returning"])
def insert_path(request, monkeypatch):
    if request.param == "without returning":  # SQLite before 3.35 has no RETURNING
        if connection.vendor != "sqlite":
            pytest.skip("only SQLite lacks RETURNING (before 3.35)")
        monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    return request.param


def test_a_new_row_is_inserted_and_gets_its_primary_key(account, insert_path):
    record = _record(account)
    assert insert_unless_conflict(record) is True
    assert record.pk is not None and not record._state.adding
    assert IdempotencyRecord.objects.get(pk=record.pk).key == "k-1"


def test_a_row_whose_unique_values_exist_is_not_inserted(account, insert_path):
    assert insert_unless_conflict(_record(account)) is True
    again = _record(account)
    assert insert_unless_conflict(again) is False
    assert again.pk is None
    assert IdempotencyRecord.objects.filter(account=account, key="k-1").count() == 1
    assert insert_unless_conflict(_record(account, key="k-2")) is True  # the transaction is still usable

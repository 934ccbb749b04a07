"""core.db.UtcIsoText: a timestamp as the API's time text, written by the database."""

from datetime import UTC, datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext

from checker.models import CheckJob
from core.db import UtcIsoText


def test_the_time_text_is_written_by_the_database_and_its_query_can_be_logged(account):
    """With DEBUG on (`dev.py run`), Django logs each query with its parameters filled in; the
    format's literal percent signs must survive that as they survive running the query."""
    CheckJob.objects.create(account=account, total=1, created_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    with CaptureQueriesContext(connection) as queries:  # the debug cursor DEBUG uses
        texts = list(
            CheckJob.objects.filter(account=account, total=1)  # a parameter beside the format
            .annotate(text=UtcIsoText("created_at")).values_list("text", flat=True)
        )
    assert texts == ["2026-03-04T05:06:07Z"]
    assert len(queries) == 1
    # and without a parameter beside it, with the debug cursor off
    assert list(CheckJob.objects.annotate(text=UtcIsoText("created_at")).values_list("text", flat=True)) == texts

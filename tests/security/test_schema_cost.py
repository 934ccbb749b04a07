"""The OpenAPI schema is public (no key), and building it costs about a tenth of a second of
CPU: a process builds it once, so anonymous requests for it cannot keep web processes busy."""

import json

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator


@pytest.mark.django_db
def test_the_public_schema_is_built_once_per_process(monkeypatch):
    from portal.views import CachedSchemaView

    monkeypatch.setattr(CachedSchemaView, "_built", {})
    builds = []
    real = SchemaGenerator.get_schema

    def counting(self, *args, **kwargs):
        builds.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counting)
    client = Client()
    first = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert first.status_code == 200
    for _ in range(20):
        again = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert again.status_code == 200 and json.loads(again.content) == json.loads(first.content)
    yaml = client.get("/api/v1/schema/")
    assert yaml.status_code == 200 and b"openapi:" in yaml.content
    assert len(builds) == 1

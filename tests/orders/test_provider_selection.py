"""Which provider supplies a proxy type: ORDER_PROVIDER, overridden per type by ORDER_PROVIDER_<TYPE>."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orders.providers import provider_name_for_type

ROOT = Path(__file__).resolve().parents[2]


def test_every_type_follows_order_provider_without_an_override(settings):
    settings.ORDER_PROVIDER = "inventory"
    settings.ORDER_PROVIDERS_BY_TYPE = {}
    assert {t: provider_name_for_type(t) for t in settings.ORDER_PROVIDER_TYPES} == dict.fromkeys(
        settings.ORDER_PROVIDER_TYPES, "inventory"
    )


def test_a_type_of_its_own_overrides_the_default(settings):
    settings.ORDER_PROVIDER = "inventory"
    settings.ORDER_PROVIDERS_BY_TYPE = {"isp": "http"}
    assert provider_name_for_type("isp") == "http"
    assert provider_name_for_type("datacenter") == "inventory"


def _settings_in_subprocess(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ORDER_PROVIDER", "UPSTREAM_"))}
    code = ("import django; from django.conf import settings; django.setup(); "
            "print(sorted(settings.ORDER_PROVIDERS_BY_TYPE.items()), settings.ORDER_PROVIDER, "
            "settings.UPSTREAM_MARKUP_PERCENT, settings.UPSTREAM_PLACE_DEADLINE_S, settings.UPSTREAM_LOW_BALANCE_USD)")
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_ALLOW_DEMO_SECRETS": "1", **env},
    )


def test_the_environment_sets_providers_per_type_and_the_upstream_defaults():
    done = _settings_in_subprocess(
        ORDER_PROVIDER_ISP="http", ORDER_PROVIDER_MOBILE=" ", UPSTREAM_API_URL="http://127.0.0.1:9/api/v1",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[('isp',", "'http')]", "inventory", "30", "300", "50"]


@pytest.mark.parametrize(("env", "message"), [
    ({"ORDER_PROVIDER_DATACENTER": "nope"}, "ORDER_PROVIDER_DATACENTER must be one of inventory, http, got 'nope'"),
    ({"ORDER_PROVIDER_ISP": "http"}, "ORDER_PROVIDER_ISP=http needs UPSTREAM_API_URL"),
    ({"UPSTREAM_MARKUP_PERCENT": "-5"}, "UPSTREAM_MARKUP_PERCENT must be a number of at least 0"),
    ({"UPSTREAM_PLACE_DEADLINE_S": "0"}, "UPSTREAM_PLACE_DEADLINE_S must be at least 1"),
])
def test_a_wrong_setting_stops_the_start_with_its_name(env, message):
    done = _settings_in_subprocess(**env)
    assert done.returncode != 0
    assert message in done.stderr

"""Which provider supplies a proxy type: ORDER_PROVIDER, overridden per type by ORDER_PROVIDER_<TYPE>,
both overridden by the operator's choice on the proxy type (the admin)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orders.models import ProxyType
from orders.providers import provider_name_for_type

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db  # the operator's choice is read from the catalogue


def test_every_type_follows_order_provider_without_an_override(settings):
    settings.ORDER_PROVIDER = "inventory"
    settings.ORDER_PROVIDERS_BY_TYPE = {}
    assert {t: provider_name_for_type(t) for t in settings.ORDER_PROVIDER_TYPES} == dict.fromkeys(
        settings.ORDER_PROVIDER_TYPES, "inventory"
    )


def test_a_type_of_its_own_overrides_the_default(settings):
    settings.ORDER_PROVIDER = "inventory"
    settings.ORDER_PROVIDERS_BY_TYPE = {"isp": "upstream"}
    assert provider_name_for_type("isp") == "upstream"
    assert provider_name_for_type("datacenter") == "inventory"


def test_the_operators_choice_on_the_type_comes_first(settings):
    settings.ORDER_PROVIDER = "inventory"
    settings.ORDER_PROVIDERS_BY_TYPE = {"isp": "upstream"}
    ProxyType.objects.filter(code="isp").update(provider="inventory")
    ProxyType.objects.get(code="mobile").save()  # a signal moves the catalogue's version: the edit is seen at once
    assert provider_name_for_type("isp") == "inventory"
    ProxyType.objects.filter(code="datacenter").update(provider="upstream")
    ProxyType.objects.get(code="mobile").save()
    assert provider_name_for_type("datacenter") == "upstream"
    ProxyType.objects.filter(code__in=["isp", "datacenter"]).update(provider="")
    ProxyType.objects.get(code="mobile").save()
    assert (provider_name_for_type("isp"), provider_name_for_type("datacenter")) == ("upstream", "inventory")


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
        ORDER_PROVIDER_ISP="upstream", ORDER_PROVIDER_MOBILE=" ", UPSTREAM_API_URL="http://127.0.0.1:9/api/v1",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[('isp',", "'upstream')]", "inventory", "30", "300", "50"]


@pytest.mark.parametrize(("env", "message"), [
    ({"ORDER_PROVIDER_DATACENTER": "nope"}, "ORDER_PROVIDER_DATACENTER must be one of inventory, upstream, got 'nope'"),
    ({"ORDER_PROVIDER_ISP": "upstream"}, "ORDER_PROVIDER_ISP=upstream needs UPSTREAM_API_URL"),
    ({"ORDER_PROVIDER": "http"}, "ORDER_PROVIDER must be one of inventory, upstream, got 'http'"),
    ({"UPSTREAM_MARKUP_PERCENT": "-5"}, "UPSTREAM_MARKUP_PERCENT must be a number of at least 0"),
    ({"UPSTREAM_PLACE_DEADLINE_S": "0"}, "UPSTREAM_PLACE_DEADLINE_S must be at least 1"),
])
def test_a_wrong_setting_stops_the_start_with_its_name(env, message):
    done = _settings_in_subprocess(**env)
    assert done.returncode != 0
    assert message in done.stderr

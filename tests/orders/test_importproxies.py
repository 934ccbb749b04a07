import re

import pytest
from django.core.management import CommandError, call_command

from orders.models import InventoryProxy

pytestmark = pytest.mark.django_db

LIST = """# stock from the supplier
203.0.113.5:8080
203.0.113.6:8080:alice:s3cret
bob:pw@203.0.113.7:3128
socks5://carol:pw@203.0.113.8:1080
203.0.113.5:8080
not a proxy
203.0.113.9:99999
"""


def _run(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("importproxies", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_inventory_import_counts_and_stores_stock(tmp_path):
    path = tmp_path / "stock.txt"
    path.write_text(LIST)
    out, _ = _run("--pool", "inventory", "--type", "datacenter", "--country", "de", str(path))
    assert "Imported 4" in out and "skipped 1" in out and "2 invalid" in out
    rows = {(p.host, p.port, p.username, p.password, p.protocol) for p in InventoryProxy.objects.all()}
    assert rows == {
        ("203.0.113.5", 8080, "", "", "http"),
        ("203.0.113.6", 8080, "alice", "s3cret", "http"),
        ("203.0.113.7", 3128, "bob", "pw", "http"),
        ("203.0.113.8", 1080, "carol", "pw", "socks5"),
    }
    assert set(InventoryProxy.objects.values_list("type", "country", "status")) == {("datacenter", "DE", "available")}
    out, _ = _run("--pool", "inventory", "--type", "datacenter", "--country", "DE", str(path))
    assert "Imported 0" in out and "skipped 5" in out
    assert InventoryProxy.objects.count() == 4


@pytest.mark.parametrize(
    "args",
    [
        ["--pool", "inventory", "--country", "DE"],
        ["--pool", "inventory", "--type", "datacenter"],
        ["--pool", "inventory", "--type", "residential", "--country", "DE"],
        ["--pool", "inventory", "--type", "datacenter", "--country", "Germany"],
        ["--pool", "public", "--type", "datacenter"],
    ],
)
def test_bad_arguments_are_a_clear_error(tmp_path, args):
    path = tmp_path / "stock.txt"
    path.write_text(LIST)
    with pytest.raises(CommandError):
        _run(*args, str(path))
    assert not InventoryProxy.objects.exists()


@pytest.mark.parametrize(("country", "message"), [
    ("XX", "XX is not a country code; use ISO 3166-1 alpha-2"),
    ("uk", "UK is not a country code (the United Kingdom is GB)"),
])
def test_unknown_country_is_an_error_and_imports_nothing(tmp_path, country, message):
    path = tmp_path / "stock.txt"
    path.write_text(LIST)
    with pytest.raises(CommandError, match=re.escape(message)):
        _run("--pool", "inventory", "--type", "datacenter", "--country", country, str(path))
    assert not InventoryProxy.objects.exists()


def test_counts_are_said_in_the_singular_and_plural(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("203.0.113.5:8080\n203.0.113.5:8080\nnot a proxy\n")
    out, _ = _run("--pool", "inventory", "--type", "datacenter", "--country", "DE", str(one))
    assert out.strip() == "Imported 1 proxy into inventory (datacenter, DE); skipped 1 duplicate; 1 invalid line."
    two = tmp_path / "two.txt"
    two.write_text("203.0.113.6:8080\n203.0.113.7:8080\n")
    out, _ = _run("--pool", "inventory", "--type", "datacenter", "--country", "DE", str(two))
    assert out.strip() == "Imported 2 proxies into inventory (datacenter, DE); skipped 0 duplicates; 0 invalid lines."


def test_missing_file_is_an_error():
    with pytest.raises(CommandError, match="Cannot read"):
        _run("--pool", "inventory", "--type", "isp", "--country", "US", "/nonexistent/list.txt")


def test_unorderable_country_warns(tmp_path):
    path = tmp_path / "stock.txt"
    path.write_text("203.0.113.5:8080\n")
    _, err = _run("--pool", "inventory", "--type", "mobile", "--country", "SE", str(path))
    assert "does not sell mobile proxies in SE" in err


def test_public_pool_goes_to_the_checker(tmp_path):
    from checker.models import PoolProxy

    path = tmp_path / "public.txt"
    path.write_text(LIST)
    out, _ = _run("--pool", "public", str(path))
    assert "Imported 4" in out
    assert PoolProxy.objects.filter(pool="public").count() == 4
    assert not InventoryProxy.objects.exists()

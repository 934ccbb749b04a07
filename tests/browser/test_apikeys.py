"""The API Keys page in Chromium: create, copy once, use, search, sort, revoke."""

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from apikeys.models import ApiKey
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY_RE = re.compile(r"pk_live_[0-9A-Za-z]{38}")


def _api_status(base_url: str, key: str, path: str = "/api/v1/account") -> int:
    request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the live test server
            json.loads(response.read())
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _create_key(page, name: str, scopes: list[str], expiration: str = "30 days") -> str:
    page.get_by_role("button", name="Create API Key").click()
    dialog = page.get_by_role("dialog", name="Create API Key")
    expect(dialog).to_be_visible()
    # The page behind the modal is hidden from the accessibility tree: one button by that name.
    expect(page.get_by_role("button", name="Create API Key")).to_have_count(1)
    dialog.get_by_label("Name").fill(name)
    for scope in scopes:
        dialog.get_by_label(scope, exact=True).check()
    dialog.get_by_label("Expiration").select_option(label=expiration)
    dialog.get_by_role("button", name="Create API Key").click()
    shown = page.get_by_role("dialog", name="Your New API Key")
    expect(shown).to_be_visible()
    expect(shown).to_contain_text("This API key will not be shown again")
    match = KEY_RE.search(shown.inner_text())
    assert match, shown.inner_text()
    return match.group(0)


def _names(page) -> list[str]:
    rows = page.locator("#api-keys-table tbody tr[data-name]:visible")
    return [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]


def test_create_copy_use_search_sort_and_revoke_a_key(page, login, owner, live_server):
    login("owner@example.com", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API Keys").click()
    expect(page.get_by_role("heading", name="API Keys", level=1)).to_be_visible()

    full_key = _create_key(page, "Browser key", ["balance:read", "orders:read"])
    shown = page.get_by_role("dialog", name="Your New API Key")
    shown.get_by_role("button", name="Copy").click()
    expect(shown.get_by_role("button", name="Copied")).to_be_visible()
    try:
        clipboard = page.evaluate("navigator.clipboard.readText()")
    except Exception:  # noqa: BLE001 - clipboard reading not permitted in this browser build
        clipboard = None
    if clipboard is not None:
        assert clipboard == full_key

    # The key works against the API, within its scopes only.
    assert _api_status(live_server.url, full_key) == 200
    assert _api_status(live_server.url, full_key, "/api/v1/deposits/addresses") == 200
    stored = ApiKey.objects.get(name="Browser key")
    assert stored.scopes == ["balance:read", "orders:read"]

    # Done: the key is gone from the page, also after a reload; the table shows only the prefix.
    shown.get_by_role("button", name="Done").click()
    expect(page.get_by_role("dialog", name="Your New API Key")).to_have_count(0)
    assert full_key[8:] not in page.content()
    page.reload()
    assert full_key[8:] not in page.content()
    row = page.get_by_role("row").filter(has_text="Browser key")
    expect(row).to_contain_text(f"{full_key[:12]}...")
    expect(row).to_contain_text("balance:read")
    expect(row).to_contain_text("orders:read")

    _create_key(page, "Alpha monitor", ["geo:read"], expiration="No expiration")
    page.get_by_role("dialog", name="Your New API Key").get_by_role("button", name="Done").click()
    assert sorted(_names(page)) == ["Alpha monitor", "Browser key"]

    # Search: live as you type, and on the server when submitted.
    search = page.get_by_label("Search")
    search.fill("browser")
    expect(page.get_by_role("row").filter(has_text="Alpha monitor")).to_be_hidden()
    assert _names(page) == ["Browser key"]
    search.press("Enter")
    page.wait_for_url(re.compile(r"q=browser"))
    assert _names(page) == ["Browser key"]
    search.fill("")
    search.press("Enter")
    page.wait_for_url(re.compile(r"\?q=&"))

    # Sort by clicking the column header, then again to reverse.
    page.get_by_role("columnheader", name="Name").click()
    page.wait_for_url(re.compile(r"sort=name"))
    assert _names(page) == ["Alpha monitor", "Browser key"]
    page.get_by_role("columnheader", name="Name").click()
    page.wait_for_url(re.compile(r"sort=-name"))
    assert _names(page) == ["Browser key", "Alpha monitor"]

    # Revoke through the confirmation dialog; the very next API call is refused.
    page.get_by_role("row").filter(has_text="Browser key").get_by_role("button", name="Revoke").click()
    confirm = page.get_by_role("dialog", name="Revoke API Key")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Browser key")
    expect(page.get_by_role("button", name="Revoke")).to_have_count(1)
    confirm.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    assert _names(page) == ["Alpha monitor"]
    assert _api_status(live_server.url, full_key) == 401


def test_page_works_without_javascript(chromium, live_server, owner):
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill("owner@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.goto("/keys/")
        page.get_by_role("button", name="Create API Key").click()  # → the page with the dialog open
        dialog = page.get_by_role("dialog", name="Create API Key")
        dialog.get_by_label("Name").fill("No JS")
        dialog.get_by_label("stats:read", exact=True).check()
        dialog.get_by_role("button", name="Create API Key").click()
        shown = page.get_by_role("dialog", name="Your New API Key")
        full_key = KEY_RE.search(shown.inner_text()).group(0)
        assert _api_status(live_server.url, full_key, "/api/v1/account") == 403  # stats:read only
        shown.get_by_role("button", name="Done").click()
        assert full_key[8:] not in page.content()
        page.get_by_role("row").filter(has_text="No JS").get_by_role("button", name="Revoke").click()
        confirm = page.get_by_role("dialog", name="Revoke API Key")
        confirm.get_by_role("button", name="Revoke").click()
        expect(page.get_by_role("status")).to_contain_text("revoked")
        assert _api_status(live_server.url, full_key, "/api/v1/account") == 401
    finally:
        context.close()

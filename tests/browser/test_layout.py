"""Every dashboard page in Chromium at phone, tablet and desktop widths: nothing wider than the
viewport (tables scroll inside their own box), a Menu button that opens the navigation on a
phone, the brand in every title, the favicon served, no console errors or failed requests, and
each page's HTML + CSS + JS under 150 KB as served compressed.

With SCREENSHOTS_DIR set (`python3 dev.py screenshots`) the walk also saves
<page>-1366.png and <page>-390.png there, of the viewport's height.
"""

import gzip
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Membership, Role
from accounts.services import invitation_create, user_create_with_account
from apikeys.services import apikey_create
from billing.services import deposit_address_create
from branding.models import Brand
from checker.models import CheckItem, CheckJob
from events.services import endpoint_create
from orders.residential.selectors import connection_username
from orders.residential.services import subuser_create
from orders.services import order_place
from tests.conftest import PASSWORD
from tests.orders.conftest import add_stock, ensure_catalogue, fund
from tests.orders.residential.subuser_fixtures import deliver, record, residential_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"phone": 390, "tablet": 768, "desktop": 1366}
PAGE_BUDGET = 150_000  # bytes of HTML + CSS + JS, gzipped as whitenoise serves the static files
SCREENSHOTS_DIR = os.environ.get("SCREENSHOTS_DIR")
SCREENSHOT_WIDTHS = {390, 1366}


def _seed(owner, account) -> dict[str, str]:
    """An account with something on every page; returns the pages to walk, name → path."""
    ensure_catalogue()
    fund(account, "250.00")
    add_stock("datacenter", "DE", 8)
    order = order_place(account=account, type="datacenter", quantity=3, period="30", country="DE", created_by=owner)
    residential = residential_order(account, gb="25")
    proxy = subuser_create(account=account, order_id=residential.public_id, name="Los Angeles scraper",
                           country="US", state="CA", city="Los Angeles", traffic_limit_gb=Decimal("5"),
                           whitelist=["203.0.113.7", "198.51.100.0/24"])
    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    usage = [record(connection_username(proxy), (days % 5 + 2) * 310_000_000, (days % 3 + 1) * 42_000_000,
                    period_start=(today - timedelta(days=days)).isoformat(), requests=900 + 37 * days)
             for days in range(12)]
    assert deliver(usage).status_code == 200
    apikey_create(account=account, name="CI deploy key", scopes=["orders:read", "proxies:read"],
                  expiration="never", created_by=owner, ip_allowlist=[])
    endpoint = endpoint_create(account=account, url="http://127.0.0.1:9/portal/events/receiver",
                               events=["order.activated", "deposit.credited"])
    deposit_address_create(account=account, currency="USDT", network="TRC20", actor=owner)
    teammate, _ = user_create_with_account(email="teammate@example.com", password=PASSWORD, name="Teammate Co")
    Membership.objects.create(user=teammate, account=account, role=Role.ADMIN)
    invitation_create(account=account, email="new.colleague@example.com", role="member", invited_by=owner, ip=None)
    job = CheckJob.objects.create(
        account=account, total=3, done=3, live=2, invalid=1, status="completed", finished_at=timezone.now(),
        proxies="203.0.113.10:8080\n203.0.113.11:3128\nsocks5://198.51.100.7:1080", created_by=owner,
    )
    CheckItem.objects.bulk_create([
        CheckItem(job=job, proxy_norm="http://203.0.113.10:8080", status="live", protocol="http", connect_ms=41,
                  ttfb_ms=180, exit_ip="203.0.113.10", country="DE", anonymity="elite"),
        CheckItem(job=job, proxy_norm="http://203.0.113.11:3128", status="live", protocol="http", connect_ms=77,
                  ttfb_ms=260, exit_ip="203.0.113.11", country="NL", anonymity="anonymous"),
        CheckItem(job=job, proxy_norm="socks5://198.51.100.7:1080", status="dead", error="timeout"),
    ])
    return {
        "overview": "/",
        "orders": "/orders/",
        "order-detail": f"/orders/{order.public_id}/",
        "proxies": "/proxies/",
        "proxy-detail": f"/proxies/{proxy.public_id}/",
        "statistics": "/stats/",
        "billing": "/billing/",
        "checker": "/checker/",
        "checker-job": f"/checker/jobs/{job.job_id}/",
        "checker-public": "/checker/public/",
        "api-keys": "/keys/",
        "webhooks": "/settings/webhooks/",
        "webhook-detail": f"/settings/webhooks/{endpoint.public_id}/",
        "team": "/team/",
        "audit-log": "/audit/",
        "settings": "/settings/",
    }


def _overflow(page) -> list[str]:
    """What sticks out of the viewport: the document's width, and the first elements wider."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const out = [];
        if (document.documentElement.scrollWidth > width) out.push(`document ${document.documentElement.scrollWidth}px > ${width}px`);
        for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (!box.width || getComputedStyle(el).visibility === 'hidden') continue;
            let clipped = false;
            for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
                const s = getComputedStyle(p);
                if (['auto', 'scroll', 'hidden'].includes(s.overflowX) || s.position === 'fixed') { clipped = true; break; }
            }
            if (!clipped && (box.right > width + 1 || box.left < -1)) {
                out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')} ${Math.round(box.left)}..${Math.round(box.right)}px`);
                if (out.length > 5) break;
            }
        }
        return out;
    }""")


def _scrolling_tables(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll('.table-wrap')]
        .filter(box => box.scrollWidth > box.clientWidth + 1)
        .map(box => box.querySelector('table')?.getAttribute('aria-label') || '?')""")


def _transferred(page, document: bytes, assets: list[str], sizes: dict) -> int:
    """The page's weight on the wire: its HTML and its stylesheets and scripts, gzipped."""
    for url in assets:
        if url not in sizes:
            sizes[url] = len(gzip.compress(page.request.get(url).body(), 9))
    return len(gzip.compress(document, 9)) + sum(sizes[url] for url in set(assets))


def _shoot(page, name: str, width: int) -> None:
    if SCREENSHOTS_DIR and width in SCREENSHOT_WIDTHS:
        Path(SCREENSHOTS_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS_DIR) / f"{name}-{width}.png"))


def test_every_page_fits_every_width_and_carries_the_brand(chromium, live_server, owner, account, settings):
    settings.WEBHOOKS_ALLOW_HTTP = settings.WEBHOOKS_ALLOW_PRIVATE = True
    Brand.objects.create(pk=1, name="Northwind Proxies", primary_color="#0f766e", support_email="help@northwind.test")
    pages = _seed(owner, account)
    problems = []
    for label, width in WIDTHS.items():
        context = chromium.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
        page = context.new_page()
        errors = []
        page.on("console", lambda msg: msg.type == "error" and errors.append(f"{page.url}: {msg.text}"))
        failed, assets, sizes = [], [], {}
        page.on("response", lambda response: response.status >= 400 and failed.append(f"{response.status} {response.url}"))
        page.on("request", lambda request: request.resource_type in {"stylesheet", "script"} and assets.append(request.url))
        for name, path in {"sign-in": "/accounts/login/", "sign-up": "/accounts/signup/"}.items():
            page.goto(path)
            expect(page).to_have_title(re.compile(r" · Northwind Proxies$"))
            problems += [f"{name} at {width}px: {o}" for o in _overflow(page)]
            _shoot(page, name, width)
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(owner.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url(lambda url: "/accounts/login" not in url)
        for name, path in pages.items():
            assets.clear()
            document = page.goto(path).body()
            page.wait_for_load_state("networkidle")
            weight = _transferred(page, document, list(assets), sizes)
            if weight > PAGE_BUDGET:
                problems.append(f"{name}: {weight} bytes of HTML, CSS and JS")
            expect(page).to_have_title(re.compile(r" · Northwind Proxies$"))
            problems += [f"{name} at {width}px: {o}" for o in _overflow(page)]
            if width == WIDTHS["desktop"]:  # on a laptop every table fits: no Actions column out of view
                problems += [f"{name} at {width}px: table {t} scrolls" for t in _scrolling_tables(page)]
            _shoot(page, name, width)
        assert not errors, errors
        assert not failed, failed
        context.close()
    assert not problems, "\n".join(problems)


def test_the_menu_button_opens_the_navigation_on_a_phone(chromium, live_server, owner, account):
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lambda url: "/accounts/login" not in url)

    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    nav.get_by_role("link", name="Billing").click()
    expect(page.get_by_role("heading", name="Billing", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    # one account: no switcher, no "Switch" button
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("button", name="Switch")).to_have_count(0)
    expect(page.get_by_label("Account")).to_have_count(0)
    context.close()


def test_the_favicon_is_served(page, live_server):
    response = page.request.get(live_server.url + "/favicon.ico")
    assert response.ok
    assert "svg" in response.headers["content-type"]

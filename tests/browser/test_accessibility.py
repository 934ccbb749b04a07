"""The main pages checked by axe-core in Chromium: no serious or critical WCAG 2 A/AA violation."""

from pathlib import Path

import pytest

from tests.browser.test_layout import _seed
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
MAIN_PAGES = ("overview", "orders", "order-detail", "proxies", "proxy-detail", "statistics", "billing", "checker",
              "checker-job", "api-keys", "webhooks", "settings")
RUN = """async () => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']},
                                            resultTypes: ['violations']});
    return result.violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`);
}"""


def _violations(page) -> list[str]:
    page.add_script_tag(content=AXE)
    return page.evaluate(RUN)


def test_main_pages_have_no_serious_accessibility_violations(chromium, live_server, owner, account, settings):
    settings.WEBHOOKS_ALLOW_HTTP = settings.WEBHOOKS_ALLOW_PRIVATE = True
    pages = _seed(owner, account)
    problems = []
    for width in (390, 1366):
        # axe is injected as an inline script, which the pages' CSP refuses: bypassed for the check only.
        context = chromium.new_context(base_url=live_server.url, viewport={"width": width, "height": 900},
                                       bypass_csp=True)
        page = context.new_page()
        for name, path in {"sign-in": "/accounts/login/", "sign-up": "/accounts/signup/"}.items():
            page.goto(path)
            problems += [f"{name} at {width}px: {v}" for v in _violations(page)]
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(owner.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url(lambda url: "/accounts/login" not in url)
        for name in MAIN_PAGES:
            page.goto(pages[name])
            page.wait_for_load_state("networkidle")
            problems += [f"{name} at {width}px: {v}" for v in _violations(page)]
        context.close()
    assert not problems, "\n".join(problems)

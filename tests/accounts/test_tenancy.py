"""A second account's members see nothing of the first account, on every dashboard page."""

from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.services import audit_log
from apikeys.models import ApiKey


def _dashboard_pages_without_arguments() -> list[str]:
    """Every page in the `dashboard` namespace that takes no URL argument (new pages included)."""
    names = []

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace == "dashboard" and pattern.name:
                if not pattern.pattern.regex.groupindex:
                    names.append(pattern.name)

    walk(get_resolver().url_patterns, None)
    return sorted(set(names) - {"switch_account"})


PAGES = _dashboard_pages_without_arguments()


def _text(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


@pytest.fixture
def first_account_data(account, owner, member, make_key):
    from billing.services import ledger_post

    make_key(account, scopes=["balance:read"], name="acme-secret-key-name")
    audit_log(account=account, actor=owner, action="custom.marker", target="acme-audit-target", ip="10.1.2.3")
    ledger_post(
        account=account, type="deposit", amount=Decimal("123.45"), reference="acme-ledger-ref",
        description="acme deposit description",
    )
    key = ApiKey.objects.get(account=account)
    return [
        "Acme", account.public_id, owner.email, member.email, "acme-secret-key-name", key.display_prefix,
        key.public_id, "acme-audit-target", "10.1.2.3", "123.45", "acme-ledger-ref", "acme deposit description",
    ]


def test_the_page_list_covers_the_dashboard():
    for name in ("overview", "team", "audit", "settings", "apikeys", "billing", "orders", "proxies", "stats", "checker"):
        assert name in PAGES


@pytest.mark.parametrize("name", PAGES)
def test_outsider_sees_nothing_of_another_account(client, outsider, first_account_data, name):
    client.force_login(outsider)
    response = client.get(reverse(f"dashboard:{name}"), follow=True)
    assert response.status_code < 500  # 405: POST-only actions; 400: JSON helpers needing a query
    html = _text(response)
    leaked = [marker for marker in first_account_data if marker in html]
    assert leaked == []


@pytest.mark.parametrize("name", PAGES)
def test_member_in_own_account_sees_nothing_of_the_other(client, member, account, first_account_data, name):
    """The member belongs to both; while their own account is chosen, Acme's data stays out."""
    client.force_login(member)
    response = client.get(reverse(f"dashboard:{name}"), follow=True)
    assert response.status_code < 500
    html = _text(response)
    # The switcher legitimately names the other account (name and id), and the member's
    # own e-mail shows.
    allowed = {"Acme", account.public_id, "member@example.com"}
    markers = [m for m in first_account_data if m not in allowed]
    assert [m for m in markers if m in html] == []


def test_revoking_another_accounts_key_is_404(client, outsider, account, make_key):
    make_key(account, scopes=["balance:read"])
    key = ApiKey.objects.get(account=account)
    client.force_login(outsider)
    assert client.post(reverse("dashboard:apikey_revoke", args=[key.public_id])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None

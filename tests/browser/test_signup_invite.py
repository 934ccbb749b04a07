"""A visitor signs up, verifies the e-mail, logs in, invites a member, who accepts — in Chromium."""

import re
from urllib.parse import urlparse

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import Membership, Role

PASSWORD = "Visitor-pass-2024!"
MEMBER_PASSWORD = "Member-pass-2024!"


def _path_of_link(message) -> str:
    match = re.search(r"https?://\S+", message.body)
    assert match, message.body
    parsed = urlparse(match.group(0))
    return parsed.path


def _mails_to(address):
    return [m for m in mail.outbox if address in m.to]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_signup_verify_login_invite_and_accept(page, login, chromium, live_server):
    # Sign up.
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("visitor@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    # Verify the address through the link in the e-mail.
    (confirmation,) = _mails_to("visitor@example.com")
    page.goto(_path_of_link(confirmation))
    expect(page.get_by_role("heading", name="Confirm Email Address")).to_be_visible()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(lambda url: "/confirm-email/" not in url)

    # Log out, then log in with the verified address.
    page.goto("/")
    if page.get_by_role("button", name="Log out").count():
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/accounts/login/**")
    login("visitor@example.com", PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_label("Account")).to_have_count(0)  # one account: no switcher

    # Invite a member from the Team page.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    page.get_by_label("E-mail address").fill("teammate@example.com")
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to teammate@example.com")).to_be_visible()
    invitations = page.get_by_role("table", name="Pending invitations")
    expect(invitations.get_by_role("row", name=re.compile("teammate@example.com"))).to_be_visible()

    # The member opens the link in their own browser session and accepts with a new password.
    (invitation,) = _mails_to("teammate@example.com")
    member_context = chromium.new_context(base_url=live_server.url)
    member_context.set_default_timeout(15_000)
    try:
        member = member_context.new_page()
        member.goto(_path_of_link(invitation))
        expect(member.get_by_role("heading", name=re.compile(r"^Join "))).to_be_visible()
        member.get_by_label("Password", exact=True).fill("short")
        member.get_by_label("Password (again)").fill("short")
        member.get_by_role("button", name="Create login and accept").click()
        expect(member.locator(".field-error").first).to_be_visible()  # error beside the field
        member.get_by_label("Password", exact=True).fill(MEMBER_PASSWORD)
        member.get_by_label("Password (again)").fill(MEMBER_PASSWORD)
        member.get_by_role("button", name="Create login and accept").click()
        expect(member.get_by_role("heading", name="Overview")).to_be_visible()
        owner_account = Membership.objects.get(user__email="visitor@example.com").account
        expect(member.get_by_text(f"Welcome to {owner_account.name}.")).to_be_visible()
        # their only account: named in the sidebar, no switcher
        expect(member.get_by_role("complementary", name="Sidebar")).to_contain_text(owner_account.name)
        expect(member.get_by_label("Account")).to_have_count(0)

        # The member sees the account's team, read-only.
        member.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
        members = member.get_by_role("table", name="Members")
        expect(members.get_by_role("row", name=re.compile("visitor@example.com"))).to_be_visible()
        expect(members.get_by_role("row", name=re.compile("teammate@example.com"))).to_be_visible()
        expect(member.get_by_role("button", name="Send invitation")).to_have_count(0)
    finally:
        member_context.close()

    assert Membership.objects.get(user__email="teammate@example.com", account=owner_account).role == Role.MEMBER

    # The owner's Team page now lists the new member, and the invitation is no longer pending.
    page.reload()
    members = page.get_by_role("table", name="Members")
    expect(members.get_by_role("row", name=re.compile("teammate@example.com"))).to_be_visible()
    expect(page.get_by_role("table", name="Pending invitations")).to_have_count(0)

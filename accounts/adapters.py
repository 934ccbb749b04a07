from allauth.account.adapter import DefaultAccountAdapter
from django import forms

from accounts.services import account_create_for_user
from core.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters


class PortalAccountAdapter(DefaultAccountAdapter):
    def clean_email(self, email: str) -> str:
        """Sign-up and e-mail changes: Django's validator lets a quoted local part hold control
        characters; an address goes into e-mail headers and the audit log, so it may not."""
        if has_control_characters(email):
            raise forms.ValidationError(CONTROL_CHARACTERS_MESSAGE)
        return super().clean_email(email)

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit and not user.memberships.exists():
            account_create_for_user(user=user)
        return user

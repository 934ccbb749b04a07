from types import SimpleNamespace

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django import forms

from accounts.services import account_create_for_user
from branding.selectors import brand_current, brand_email_subject, brand_from_email
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

    def format_email_subject(self, subject: str) -> str:
        """Sign-up, confirmation and password e-mails carry the brand, as the portal's own do."""
        return brand_email_subject(subject)

    def get_from_email(self) -> str:
        return brand_from_email()

    def render_mail(self, template_prefix, email, context, headers=None):
        """allauth's texts greet from `current_site.name`: the brand's name, on this host."""
        site = context.get("current_site")
        if site is not None:
            context = {**context, "current_site": SimpleNamespace(name=brand_current().name, domain=site.domain)}
        return super().render_mail(template_prefix, email, context, headers=headers)


class PortalMFAAdapter(DefaultMFAAdapter):
    def get_totp_issuer(self) -> str:
        """The name authenticator apps list the code under: MFA_TOTP_ISSUER, else the brand's."""
        return super().get_totp_issuer() if self._issuer_set() else brand_current().name

    @staticmethod
    def _issuer_set() -> bool:
        from allauth.mfa import app_settings

        return bool(app_settings.TOTP_ISSUER)

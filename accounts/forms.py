from django import forms

from accounts.models import Role
from core.text import validate_plain_text


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address", validators=[validate_plain_text])
    role = forms.ChoiceField(
        label="Role",
        choices=[(r.value, r.label) for r in Role if r != Role.OWNER],
        initial=Role.MEMBER,
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class AccountSettingsForm(forms.Form):
    name = forms.CharField(label="Account name", max_length=120, validators=[validate_plain_text])


class LowBalanceAlertForm(forms.Form):
    low_balance_threshold = forms.CharField(
        label="Alert me when the balance falls under (USD)", required=False, max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "10.00"}),
        help_text="We send an e-mail and the balance.low webhook once, when a charge leaves the balance "
        "under this amount. Leave it empty to turn the alert off.",
    )


class InvitationSignupForm(forms.Form):
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, min_length=8)
    password2 = forms.CharField(label="Password (again)", widget=forms.PasswordInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned

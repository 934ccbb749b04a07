from django import forms

from apikeys.scopes import ALL_SCOPES, SCOPE_DESCRIPTIONS, SCOPE_GROUPS
from apikeys.services import EXPIRATION_CHOICES

DEFAULT_EXPIRATION = "90d"


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100,
        help_text="A label to recognise the key later, e.g. Automation script or CI pipeline.",
        error_messages={"required": "Give the key a name."},
    )
    scopes = forms.MultipleChoiceField(
        label="Permissions", choices=[(s, s) for s in ALL_SCOPES], widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one permission."},
    )
    expiration = forms.ChoiceField(
        label="Expiration", choices=[(value, label) for value, (label, _) in EXPIRATION_CHOICES.items()],
        initial=DEFAULT_EXPIRATION,
    )
    ip_allowlist = forms.CharField(
        label="IP allowlist", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional. One IP address or CIDR range per line; requests from elsewhere are refused. "
        "Empty: any address.",
    )

    def scope_groups(self):
        """[(group name, [(scope, description, checked)])] for the grouped checkboxes."""
        chosen = set(self["scopes"].value() or [])
        return [
            (group, [(scope, SCOPE_DESCRIPTIONS[scope], scope in chosen) for scope in scopes])
            for group, scopes in SCOPE_GROUPS.items()
        ]

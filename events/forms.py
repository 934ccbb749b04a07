from django import forms

from core.errors import DomainValidationError

from .models import SUBSCRIBABLE
from .services import endpoint_url_validate


class EndpointCreateForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL", max_length=2000,
        help_text="Where events are POSTed, e.g. https://example.com/hooks/proxies. Must start with https://.",
        error_messages={"required": "Enter the URL events are sent to."},
        widget=forms.URLInput(attrs={"placeholder": "https://", "autocomplete": "off"}),
    )
    events = forms.MultipleChoiceField(
        label="Events", choices=[(e, e) for e in SUBSCRIBABLE], widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event type."},
    )

    def clean_url(self):
        try:
            return endpoint_url_validate(self.cleaned_data["url"])
        except DomainValidationError as exc:
            raise forms.ValidationError(exc.message) from None

"""Dashboard forms for ordering; the catalogue supplies the choices, `pricing.quote` validates."""

from django import forms

from core.errors import DomainValidationError
from core.forms import form_add_service_error
from core.money import money_str

from . import pricing, selectors


def _type_choices():
    return [(t.code, f"{t.name} (per {t.unit})") for t in selectors.proxy_types()]


def _field(item, name: str):
    """A reference entry's field: the local catalogue gives model rows, an upstream type dicts."""
    return item[name] if isinstance(item, dict) else getattr(item, name)


def _period_choices(blank: str | None):
    """Every period sold for some type, the upstream's included (as GET /reference/periods)."""
    choices = [(str(_field(p, "days")), _field(p, "label")) for p in selectors.reference_periods()]
    return ([("", blank)] if blank else []) + choices


def _country_choices():
    """Every country sold for some type, the upstream's included (as GET /reference/countries)."""
    return [("", "Any country")] + [(_field(c, "code"), _field(c, "name")) for c in selectors.reference_countries()]


class OrderForm(forms.Form):
    type = forms.ChoiceField(label="Proxy type")
    quantity = forms.CharField(
        label="Quantity", max_length=20,
        help_text="GB of traffic for residential proxies, number of IPs otherwise.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    period = forms.ChoiceField(label="Period", required=False, help_text="Not needed for residential proxies.")
    country = forms.ChoiceField(label="Country", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = _type_choices()
        self.fields["period"].choices = _period_choices("No period (residential)")
        self.fields["country"].choices = _country_choices()
        self.quote = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.quote = pricing.quote(
                type=data.get("type"), quantity=data.get("quantity"),
                period=data.get("period") or None, country=data.get("country") or None,
            )
        except DomainValidationError as exc:
            form_add_service_error(self, exc)
        return data

    def order_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "type": data["type"], "quantity": data["quantity"],
            "period": data.get("period") or None, "country": data.get("country") or None,
        }


class ExtendForm(forms.Form):
    period = forms.ChoiceField(label="Extend by")

    def __init__(self, *args, order=None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = []
        for value, label in _period_choices(None):
            try:
                q = pricing.quote(type=order.type, quantity=order.quantity, period=value, country=order.country or None)
                label = f"{label} — {money_str(q.total)} USD"
            except DomainValidationError:
                continue
            choices.append((value, label))
        self.fields["period"].choices = choices


class OrderFilterForm(forms.Form):
    type = forms.ChoiceField(label="Type", required=False)
    status = forms.ChoiceField(label="Status", required=False)

    def __init__(self, *args, **kwargs):
        from .models import OrderStatus, ProxyTypeCode

        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [("", "All types")] + list(ProxyTypeCode.choices)
        self.fields["status"].choices = [("", "All statuses")] + list(OrderStatus.choices)


class AuthorizedIPForm(forms.Form):
    ip = forms.CharField(
        label="IP address", max_length=100,
        help_text="A public IPv4 or IPv6 address your IP-based proxies accept without a password.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "203.0.114.7"}),
    )

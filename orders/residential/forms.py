"""Dashboard forms for sub-user proxies. Geo targets are checked by `geo.validate_geo` in the service;
these forms only parse. Everything works with plain inputs (no JavaScript needed)."""

from decimal import Decimal

from django import forms

from core import numbers
from core.errors import DomainValidationError
from core.text import validate_plain_text
from orders.models import OrderStatus, ProxyTypeCode, format_gb

from . import geo, services
from .models import Rotation, SubUserProtocol


def _country_choices():
    return [("", "Any country")] + [(c.code, f"{c.name} ({c.code})") for c in geo.directory.countries()]


def resolve_state(country: str, value: str) -> str:
    """A state typed as its code (CA, US-CA) or its name (California) → its code; else as typed."""
    value = (value or "").strip()
    if not value or not country:
        return value
    if geo.directory.state(country, value) is not None:
        return value
    needle = geo.normalize(value)
    for state in geo.directory.states(country):
        if state.norm == needle:
            return state.code
    return value


class SubUserTargetingMixin(forms.Form):
    country = forms.ChoiceField(label="Country", required=False)
    state = forms.CharField(
        label="State / region", required=False, max_length=80,
        help_text="Code (CA) or name (California); leave empty for any.",
    )
    city = forms.CharField(label="City", required=False, max_length=120, help_text="Leave empty for any city.")
    zip = forms.CharField(label="ZIP code", required=False, max_length=10, help_text="US only.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = _country_choices()
        self.fields["country"].widget.attrs["data-geo-country"] = ""
        self.fields["state"].widget.attrs.update({"data-geo-state": "", "autocomplete": "off"})
        self.fields["city"].widget.attrs.update({"data-geo-city": "", "autocomplete": "off", "list": "city-options"})

    def clean_state(self):
        return resolve_state(self.cleaned_data.get("country") or self.data.get("country", ""), self.cleaned_data["state"])


class SubUserLimitsMixin(forms.Form):
    traffic_limit_gb = numbers.DecimalField(
        label="Traffic limit (GB)", required=False, min_value=Decimal("0.001"), max_digits=18, decimal_places=6,
        help_text="1 GB = 10^9 bytes. Empty: only the order's allowance.",
    )
    whitelist = forms.CharField(
        label="IP whitelist", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="IP addresses or CIDR ranges, one a line. Empty: any address with the password.",
    )

    def clean_whitelist(self):
        try:
            return services.validate_whitelist(self.cleaned_data["whitelist"] or "")
        except DomainValidationError as exc:
            raise forms.ValidationError(exc.meta["fields"]["whitelist"]) from None


class SubUserCreateForm(SubUserTargetingMixin, SubUserLimitsMixin):
    name = forms.CharField(label="Name", max_length=100, validators=[validate_plain_text])
    order = forms.ChoiceField(label="Residential order")
    protocol = forms.ChoiceField(label="Protocol", choices=SubUserProtocol.choices, initial=SubUserProtocol.HTTP)
    rotation = forms.ChoiceField(label="Rotation", choices=Rotation.choices, initial=Rotation.ROTATING)
    sticky_ttl_minutes = numbers.IntegerField(
        label="Sticky session (minutes)", min_value=1, max_value=1440, initial=10,
        help_text="How long a sticky session keeps its IP.",
    )
    field_order = [
        "name", "order", "protocol", "country", "state", "city", "zip", "rotation", "sticky_ttl_minutes",
        "traffic_limit_gb", "whitelist",
    ]

    def __init__(self, *args, account=None, **kwargs):
        super().__init__(*args, **kwargs)
        orders = account.orders.filter(type=ProxyTypeCode.RESIDENTIAL, status=OrderStatus.ACTIVE).order_by("-created_at")
        self.fields["order"].choices = [
            (o.public_id, f"{o.public_id} · {format_gb(o.traffic_left_gb)} of {format_gb(o.traffic_gb)} GB left")
            for o in orders
        ]
        self.order_fields(self.field_order)


class SubUserEditForm(SubUserTargetingMixin, SubUserLimitsMixin):
    name = forms.CharField(label="Name", max_length=100, validators=[validate_plain_text])
    protocol = forms.ChoiceField(label="Protocol", choices=SubUserProtocol.choices)
    rotation = forms.ChoiceField(label="Rotation", choices=Rotation.choices)
    sticky_ttl_minutes = numbers.IntegerField(label="Sticky session (minutes)", min_value=1, max_value=1440)
    field_order = [
        "name", "protocol", "country", "state", "city", "zip", "rotation", "sticky_ttl_minutes",
        "traffic_limit_gb", "whitelist",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(self.field_order)

    @classmethod
    def for_proxy(cls, proxy):
        return cls(initial={
            "name": proxy.name, "protocol": proxy.protocol, "country": proxy.country, "state": proxy.state,
            "city": proxy.city, "zip": proxy.zip, "rotation": proxy.rotation,
            "sticky_ttl_minutes": proxy.sticky_ttl_minutes,
            "traffic_limit_gb": format_gb(proxy.traffic_limit_gb),
            "whitelist": "\n".join(proxy.whitelist or []),
        })

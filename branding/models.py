from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models

from core import models as base
from core.text import validate_plain_text

SINGLETON_PK = 1
HEX_COLOR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Enter a colour as #rrggbb, e.g. #2f5bea.")


def validate_asset_url(value: str) -> None:
    """A logo or favicon: an http(s) URL, or a path on this site such as /static/logo.svg."""
    if value.startswith("/") and not value.startswith("//"):
        return
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError("Enter an http(s) URL or a path on this site starting with /.") from None


class Brand(base.Model):
    """The operator's brand: one row (pk 1), edited in the admin. Until it is saved there, the
    BRAND_* settings stand in for it (`branding.selectors.brand_current`)."""

    name = models.CharField(max_length=60, validators=[validate_plain_text],
                            help_text="Shown in every page title, the sidebar, e-mails and the admin.")
    logo_url = models.CharField("logo URL", max_length=500, blank=True, validators=[validate_asset_url],
                                help_text="Shown in the sidebar instead of the name; about 32 px high.")
    favicon_url = models.CharField("favicon URL", max_length=500, blank=True, validators=[validate_asset_url],
                                   help_text="SVG, PNG or ICO. Empty: the portal's own icon.")
    primary_color = models.CharField("primary colour", max_length=7, validators=[HEX_COLOR],
                                     help_text="Buttons, links and the active menu entry, as #rrggbb.")
    support_email = models.EmailField("support e-mail", blank=True)
    support_url = models.URLField("support URL", blank=True)
    terms_url = models.URLField("terms URL", blank=True)
    privacy_url = models.URLField("privacy URL", blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "brand"
        verbose_name_plural = "brand"
        constraints = [models.CheckConstraint(condition=models.Q(pk=SINGLETON_PK), name="brand_is_a_singleton")]

    def __str__(self) -> str:
        return self.name

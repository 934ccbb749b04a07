"""The brand as pages, e-mails, the admin and the API docs show it."""

from email.utils import formataddr, parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.templatetags.static import static
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from branding.models import HEX_COLOR, SINGLETON_PK, Brand
from core.text import single_line

CACHE_KEY = "branding:brand:v1"
CACHE_SECONDS = 300
DEFAULT_PRIMARY_COLOR = "#2f5bea"


def brand_defaults() -> dict:
    """The brand before the operator saves one in the admin: the BRAND_* settings."""
    return {
        "name": settings.BRAND_NAME,
        "logo_url": settings.BRAND_LOGO_URL,
        "favicon_url": settings.BRAND_FAVICON_URL,
        "primary_color": settings.BRAND_PRIMARY_COLOR if HEX_COLOR.regex.match(settings.BRAND_PRIMARY_COLOR)
        else DEFAULT_PRIMARY_COLOR,
        "support_email": settings.SUPPORT_EMAIL,
        "support_url": settings.BRAND_SUPPORT_URL,
        "terms_url": settings.BRAND_TERMS_URL,
        "privacy_url": settings.BRAND_PRIVACY_URL,
    }


REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


def brand_current() -> Brand:
    """The saved brand, or an unsaved one built from the settings; cached, since every page
    and e-mail asks (`branding.services.brand_save` clears the cache)."""
    try:
        brand = cache.get(CACHE_KEY)
    except REDIS_DOWN:  # the error page of a Redis outage still wears the brand
        return _brand_stored()
    if brand is None:
        brand = _brand_stored()
        cache.set(CACHE_KEY, brand, CACHE_SECONDS)
    return brand


def _brand_stored() -> Brand:
    return Brand.objects.filter(pk=SINGLETON_PK).first() or Brand(pk=SINGLETON_PK, **brand_defaults())


def brand_favicon_href(brand: Brand) -> str:
    return brand.favicon_url or static("favicon.svg")


def brand_asset_origins() -> list[str]:
    """The other origins the brand's logo and favicon are served from (for the pages' CSP)."""
    brand = brand_current()
    origins = []
    for url in (brand.logo_url, brand.favicon_url):
        if url and not url.startswith("/"):
            parts = urlsplit(url)
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(origins))


def brand_email_subject(text: str, *, brand: Brand | None = None) -> str:
    """"[Brand] text" on one line: never a header injection, never the `BadHeaderError` a line
    break makes Django raise."""
    brand = brand or brand_current()
    return single_line(f"[{brand.name}] {text}")


def brand_from_email(*, brand: Brand | None = None) -> str:
    """The sender: the brand's name before DEFAULT_FROM_EMAIL's address."""
    brand = brand or brand_current()
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    return formataddr((single_line(brand.name), address))

from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction

from branding.models import Brand
from branding.selectors import CACHE_KEY, brand_email_subject, brand_from_email


def brand_save(*, brand: Brand) -> Brand:
    """Saves the operator's brand; every page and e-mail shows it from the next request."""
    brand.full_clean()
    brand.save()
    cache.delete(CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(CACHE_KEY))  # a read in between cached the old row
    return brand


def mail_send(*, subject: str, message: str, recipient_list: list[str], fail_silently: bool = False) -> int:
    """Every e-mail the portal sends itself: the brand's name as the sender and the subject's prefix."""
    return send_mail(subject=brand_email_subject(subject), message=message, from_email=brand_from_email(),
                     recipient_list=recipient_list, fail_silently=fail_silently)

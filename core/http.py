"""What the project needs of an HTTP request everywhere: the caller's address."""

from django.conf import settings


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or the right X-Forwarded-For hop behind proxies."""
    if settings.NUM_PROXIES:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= settings.NUM_PROXIES:
            return hops[-settings.NUM_PROXIES]
    return request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104 - unknown peer, not a bind

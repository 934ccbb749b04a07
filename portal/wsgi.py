import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()


def _load_urlconf() -> None:
    """Imports every URL module and view now, while the worker boots, instead of inside its
    first request: that request would otherwise spend a tenth of a second of CPU on imports,
    and so would the first request after each `--max-requests` restart."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the property does the import


_load_urlconf()

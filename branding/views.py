from django.http import HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from branding.selectors import brand_current, brand_favicon_href


@require_safe
@cache_control(max_age=3600, public=True)
def favicon(request):
    """/favicon.ico, which browsers and crawlers ask for whatever the pages link to."""
    return HttpResponseRedirect(brand_favicon_href(brand_current()))


@require_safe
@cache_control(max_age=3600, public=True)
def brand_css(request):
    """The brand's colour for Tabler's variables: a stylesheet, since the pages' CSP allows no
    inline style. Pages link it with the brand's `updated_at` in the query, so a change shows at once."""
    color = brand_current().primary_color  # validated as #rrggbb
    return HttpResponse(f":root {{ --tblr-primary: {color}; }}\n", content_type="text/css; charset=utf-8")

from branding.selectors import brand_current, brand_favicon_href


def brand(request):
    current = brand_current()
    return {"brand": current, "brand_favicon": brand_favicon_href(current), "support_email": current.support_email}

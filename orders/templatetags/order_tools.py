"""`{% authorized_ips_section %}`: the account's authorized IPs with their form, for the Proxies page
(which the residential wing renders; the section is the orders core's)."""

from django import template

from ..forms import AuthorizedIPForm
from ..selectors import authorized_ips
from ..services import AUTHORIZED_IPS_MAX
from ..views import AUTHORIZED_IP_SESSION_KEY

register = template.Library()


@register.inclusion_tag("orders/authorized_ips.html", takes_context=True)
def authorized_ips_section(context):
    request = context["request"]
    failed = request.session.pop(AUTHORIZED_IP_SESSION_KEY, None)
    form = AuthorizedIPForm(auto_id="authorized_%s")
    if failed:
        form = AuthorizedIPForm({"ip": failed.get("ip", "")}, auto_id="authorized_%s")
        form.is_valid()
        form.errors["ip"] = form.error_class(failed.get("errors") or [])
    rows = list(authorized_ips(account=request.account))
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "authorized_ips": rows,
        "form": form,
        "limit": AUTHORIZED_IPS_MAX,
        # `can` (accounts' context processor) also says no while the account is suspended.
        "can_operate": context.get("can", {}).get("operate", False),
    }

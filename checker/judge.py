"""`GET /judge`: echoes the request's source address and headers, for the proxy checker.

Formats are those `checker.engine.judge` parses: azenv-style plain text by default
(`REMOTE_ADDR = …`, `HTTP_<NAME> = …`), JSON (`{"remote_addr", "headers"}`) with
`?format=json` or `Accept: application/json`. No authentication, no database.

Behind the portal's own reverse proxies (`NUM_PROXIES`), the source address is the hop they
report and the `X-Forwarded-For` entries they appended are removed, so only what the checked
proxy itself added is echoed.

Credentials are never echoed: a browser signed in to the portal sends its session and CSRF
cookies here, an API client its key. A header that may carry one (`is_credential_header`)
is echoed by name with the value `REDACTED`, so the checker still sees that a proxy added or
passed on, say, `Proxy-Authorization` (a proxy header, `checker.engine.judge`) without the
secret coming back. `never_cache` makes every answer `no-store`. Operators may serve the
judge on a host name of its own (`CHECKER_JUDGE_URL`), where the portal's cookies are never
sent at all; that host is allowed by the settings.
"""

import json
import re

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.http import client_ip

REDACTED = "[redacted]"
# Names that say a header carries a secret: Authorization, Proxy-Authorization, Cookie,
# X-API-Key, X-Auth-Token, X-CSRFToken, X-Session-Id, X-Amz-Security-Token, ...
_CREDENTIAL_NAME = re.compile(r"auth|cookie|token|secret|passw|key|session|csrf|xsrf|credential|signature")


def is_credential_header(name: str) -> bool:
    """Whether a header (any case, dashes or underscores) may carry a secret, including the
    CSRF header this portal is configured with (`CSRF_HEADER_NAME`)."""
    key = name.lower().replace("_", "-")
    csrf_header = settings.CSRF_HEADER_NAME.lower().removeprefix("http_").replace("_", "-")
    return key == csrf_header or _CREDENTIAL_NAME.search(key) is not None


def _header_name(meta_key: str) -> str:
    return "-".join(part.capitalize() for part in meta_key.split("_"))


def _echoed_headers(request) -> list[tuple[str, str]]:
    """(Header-Name, value) pairs as received, in the server's order."""
    headers = []
    for key, value in request.META.items():
        if not key.startswith("HTTP_"):
            continue  # CONTENT_TYPE/LENGTH: servers fill in defaults for a GET; not echoed
        name = key[5:]
        if name == "X_FORWARDED_FOR" and settings.NUM_PROXIES:
            hops = [h.strip() for h in str(value).split(",") if h.strip()]
            hops = hops[: -settings.NUM_PROXIES]
            if not hops:
                continue
            value = ", ".join(hops)
        elif is_credential_header(name):
            value = REDACTED
        headers.append((_header_name(name), str(value)))
    return headers


def _wants_json(request) -> bool:
    if request.GET.get("format", "").lower() == "json":
        return True
    if request.GET.get("format", "").lower() in ("txt", "text"):
        return False
    return "application/json" in request.headers.get("Accept", "").lower()


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD"])
def judge(request):
    remote_addr = client_ip(request)
    headers = _echoed_headers(request)
    if _wants_json(request):
        merged: dict[str, str] = {}
        for name, value in headers:
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        body = json.dumps({"remote_addr": remote_addr, "headers": merged})
        content_type = "application/json"
    else:
        lines = [f"REMOTE_ADDR = {remote_addr}"]
        lines += [f"HTTP_{name.upper().replace('-', '_')} = {value}" for name, value in headers]
        body = "\n".join(lines) + "\n"
        content_type = "text/plain; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["X-Robots-Tag"] = "noindex"
    return response

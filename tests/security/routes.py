"""The URL conf, flattened: every route with its template, view and HTTP methods.

The security matrices are generated from this at collection time, so an endpoint added
anywhere in the URL conf is covered by the next test run without touching the suite.
"""

import re
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
API_PREFIX = "api/v1/"
NOT_API_ROUTES = {"api/v1/schema/", "api/v1/docs/"}


@dataclass(frozen=True)
class Route:
    template: str  # "api/v1/orders/<str:order_id>/extend" (no leading slash)
    callback: object = field(compare=False, hash=False)
    name: str = ""
    is_regex: bool = False

    @property
    def params(self) -> list[str]:
        return [m.group("name") for m in PARAM.finditer(self.template)]

    @property
    def view_class(self):
        return getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)

    @property
    def methods(self) -> list[str]:
        """HTTP methods the view answers (upper case), from its handlers; [] if unknown."""
        cls = self.view_class
        if cls is None:
            return []
        return [m.upper() for m in HTTP_METHODS if hasattr(cls, m) and m in cls.http_method_names]

    def fill(self, values: dict[str, str]) -> str:
        def sub(match):
            return str(values[match.group("name")])

        return "/" + PARAM.sub(sub, self.template)

    @property
    def id(self) -> str:
        return self.template

    def __str__(self) -> str:
        return "/" + self.template


def _pattern_text(pattern) -> tuple[str, bool]:
    if isinstance(pattern, RoutePattern):
        return str(pattern._route), False
    if isinstance(pattern, RegexPattern):
        return pattern.regex.pattern, True
    return str(pattern), True


def iter_routes(resolver=None, prefix: str = "", regex: bool = False, namespace: str = ""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        text, is_regex = _pattern_text(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            yield from iter_routes(entry, prefix + text, regex or is_regex, ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            yield Route(prefix + text, entry.callback, name, regex or is_regex)


def api_routes() -> list[Route]:
    """Every concrete endpoint under /api/v1/ (not the schema, docs or the 404 fallback)."""
    return [
        r
        for r in iter_routes()
        if r.template.startswith(API_PREFIX) and not r.is_regex and r.template not in NOT_API_ROUTES
    ]


def dashboard_routes() -> list[Route]:
    """Every page of the dashboard namespace (customer pages behind a membership)."""
    return [r for r in iter_routes() if r.name.startswith("dashboard:") and not r.is_regex]


def webhook_routes() -> list[Route]:
    return [r for r in iter_routes() if r.template.startswith("webhooks/") and not r.is_regex]


def for_method(value, method: str):
    if isinstance(value, dict):
        return value.get(method.upper())
    return value

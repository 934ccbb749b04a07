"""The one table from domain errors (`core.errors`) to an HTTP status and `error_type`.

A subclass an app defines (a `Conflict` of its own, say) answers as its nearest ancestor
in the table does. The API's exception handler and the webhooks answer from here.
"""

from core import errors

HTTP_ERRORS: dict[type[errors.PortalError], tuple[int, str]] = {
    errors.PortalError: (400, "bad_request"),
    errors.BadRequest: (400, "bad_request"),
    errors.DomainValidationError: (400, "validation_error"),
    errors.Unauthorized: (401, "unauthorized"),
    errors.InsufficientFunds: (402, "insufficient_funds"),
    errors.InsufficientScope: (403, "insufficient_scope"),
    errors.PremiumRequired: (403, "premium_required"),
    errors.AccountInactive: (403, "account_inactive"),
    errors.NotFound: (404, "not_found"),
    errors.Conflict: (409, "conflict"),
    errors.PayloadTooLarge: (413, "payload_too_large"),
    errors.RateLimited: (429, "rate_limited"),
    errors.UpstreamError: (502, "upstream_error"),
    errors.Unavailable: (503, "unavailable"),
}


def http_error(exc: errors.PortalError) -> tuple[int, str]:
    """(status, error_type) of a domain error: its own row, or its nearest ancestor's."""
    for cls in type(exc).__mro__:
        if cls in HTTP_ERRORS:
            return HTTP_ERRORS[cls]
    raise TypeError(f"{type(exc).__name__} is not a domain error")  # pragma: no cover

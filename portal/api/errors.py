"""Domain errors, defined once and mapped once to an HTTP status and `error_type`.

Services raise these; the API exception handler and the dashboard both understand them.
"""


class PortalError(Exception):
    status_code = 400
    error_type = "bad_request"
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, meta: dict | None = None):
        self.message = message or self.default_message
        self.meta = meta or {}
        super().__init__(self.message)


class BadRequest(PortalError):
    status_code = 400
    error_type = "bad_request"


class DomainValidationError(PortalError):
    """A service-level validation failure naming the offending fields."""

    status_code = 400
    error_type = "validation_error"
    default_message = "Invalid input."

    def __init__(self, fields: dict[str, list[str] | str], message: str | None = None):
        normalised = {k: v if isinstance(v, list) else [v] for k, v in fields.items()}
        first = next(iter(normalised.values()), [""])[0] if normalised else ""
        super().__init__(message or first or self.default_message, meta={"fields": normalised})


class Unauthorized(PortalError):
    status_code = 401
    error_type = "unauthorized"
    default_message = "API key not found or expired"


class InsufficientFunds(PortalError):
    status_code = 402
    error_type = "insufficient_funds"
    default_message = "Your balance is lower than the price."


class InsufficientScope(PortalError):
    status_code = 403
    error_type = "insufficient_scope"
    default_message = "This API key lacks the scope this endpoint requires."

    def __init__(self, required: str):
        super().__init__(
            f"This API key lacks the '{required}' scope.", meta={"required": required}
        )


class PremiumRequired(PortalError):
    status_code = 403
    error_type = "premium_required"
    default_message = "This resource needs an active premium plan."


class AccountInactive(PortalError):
    status_code = 403
    error_type = "account_inactive"
    default_message = "This account is suspended."


class NotFound(PortalError):
    status_code = 404
    error_type = "not_found"
    default_message = "Not found."


class Conflict(PortalError):
    status_code = 409
    error_type = "conflict"
    default_message = "The request conflicts with the current state."


class OutOfStock(Conflict):
    default_message = "Not enough proxies in stock for this order."


class PayloadTooLarge(PortalError):
    status_code = 413
    error_type = "payload_too_large"
    default_message = "The request body is too large."


class RateLimited(PortalError):
    status_code = 429
    error_type = "rate_limited"
    default_message = "Rate limit exceeded; retry later."

    def __init__(self, retry_after: int, message: str | None = None):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message)


class UpstreamError(PortalError):
    status_code = 502
    error_type = "upstream_error"
    default_message = "The proxy provider failed; any charge has been refunded."


class Unavailable(PortalError):
    status_code = 503
    error_type = "unavailable"
    default_message = "The service is temporarily unavailable; retry shortly."

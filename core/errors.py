"""Domain errors, defined once. Services raise them; they know nothing of HTTP.

Each carries a message for people and `meta` for programs. The API layer maps each one
to a status and `error_type` in one table; the dashboard shows the message.
"""


class PortalError(Exception):
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, meta: dict | None = None):
        self.message = message or self.default_message
        self.meta = meta or {}
        super().__init__(self.message)


class BadRequest(PortalError):
    """The request cannot be served as asked (no single field to blame)."""


class DomainValidationError(PortalError):
    """A service-level validation failure naming the offending fields."""

    default_message = "Invalid input."

    def __init__(self, fields: dict[str, list[str] | str], message: str | None = None):
        normalised = {k: v if isinstance(v, list) else [v] for k, v in fields.items()}
        first = next(iter(normalised.values()), [""])[0] if normalised else ""
        super().__init__(message or first or self.default_message, meta={"fields": normalised})


class Unauthorized(PortalError):
    default_message = "API key not found or expired"


class InsufficientFunds(PortalError):
    default_message = "Your balance is lower than the price."


class InsufficientScope(PortalError):
    default_message = "This API key lacks the scope this endpoint requires."

    def __init__(self, required: str):
        super().__init__(
            f"This API key lacks the '{required}' scope.", meta={"required": required}
        )


class PremiumRequired(PortalError):
    default_message = "This resource needs an active premium plan."


class AccountInactive(PortalError):
    default_message = "This account is suspended."


class NotFound(PortalError):
    default_message = "Not found."


class Conflict(PortalError):
    default_message = "The request conflicts with the current state."


class OutOfStock(Conflict):
    default_message = "Not enough proxies in stock for this order."


class PayloadTooLarge(PortalError):
    default_message = "The request body is too large."


class RateLimited(PortalError):
    default_message = "Rate limit exceeded; retry later."

    def __init__(self, retry_after: int, message: str | None = None):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message)


class UpstreamError(PortalError):
    default_message = "The proxy provider failed; any charge has been refunded."


class Unavailable(PortalError):
    default_message = "The service is temporarily unavailable; retry shortly."

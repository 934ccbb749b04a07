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
    """The proxy provider failed. When it is another seller's API, what it answered is kept
    apart from `meta` (which customers see): the caller tells an upstream 402 (the operator's
    balance there is short) from another refusal, and both from no answer at all."""

    default_message = "The proxy provider failed; any charge has been refunded."

    def __init__(
        self,
        message: str | None = None,
        *,
        upstream_status: int | None = None,
        upstream_error_type: str = "",
        upstream_message: str = "",
        upstream_meta: dict | None = None,
        retry_after: float | None = None,
        meta: dict | None = None,
    ):
        self.upstream_status = upstream_status  # its HTTP status; None: no answer came
        self.upstream_error_type = upstream_error_type
        self.upstream_message = upstream_message
        self.upstream_meta = upstream_meta or {}  # e.g. its validation errors' `fields`
        self.retry_after = retry_after  # seconds it asked to wait (429), when it did
        super().__init__(message, meta=meta)

    @property
    def unreachable(self) -> bool:
        """No answer: refused, timed out or cut off (the request may or may not have run)."""
        return self.upstream_status is None

    @property
    def insufficient_funds(self) -> bool:
        return self.upstream_status == 402

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later: no answer, a 5xx, or 429."""
        return self.upstream_status is None or self.upstream_status >= 500 or self.upstream_status == 429


class Unavailable(PortalError):
    default_message = "The service is temporarily unavailable; retry shortly."

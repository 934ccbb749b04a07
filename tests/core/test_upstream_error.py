"""UpstreamError says what the upstream answered, apart from the meta customers see."""

from core.errors import UpstreamError


def test_no_answer_is_unreachable_and_retryable():
    exc = UpstreamError("Upstream GET /account: connection refused.")
    assert exc.unreachable and exc.retryable and not exc.insufficient_funds
    assert exc.meta == {}


def test_an_upstream_402_is_short_funds_and_final():
    exc = UpstreamError(
        "short", upstream_status=402, upstream_error_type="insufficient_funds",
        upstream_message="Your balance is lower than the price.",
    )
    assert exc.insufficient_funds and not exc.unreachable and not exc.retryable
    assert exc.upstream_error_type == "insufficient_funds"
    assert exc.meta == {}  # the upstream's answer is not passed on to customers


def test_429_and_5xx_may_succeed_later():
    assert UpstreamError(upstream_status=429, retry_after=7.0).retryable
    assert UpstreamError(upstream_status=503).retryable
    assert not UpstreamError(upstream_status=409).retryable

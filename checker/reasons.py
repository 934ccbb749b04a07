"""Check results in words for the dashboard: each error code of the engine
(`checker.engine.check.ERROR_CODES`) as a short name and a one-line reason. The API and the
exports keep the codes; people read these."""

REASONS: dict[str, tuple[str, str]] = {
    "refused": ("Connection refused", "Nothing accepted the connection on this port, or a firewall turned it away."),
    "unreachable": ("Unreachable", "The proxy's address could not be reached from the checker's network."),
    "timeout": ("Timed out", "The proxy did not answer within the time allowed."),
    "closed": ("Connection closed", "The proxy closed the connection before answering."),
    "reset": ("Connection reset", "The proxy dropped the connection while it was being used."),
    "bad_response": ("Not a proxy", "Something answered on this port, but not the way an HTTP or SOCKS proxy does."),
    "auth_failed": ("Wrong credentials", "The proxy wants a username and password, or refused the ones given."),
    "rejected": ("Refused the request", "The proxy answered but would not reach the test site through itself."),
    "blocked_address": (
        "Address not allowed", "Private, local and reserved addresses are not checked; give a public address.",
    ),
    "dns_error": ("Host not found", "The proxy's host name does not resolve to an address."),
    "invalid_address": ("Invalid address", "The proxy's host is not a valid address."),
    "tls_error": ("TLS failed", "The secure (HTTPS) connection through the proxy failed."),
    "target_failed": (
        "Target failed", "The proxy works, but your target URL answered with an error or could not be reached.",
    ),
    "expect_text_missing": (
        "Text not found", "The target page loaded through the proxy but did not contain the expected text.",
    ),
    "blocked_target": ("Target not allowed", "Your target URL points at a private, local or reserved address."),
    "error": ("Checker problem", "A problem on the checker's side, not the proxy's; check it again later."),
}


def reason_for(code: str | None) -> tuple[str, str] | None:
    """(words, one-line reason) for an error code, None for no error; an unknown code is shown
    as it is rather than hidden."""
    if not code:
        return None
    return REASONS.get(code, (code.replace("_", " ").capitalize(), ""))

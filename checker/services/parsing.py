"""Proxy lists as the checker can store them: the engine's parser, plus the column limits."""

from __future__ import annotations

from checker.engine.parse import ParseResult, parse_proxy_list

NORM_MAX = 600  # CheckItem/PoolProxy.proxy_norm
CRED_MAX = 255


def parse_for_storage(text: str, *, max_items: int | None = None) -> ParseResult:
    """The engine's parser, plus the storage limits: over-long entries count as invalid."""
    result = parse_proxy_list(text, max_items=max_items)
    kept = []
    for spec in result.proxies:
        if (len(spec.norm) > NORM_MAX or len(spec.username or "") > CRED_MAX
                or len(spec.password or "") > CRED_MAX):
            result.invalid += 1
            continue
        kept.append(spec)
    result.proxies = kept
    return result

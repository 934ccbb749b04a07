"""Public identifiers: a type prefix and 20 base62 characters from `secrets` (≈119 bits)."""

import secrets
import string

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(20)}"


# Module-level callables so migrations can reference them as field defaults.
def new_account_id() -> str:
    return new_public_id("acc")


def new_key_id() -> str:
    return new_public_id("key")


def new_txn_id() -> str:
    return new_public_id("txn")


def new_deposit_id() -> str:
    return new_public_id("dep")


def new_order_id() -> str:
    return new_public_id("ord")


def new_proxy_id() -> str:
    return new_public_id("prx")

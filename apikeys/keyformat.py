"""Key format (docs/api.md#authentication): `<prefix><32 random base62><6 base62 checksum>`.

The checksum (CRC32 of prefix and random part, base62, 6 characters) lets a mistyped key be
refused without touching the database, and gives secret scanners a pattern to verify.
Keys are stored as SHA-256 digests: a 190-bit random secret needs no slow hash or salt.
"""

import hashlib
import hmac
import re
import zlib

from core.ids import BASE62, random_base62

RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
DISPLAY_CHARS = 4
_BODY = re.compile(rf"[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}")


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(BASE62[rem])
    return "".join(reversed(chars))


def checksum(prefix: str, random_part: str) -> str:
    return _base62(zlib.crc32(f"{prefix}{random_part}".encode()), CHECKSUM_LENGTH)


def generate(prefix: str) -> str:
    random_part = random_base62(RANDOM_LENGTH)
    return f"{prefix}{random_part}{checksum(prefix, random_part)}"


def is_well_formed(key: str, prefix: str) -> bool:
    """Shape and checksum only; constant work, no I/O."""
    if not isinstance(key, str) or not key.startswith(prefix):
        return False
    body = key[len(prefix) :]
    if not _BODY.fullmatch(body):  # fullmatch: "$" would accept a trailing newline
        return False
    random_part, check = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return hmac.compare_digest(checksum(prefix, random_part), check)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str, prefix: str) -> str:
    return f"{prefix}{key[len(prefix) : len(prefix) + DISPLAY_CHARS]}..."

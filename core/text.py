"""Free text a user or API client names things with.

A name (account, API key, sub-user proxy, an e-mail address) can end up in an e-mail header,
a file name, a log line or a CSV cell, where a line break starts a new header, line or row
and a bidirectional override shows the text in another order than it is stored. Names
therefore refuse control characters (`validate_plain_text`), and every e-mail subject goes
through `single_line` (in `branding.selectors.brand_email_subject`), which flattens what an
older row may still hold to one line.
"""

import unicodedata

from django.core.exceptions import ValidationError

# Category Cc (C0, DEL, C1: tab, CR, LF, ESC, NEL...), line and paragraph separators (Zl, Zp),
# and the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

CONTROL_CHARACTERS_MESSAGE = (
    "Use letters, digits, spaces and punctuation only: line breaks, tabs and other invisible "
    "control characters are not allowed."
)


def is_control_character(char: str) -> bool:
    return char in BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES


def has_control_characters(text: str) -> bool:
    return any(is_control_character(char) for char in text or "")


def validate_plain_text(value) -> None:
    """Django/DRF validator for names and labels: refuses any control character."""
    if isinstance(value, str) and has_control_characters(value):
        raise ValidationError(CONTROL_CHARACTERS_MESSAGE, code="control_characters")


def single_line(text) -> str:
    """`text` with every control character turned into a space and runs of spaces into one."""
    flat = "".join(" " if is_control_character(char) else char for char in str(text or ""))
    return " ".join(flat.split())

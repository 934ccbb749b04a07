"""The API's JSON parser: DRF's, with number literals of bounded length.

The standard decoder turns `1e1000000` into infinity (which every field refuses) but
converts integer literals of up to 4300 digits, and fails longer ones with a message about
`sys.set_int_max_str_digits()`. Here a number literal longer than
`numbers.MAX_LITERAL_CHARS` makes the body malformed, with a message a client can act on.

JSON's `\\uXXXX` escapes can also spell a lone UTF-16 surrogate (`"\\ud800"`), which is no
character, or a NUL (`"\\u0000"`), which PostgreSQL refuses in text: no column, lookup,
response or e-mail can carry either, so every string of the body is checked once here and
each one holding such a character is a `validation_error` on its field, before any view or
serializer sees the body.
"""

import codecs
import re

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from core import numbers
from core.text import CONTROL_CHARACTERS_MESSAGE

NUL = "\x00"
NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
SURROGATE_MESSAGE = (
    "This text holds an unpaired surrogate escape (\\ud800 to \\udfff), which is no character: "
    "send the text itself, encoded as UTF-8."
)


def _refusals(value) -> dict[str, list[str]]:
    """Field path → message, for every string in `value` holding a NUL or a lone surrogate."""
    found: dict[str, list[str]] = {}
    pending: list[tuple[str, object]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if match := NOT_TEXT.search(item):
                found.setdefault(path or "body", [CONTROL_CHARACTERS_MESSAGE if match.group() == NUL else SURROGATE_MESSAGE])
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if NOT_TEXT.search(key):
                    found.setdefault(path or "body", ["A field name holds a character that is not text."])
                    continue
                pending.append((child_path, child))
        elif isinstance(item, list):
            pending.extend((f"{path}.{index}" if path else str(index), child) for index, child in enumerate(item))
    return found


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            decoded_stream = codecs.getreader(encoding)(stream)
            data = json.load(
                decoded_stream,
                parse_constant=json.strict_constant if self.strict else None,
                parse_int=numbers.integer_literal,
                parse_float=numbers.float_literal,
            )
        except numbers.NumberError as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if refusals := _refusals(data):
            raise ValidationError(refusals)
        return data

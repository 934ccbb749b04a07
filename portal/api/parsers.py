"""The API's JSON parser: DRF's, with number literals of bounded length.

The standard decoder turns `1e1000000` into infinity (which every field refuses) but
converts integer literals of up to 4300 digits, and fails longer ones with a message about
`sys.set_int_max_str_digits()`. Here a number literal longer than
`numbers.MAX_LITERAL_CHARS` makes the body malformed, with a message a client can act on.

JSON's `\\uXXXX` escapes can also spell a lone UTF-16 surrogate (`"\\ud800"`), which is no
character: no database column, response or e-mail can carry it, so such a body is malformed too.
"""

import codecs
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from portal import numbers

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


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
        if _has_lone_surrogate(data):
            raise ParseError(
                "a string in it holds an unpaired surrogate escape (\\ud800 to \\udfff), which is no "
                "character; send the text itself, encoded as UTF-8."
            )
        return data

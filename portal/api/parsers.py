"""The API's JSON parser: DRF's, with number literals of bounded length.

The standard decoder turns `1e1000000` into infinity (which every field refuses) but
converts integer literals of up to 4300 digits, and fails longer ones with a message about
`sys.set_int_max_str_digits()`. Here a number literal longer than
`numbers.MAX_LITERAL_CHARS` makes the body malformed, with a message a client can act on.
"""

import codecs

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from portal import numbers


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            decoded_stream = codecs.getreader(encoding)(stream)
            return json.load(
                decoded_stream,
                parse_constant=json.strict_constant if self.strict else None,
                parse_int=numbers.integer_literal,
                parse_float=numbers.float_literal,
            )
        except numbers.NumberError as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None

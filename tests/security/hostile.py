"""Hostile input for tests/security/test_hostile_input.py: the values, where they go, the clock.

- Values: extreme numbers (as text, and as JSON numbers a JSON parser turns into floats or
  huge ints), long strings, control characters, calendar ends and odd JSON types. A fixed
  list every field always gets (Hypothesis explicit examples), then generated ones.
- Surfaces: the forms a page renders (parsed with html.parser) and the query or form keys a
  view actually reads (recorded from its `QueryDict` lookups during a probe request), so a
  field added to a form, a view or a serializer is fuzzed without touching the suite.
- The clock: an interval timer interrupts Python-level work past `HARD_SECONDS`; a C call
  that keeps the interpreter busy (`int()` of a Decimal with a huge exponent) cannot be
  interrupted in-process, so the elapsed time is checked after the request, and
  faulthandler ends the whole run past `OUTER_SECONDS` instead of letting CI hang.
"""

import faulthandler
import logging
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from urllib.parse import quote_from_bytes

from django.utils.datastructures import MultiValueDict
from hypothesis import strategies as st

LIMIT_SECONDS = 1.0  # what every request must stay under
HARD_SECONDS = 5.0  # the interval timer interrupts Python-level work here
OUTER_SECONDS = 120.0  # past this, faulthandler dumps every thread's stack and exits
PROBE = "_hostile_probe"


class JsonToken(str):
    """A raw JSON number token (`1e1000000`): unquoted in a JSON body, its text in a form."""


# --- values ------------------------------------------------------------------------------
TEXT_CANON = [
    "1e1000000", "-1e1000000", "1e-1000000", "9" + "0" * 4000, "NaN", "Infinity", "-0", "0x10",
    "99999999999999999999.99", str(2**63), str(-(2**63) - 1), str(2**31), "\u0661\u0662\u0663",
    "9999-12-31", "0001-01-01", "10000-01-01",
    "a" * 100_000, "\x00", "a\r\nInjected: yes", "\x1b[2J\u202eevil", "\ud800",
]
JSON_CANON = [
    None, True, [], {"a": "b"}, 9 * 10**4000, 2**63, -(2**63) - 1, 1e308,
    JsonToken("1e1000000"), JsonToken("-1e1000000"), JsonToken("NaN"),
]

_ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
_CONTROL = st.sampled_from(["\x00", "\r", "\n", "\x1b", "\x7f", "\u202e", "\u2028", "\ufeff", "\ud800", "\udfff"])


def _exponent_number(mantissa: str, exponent: int) -> str:
    return f"{mantissa}e{exponent}"


def text_values():
    """Generated hostile text: numbers, dates, control characters, 10-100 KB strings."""
    digits = st.text("0123456789", min_size=1, max_size=25)
    numbers = st.one_of(
        st.builds(_exponent_number, digits, st.integers(-1_000_000, 1_000_000)),
        st.integers(-(2**80), 2**80).map(str),
        st.floats().map(repr),
        st.decimals().map(str),
        st.integers(1, 4000).map(lambda n: "9" * n),
    )
    dates = st.one_of(
        st.dates().map(date.isoformat),
        st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(0, 99999),
                  st.integers(0, 13), st.integers(0, 32)),
    )
    controls = st.text(st.one_of(_CONTROL, _ANY_CHAR), min_size=1, max_size=40)
    long = st.builds(lambda chunk, n: (chunk * (n // len(chunk) + 1))[:n],
                     st.text(_ANY_CHAR, min_size=1, max_size=8), st.integers(10_000, 100_000))
    return st.one_of(numbers, dates, controls, long)


def json_values():
    """Generated hostile JSON values: the text ones, and numbers and types a form cannot send."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**100), 2**100),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5))
    return st.one_of(
        text_values(),
        st.builds(lambda m, e: JsonToken(f"{m}e{e}"), st.integers(1, 99), st.integers(-1_000_000, 1_000_000)),
        scalars,
        st.lists(scalars, max_size=3),
        st.dictionaries(st.text(max_size=5), scalars, max_size=2),
    )


def short(value) -> str:
    """A readable, bounded repr of a value for reports."""
    text = repr(value)
    if len(text) > 70:
        return f"{text[:30]}…{text[-12:]} ({len(str(value))} chars)"
    return text


def form_bytes(value) -> bytes:
    """What a browser would send for `value` in a form or query (lone surrogates as raw bytes)."""
    return str(value).encode("utf-8", "surrogatepass")


def urlencode_pairs(pairs) -> str:
    """`k=v&…` for (name, value-or-list) pairs, any text value included (percent-encoded bytes)."""
    parts = []
    for name, value in pairs:
        for item in value if isinstance(value, list) else [value]:
            parts.append(f"{quote_from_bytes(form_bytes(name))}={quote_from_bytes(form_bytes(item))}")
    return "&".join(parts)


# --- forms a page renders ------------------------------------------------------------------
@dataclass
class FormField:
    name: str
    kind: str  # input type, "select", "textarea", "button"
    values: list = field(default_factory=list)  # the baseline: what the page would submit
    options: list = field(default_factory=list)
    placeholder: str = ""
    multiple: bool = False
    required: bool = False


@dataclass
class Form:
    method: str
    action: str | None
    enctype: str
    fields: dict = field(default_factory=dict)

    @property
    def multipart(self) -> bool:
        return "multipart" in self.enctype.lower()


class FormParser(HTMLParser):
    """Every <form> of a page with its fields and the values a browser would submit."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: FormField | None = None
        self._option: dict | None = None
        self._textarea: FormField | None = None

    def _field(self, name, kind, **kwargs) -> FormField:
        existing = self._form.fields.get(name)
        if existing is None:
            existing = self._form.fields[name] = FormField(name=name, kind=kind, **kwargs)
        return existing

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = Form(attrs.get("method", "get").lower() or "get", attrs.get("action"),
                              attrs.get("enctype", ""))
            self.forms.append(self._form)
            return
        if self._form is None or not attrs.get("name") or "disabled" in attrs:
            if tag == "option" and self._select is not None:
                self._option_start(attrs)
            return
        name = attrs["name"]
        if tag in ("input", "select", "textarea") and "required" in attrs:
            self._field(name, tag if tag != "input" else attrs.get("type", "text").lower()).required = True
        if tag == "input":
            kind = attrs.get("type", "text").lower()
            if kind in ("submit", "image", "reset"):
                kind = "button"
            item = self._field(name, kind, placeholder=attrs.get("placeholder", ""))
            if kind in ("checkbox", "radio"):
                item.options.append(attrs.get("value", "on"))
                if "checked" in attrs:
                    item.values.append(attrs.get("value", "on"))
            elif kind == "file":
                pass
            elif kind == "button":
                item.options.append(attrs.get("value", ""))
            else:
                item.values = [attrs.get("value", "")]
        elif tag == "button":
            item = self._field(name, "button")
            item.options.append(attrs.get("value", ""))
        elif tag == "select":
            self._select = self._field(name, "select", multiple="multiple" in attrs)
        elif tag == "textarea":
            self._textarea = self._field(name, "textarea", placeholder=attrs.get("placeholder", ""))
            self._textarea.values = [""]
        if tag == "option" and self._select is not None:
            self._option_start(attrs)

    def _option_start(self, attrs):
        self._option = {"value": attrs.get("value"), "text": "", "selected": "selected" in attrs}

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.values = [self._textarea.values[0] + data]
        if self._option is not None:
            self._option["text"] += data

    def _option_end(self):
        if self._option is None or self._select is None:
            return
        value = self._option["value"] if self._option["value"] is not None else self._option["text"].strip()
        self._select.options.append(value)
        if self._option["selected"]:
            self._select.values.append(value)
        self._option = None

    def handle_endtag(self, tag):
        if tag == "option":
            self._option_end()
        elif tag == "select":
            self._option_end()
            if self._select is not None and not self._select.values:
                filled = [o for o in self._select.options if o != ""]
                self._select.values = filled[:1] or self._select.options[:1]
            self._select = None
        elif tag == "textarea":
            if self._textarea is not None and self._textarea.values[0].startswith("\n"):
                self._textarea.values = [self._textarea.values[0][1:]]  # as browsers do
            self._textarea = None
        elif tag == "form":
            self._form = None


def parse_forms(html: str) -> list[Form]:
    parser = FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


# --- the keys a view reads -----------------------------------------------------------------
@contextmanager
def recording_reads():
    """Records the keys views look up in request.GET / request.POST (tagged by the PROBE key).

    Yields {"get": set(), "post": set()}; a request carries `PROBE=get` in its query string
    and `PROBE=post` in its body so each QueryDict can be told apart.
    """
    seen = {"get": set(), "post": set()}
    names = ("get", "getlist", "__getitem__", "__contains__")
    originals = {name: MultiValueDict.__dict__.get(name) for name in names}

    def where(mapping):
        tag = dict.get(mapping, PROBE)
        return tag[0] if isinstance(tag, list) and tag and tag[0] in seen else None

    def wrap(name):
        inherited = getattr(MultiValueDict, name)

        def recorder(self, key, *args, **kwargs):
            tag = where(self)
            if tag and isinstance(key, str) and key != PROBE:
                seen[tag].add(key)
            return inherited(self, key, *args, **kwargs)

        return recorder

    for name in names:
        setattr(MultiValueDict, name, wrap(name))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            if original is None:
                delattr(MultiValueDict, name)
            else:
                setattr(MultiValueDict, name, original)


@contextmanager
def recording_body_keys():
    """Records the keys API views look up in a parsed JSON body (request.data), whatever the
    parser: yields the set of keys read meanwhile."""
    from rest_framework.request import Request

    seen: set = set()

    class RecordingDict(dict):
        def get(self, key, default=None):
            seen.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            seen.add(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            seen.add(key)
            return super().__contains__(key)

    original = Request._parse

    def parse(self):
        data, files = original(self)
        return (RecordingDict(data) if type(data) is dict else data), files

    Request._parse = parse
    try:
        yield seen
    finally:
        Request._parse = original


# --- errors a view turned into a 500 answer ------------------------------------------------
class _ErrorRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record):
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


@contextmanager
def logged_errors():
    """Yields the list of exceptions logged (with a traceback) meanwhile, e.g. by an error
    handler that answered 500 itself."""
    handler = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.errors
    finally:
        root.removeHandler(handler)


# --- the clock -----------------------------------------------------------------------------
class Overran(BaseException):
    """Raised by the interval timer in the main thread: the request ran past HARD_SECONDS.

    A BaseException so that no `except Exception` in a view or middleware swallows it."""


@contextmanager
def deadline(hard: float = HARD_SECONDS, outer: float = OUTER_SECONDS):
    """Interrupts Python-level work after `hard` seconds; exits the process after `outer`.

    CPython runs signal handlers between bytecodes, so a single long C call (a huge
    int conversion) finishes before the timer's exception is raised; faulthandler's watchdog
    thread needs no interpreter lock and ends a run stuck in one (with every stack dumped).
    """

    def on_alarm(signum, frame):
        raise Overran(f"still running after {hard:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, hard)
    faulthandler.dump_traceback_later(outer, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)


def timed(fn, hard: float = HARD_SECONDS):
    """(result or None, Overran or None, seconds) of fn() under `deadline`."""
    started = time.perf_counter()
    try:
        with deadline(hard=hard):
            result = fn()
        return result, None, time.perf_counter() - started
    except Overran as exc:
        return None, exc, time.perf_counter() - started

"""CloudWatch Logs' FilterLogEvents as AWS answers it where moto does not: JSON filter patterns
(`{ $.correlation_id = "run-1" || $.level = "ERROR" }`, which moto answers with every event) and
`logStreamNamePrefix` (which moto ignores). `cd4ml logs` asks both, and so do users' `aws logs filter-log-events`.

The JSON patterns of https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html: a
selector (`$.a.b`, `$.a[0]`) compared with `=`/`!=` to a string (quoted or bare, `*` as a wildcard) or a number,
with `<`, `>`, `<=`, `>=` to a number, or tested with `IS TRUE|FALSE|NULL` and `NOT EXISTS`; terms joined by `&&`
(binding tighter) and `||`, grouped by parentheses. An event that is not a JSON object never matches. A pattern
outside this is refused with InvalidParameterException, as AWS refuses a malformed one, rather than matched
loosely. Other patterns (terms, phrases) stay moto's."""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable
from typing import Any

Predicate = Callable[[Any], bool]
_MISSING = object()
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<selector>\$(?:\.[A-Za-z0-9_@-]+|\[\d+\])*)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![A-Za-z_*]))
    | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})
    | (?P<word>[A-Za-z0-9_*][A-Za-z0-9_.*:/@-]*)
    )""",
    re.VERBOSE,
)
_PATH_PART = re.compile(r"\.([A-Za-z0-9_@-]+)|\[(\d+)\]")


class FilterPatternError(ValueError):
    """A JSON filter pattern that does not parse (AWS: `InvalidParameterException: Invalid filter pattern`)."""


def is_json_pattern(pattern: str | None) -> bool:
    return bool(pattern) and str(pattern).lstrip().startswith("{")


@functools.lru_cache(maxsize=256)  # moto builds its filter once per event: parse each pattern once
def json_pattern(pattern: str) -> Predicate:
    """The predicate a JSON filter pattern means, over a parsed JSON document."""
    tokens = _tokens(pattern)
    parser = _Parser(tokens, pattern)
    parser.expect("{")
    predicate = parser.disjunction()
    parser.expect("}")
    if parser.position != len(tokens):
        raise FilterPatternError(f"Invalid filter pattern: unexpected {tokens[parser.position][1]!r} in {pattern!r}")
    return predicate


def matches(pattern: str, message: str) -> bool:
    """Whether an event's message matches a JSON filter pattern: only a JSON object can."""
    predicate = json_pattern(pattern)
    try:
        document = json.loads(message)
    except ValueError:
        return False
    return isinstance(document, dict) and predicate(document)


def _tokens(pattern: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = pattern.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterPatternError(f"Invalid filter pattern: cannot read {text[position:]!r} in {pattern!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens: disjunction := conjunction (|| conjunction)*; conjunction := term
    (&& term)*; term := ( disjunction ) | selector test."""

    def __init__(self, tokens: list[tuple[str, str]], pattern: str) -> None:
        self.tokens = tokens
        self.pattern = pattern
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterPatternError(f"Invalid filter pattern: {self.pattern!r} ends too early")
        self.position += 1
        return token

    def expect(self, value: str) -> None:
        _, text = self.take()
        if text != value:
            raise FilterPatternError(f"Invalid filter pattern: expected {value!r}, got {text!r} in {self.pattern!r}")

    def disjunction(self) -> Predicate:
        terms = [self.conjunction()]
        while self.peek() == ("op", "||"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else lambda doc: any(term(doc) for term in terms)

    def conjunction(self) -> Predicate:
        terms = [self.term()]
        while self.peek() == ("op", "&&"):
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else lambda doc: all(term(doc) for term in terms)

    def term(self) -> Predicate:
        kind, text = self.take()
        if (kind, text) == ("op", "("):
            inner = self.disjunction()
            self.expect(")")
            return inner
        if kind != "selector":
            raise FilterPatternError(f"Invalid filter pattern: expected a selector ($.field), got {text!r}")
        path = [(name, int(index) if index else None) for name, index in _PATH_PART.findall(text[1:])]
        if not path:
            raise FilterPatternError(f"Invalid filter pattern: {text!r} selects no field")
        return self.test(path)

    def test(self, path: list[tuple[str, int | None]]) -> Predicate:
        kind, text = self.take()
        word = text.upper() if kind == "word" else None
        if word == "IS":
            _, what = self.take()
            expected = {"TRUE": True, "FALSE": False, "NULL": None}.get(what.upper(), _MISSING)
            if expected is _MISSING:
                raise FilterPatternError(f"Invalid filter pattern: IS expects TRUE, FALSE or NULL, got {what!r}")
            return lambda doc: (value := _select(doc, path)) is not _MISSING and value is expected
        if word == "NOT":
            _, what = self.take()
            if what.upper() != "EXISTS":
                raise FilterPatternError(f"Invalid filter pattern: NOT expects EXISTS, got {what!r}")
            return lambda doc: _select(doc, path) is _MISSING
        if kind != "op" or text not in ("=", "!=", "<", ">", "<=", ">="):
            raise FilterPatternError(f"Invalid filter pattern: expected a comparison after the selector, got {text!r}")
        value_kind, literal = self.take()
        if value_kind == "number":
            return _numeric(path, text, float(literal))
        if text not in ("=", "!="):
            raise FilterPatternError(f"Invalid filter pattern: {text} compares numbers, got {literal!r}")
        if value_kind == "string":
            literal = json.loads(literal)
        elif value_kind != "word":
            raise FilterPatternError(f"Invalid filter pattern: expected a value after {text}, got {literal!r}")
        equal = _string_equals(literal)
        if text == "=":
            return lambda doc: equal(_select(doc, path))
        return lambda doc: (value := _select(doc, path)) is not _MISSING and not equal(value)


def _numeric(path: list[tuple[str, int | None]], op: str, number: float) -> Predicate:
    compare: Callable[[float], bool] = {
        "=": lambda v: v == number,
        "!=": lambda v: v != number,
        "<": lambda v: v < number,
        ">": lambda v: v > number,
        "<=": lambda v: v <= number,
        ">=": lambda v: v >= number,
    }[op]

    def predicate(doc: Any) -> bool:
        value = _select(doc, path)
        return isinstance(value, int | float) and not isinstance(value, bool) and compare(float(value))

    return predicate


def _string_equals(literal: str) -> Callable[[Any], bool]:
    """Equality with a string value; `*` in it matches any run of characters."""
    if "*" not in literal:
        return lambda value: isinstance(value, str) and value == literal
    regex = re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", literal)))
    return lambda value: isinstance(value, str) and regex.fullmatch(value) is not None


def _select(document: Any, path: list[tuple[str, int | None]]) -> Any:
    value = document
    for name, index in path:
        if index is not None:
            if not isinstance(value, list) or index >= len(value):
                return _MISSING
            value = value[index]
        elif isinstance(value, dict) and name in value:
            value = value[name]
        else:
            return _MISSING
    return value


# ---- the hook into moto ----------------------------------------------------------------------------------------
_request = threading.local()  # the logStreamNamePrefix of the FilterLogEvents call this thread answers


def install() -> None:
    """Make moto's FilterLogEvents answer JSON patterns and logStreamNamePrefix. Installed once per process; with
    neither in a request, moto answers as it always did."""
    from moto.logs import models
    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.responses import LogsResponse

    if getattr(models.EventMessageFilter, "_cd4ml_hook", False):
        return
    moto_filter = models.EventMessageFilter

    class EventMessageFilter(moto_filter):  # type: ignore[misc, valid-type]
        _cd4ml_hook = True

        def __init__(self, pattern: str) -> None:
            self.json_pattern = pattern if is_json_pattern(pattern) else None
            if self.json_pattern is None:
                super().__init__(pattern)
                return
            try:
                json_pattern(self.json_pattern)
            except FilterPatternError as error:
                raise InvalidParameterException(str(error)) from None

        def matches(self, message: str) -> bool:
            if self.json_pattern is None:
                return bool(super().matches(message))
            return matches(self.json_pattern, message)

    models.EventMessageFilter = EventMessageFilter  # type: ignore[misc]

    answer = LogsResponse.filter_log_events

    @functools.wraps(answer)
    def filter_log_events(self: Any) -> Any:
        prefix = self._get_param("logStreamNamePrefix")
        if prefix and self._get_param("logStreamNames"):
            raise InvalidParameterException("Cannot specify both logStreamNames and logStreamNamePrefix")
        _request.prefix = prefix or None
        try:
            return answer(self)
        finally:
            _request.prefix = None

    search = models.LogGroup.filter_log_events

    @functools.wraps(search)
    def group_filter_log_events(self: Any, log_group_name: str, log_stream_names: Any, *args: Any) -> Any:
        prefix = getattr(_request, "prefix", None)
        if prefix:
            log_stream_names = [name for name in self.streams if name.startswith(prefix)]
            if not log_stream_names:  # moto reads an empty list as "every stream"
                return [], None, []
        return search(self, log_group_name, log_stream_names, *args)

    LogsResponse.filter_log_events = filter_log_events  # type: ignore[method-assign]
    models.LogGroup.filter_log_events = group_filter_log_events  # type: ignore[method-assign, assignment]

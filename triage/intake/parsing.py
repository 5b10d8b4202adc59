"""The one parsing and validation layer every webhook goes through: bounded and total.

`parse_json` turns a body into a JSON object and `validate` turns that into a payload model; each
returns a value or raises `IntakeError(400)` naming the problem and the field, never anything
else. What they guarantee to everything downstream (store, workflow, replies):

- nesting at most `MAX_DEPTH` levels; integers at most `MAX_INT_DIGITS` digits; every number
  finite (`NaN`, `Infinity` and `1e400` are refused: PostgreSQL's JSON cannot hold them);
- every string, keys included, is storable: NUL characters are removed (PostgreSQL text cannot
  hold them and they carry no meaning) and lone surrogates become U+FFFD (a sender that cut a
  string inside a surrogate pair should not lose its alert);
- ids (`Id`) are 1 to `MAX_ID_LENGTH` characters, so every key built from them fits its column;
- timestamps (`Timestamp`) are aware UTC; an alert's start (`AlertTime`) lies in
  [`EARLIEST`, `LATEST`), so an investigation's windows around it never leave datetime's range.
"""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_DEPTH = 64  # vendors nest 3-6 levels; recursion anywhere downstream stays far from its limit
MAX_INT_DIGITS = 1000  # Python's int() refuses 4,300; no vendor field is more than 20
MAX_ID_LENGTH = 200  # two ids and a prefix stay under the store's varchar(512)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_SHOWN = 80  # characters of a payload value or key quoted back in an error


class IntakeError(Exception):
    """A delivery was refused; carries the HTTP status and a precise message."""

    def __init__(self, status_code: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.field = field


class _Refused:
    """A number the parser met but cannot keep; the walk reports it with its path."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _parse_int(text: str, refused: list[_Refused]) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _refuse(refused, f"integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str, refused: list[_Refused]) -> float | _Refused:
    value = float(text)
    if math.isfinite(value):
        return value
    return _refuse(refused, f"number {shown(text)} is out of range")


def _parse_constant(name: str, refused: list[_Refused]) -> _Refused:
    return _refuse(refused, f"{name} is not a JSON number")


def _refuse(refused: list[_Refused], problem: str) -> _Refused:
    refused.append(_Refused(problem))
    return refused[-1]


def _clean_already(text: str, refused: list[_Refused]) -> bool:
    """Whether the parsed `text` needs no cleaning walk: nothing refused, and nothing to clean
    or bound. A NUL or a lone surrogate can only come from a `\\u` escape (raw control
    characters and undecodable bytes were refused already), and nesting is at most the count
    of opening brackets. Most deliveries pass; the others take the walk, which names the place."""
    return (not refused and "\\u" not in text
            and text.count("{") + text.count("[") < MAX_DEPTH)


def shown(text: str) -> str:
    """`text` quoted for an error message, cut to a readable length."""
    return repr(text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…")


def clean_text(text: str) -> str:
    """`text` without NUL characters, with lone surrogates replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def _path(parts: list[str]) -> str:
    return ".".join(p if len(p) <= _MAX_SHOWN else p[:_MAX_SHOWN] + "…" for p in parts) or "(body)"


def _clean(value: Any, parts: list[str]) -> Any:
    """A copy of a parsed value with every string cleaned; a 400 naming the first bad place."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, _Refused):
        where = _path(parts)
        raise IntakeError(400, f"invalid payload: {where}: {value.problem}", where)
    if len(parts) >= MAX_DEPTH and isinstance(value, dict | list):
        where = _path(parts)
        raise IntakeError(400, f"invalid payload: {where}: nested deeper than {MAX_DEPTH} levels",
                          where)
    if isinstance(value, dict):
        cleaned = {}
        for key, item in value.items():
            key = clean_text(key)
            cleaned[key] = _clean(item, [*parts, key])
        return cleaned
    if isinstance(value, list):
        return [_clean(item, [*parts, str(index)]) for index, item in enumerate(value)]
    return value


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object within the bounds above, or a 400 that says where the JSON broke."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntakeError(400, f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        refused: list[_Refused] = []
        data = json.loads(text, parse_int=functools.partial(_parse_int, refused=refused),
                          parse_float=functools.partial(_parse_float, refused=refused),
                          parse_constant=functools.partial(_parse_constant, refused=refused))
    except json.JSONDecodeError as exc:
        raise IntakeError(
            400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise IntakeError(400, f"malformed JSON: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # anything else the decoder refuses
        raise IntakeError(400, f"malformed JSON: {str(exc)[:200]}") from None
    cleaned = data if _clean_already(text, refused) else _clean(data, [])
    if not isinstance(cleaned, dict):
        raise IntakeError(400, f"expected a JSON object, got {type(cleaned).__name__}")
    return cleaned


def validate(model: type[ModelT], data: Any, at: str = "") -> ModelT:
    """Validate a payload (found at path `at`), or a 400 naming the first offending field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = _path([*filter(None, [at]), *(str(part) for part in first["loc"])])
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise IntakeError(400, f"invalid payload: {where}: {first['msg']}{more}", where) from None


def _utc(value: datetime) -> datetime:
    """Aware UTC; naive times are taken as UTC; a time UTC cannot express is refused."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is outside the representable range once converted to UTC"
                         ) from None


def _in_alert_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"timestamp {value.isoformat()} is not between "
                         f"{EARLIEST.date()} and {LATEST.date()}")
    return value


def _epoch(value: Any) -> Any:
    """Epoch milliseconds, or seconds (below 1e11), as a JSON number or a string of digits."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value  # the datetime validator refuses it with its own message
    text = value.strip() if isinstance(value, str) else repr(value)
    if isinstance(value, str) and not re.fullmatch(r"-?\d+(\.\d*)?", text):
        return value  # ISO 8601 text, or something the datetime validator refuses
    number = float(text)
    seconds = number / 1000 if number >= 1e11 else number
    # Bounded before any datetime arithmetic, which would overflow instead of refusing.
    if not 0 <= seconds < (LATEST - EARLIEST).total_seconds():
        raise ValueError(f"epoch time {shown(text)} is not between {EARLIEST.date()} and "
                         f"{LATEST.date()} (milliseconds, or seconds below 1e11)")
    return EARLIEST + timedelta(seconds=seconds)


def _number_as_text(value: Any) -> Any:
    """Vendors' templates send some ids quoted and some not: a JSON integer is its digits."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _id(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("an id must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"an id must be at most {MAX_ID_LENGTH} characters, not {len(value)}")
    return value


Id = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_id)]
"""An identifier: a non-empty string (or JSON integer) of at most `MAX_ID_LENGTH` characters."""
Timestamp = Annotated[datetime, AfterValidator(_utc)]
"""Any ISO 8601 time, as aware UTC."""
AlertTime = Annotated[datetime, AfterValidator(_utc), AfterValidator(_in_alert_range)]
"""When an alert started: aware UTC in [`EARLIEST`, `LATEST`)."""
EpochTime = Annotated[datetime, BeforeValidator(_epoch), AfterValidator(_utc),
                      AfterValidator(_in_alert_range)]
"""Epoch milliseconds or seconds, number or string (or ISO 8601 text), as an `AlertTime`."""

"""One generic masking configuration: the parts of a log message that vary become typed markers.

    mask_message('GET /api/cart/90817 200 in 407ms from 10.0.0.7')
    # 'GET <PATH> <NUM> in <DUR> from <IP>'

The same masks serve every log source (no per-source regexes): they were tuned for grouping
accuracy across the loghub-2k data sets (`bench/loghub.py`). Markers are `<NAME>` tokens, so the
miner can tell a masked value from a word (`is_masked`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?"
_DIGIT = re.compile(r"\d")


Replacement = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class Mask:
    """One kind of variable value: a regex, what replaces it, and cheap pre-checks."""

    name: str
    pattern: re.Pattern[str]
    replacement: Replacement
    # Substrings of which at least one must be present for the pattern to possibly match; the
    # `in` test is ~100x cheaper than a regex scan, and most lines lack most shapes.
    hints: tuple[str, ...] = ()
    needs_digit: bool = False

    def apply(self, text: str) -> str:
        """Replace every occurrence of this mask's shape in `text`."""
        return self.pattern.sub(self.replacement, text)


def _mask(name: str, pattern: str, *, hints: tuple[str, ...] = (), needs_digit: bool = False,
          keep_prefix: bool = False) -> Mask:
    # keep_prefix: the pattern's first group is kept verbatim (a URL's scheme and host).
    """A regex mask that replaces a match with its `<NAME>` marker."""
    replacement = rf"\g<1><{name}>" if keep_prefix else f"<{name}>"
    return Mask(name, re.compile(pattern), replacement, hints, needs_digit)


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?").fullmatch
_HEX = re.compile(r"0[xX][0-9a-fA-F]+|(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}").fullmatch
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|us|µs|ns|s|m|h|min|sec|secs))+").fullmatch


def _value_marker(match: re.Match[str]) -> str:
    """Name a token that holds a digit: a number, hex, a duration, or else an identifier."""
    token = match.group()
    if token.isdigit() or _NUMBER(token):
        return "<NUM>"
    if _HEX(token):
        return "<HEX>"
    if _DURATION(token):
        return "<DUR>"
    return "<ID>"  # blk_-1608, attempt_1445_0020, v2, pod-7f9c, HTTP/1.1's 1.1


# Order matters: longer, more specific shapes first, so a UUID inside a path is not cut into
# numbers; the digit-bearing tokens that are left are classified in one pass at the end (one
# scan instead of four: masking is most of the miner's cost).
GENERIC_MASKS: tuple[Mask, ...] = (
    # URLs keep scheme://host[:port] (which dependency) and lose path and query (which call).
    _mask("PATH", r"\b([a-zA-Z][\w+.-]*://[^\s/\"'<>]+)/[^\s\"'<>]*", hints=("://",),
          keep_prefix=True),
    _mask("UUID", r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
          hints=("-",)),
    # A comma-separated list of addresses is one value (proxies' X-Forwarded-For).
    _mask("IP", rf"(?<![\w.]){_IPV4}(?:,{_IPV4})*(?![\w.])", hints=(".",), needs_digit=True),
    _mask("PATH", r"(?<![\w:/.<])(?:[A-Za-z]:)?(?:[/\\][^\s/\\\"',;\]\)]+)+[/\\]?",
          hints=("/", "\\")),
    # Only single-token quoted values: a quoted phrase ("GET /x HTTP/1.1") is message text.
    _mask("STR", r"\"[^\"\s]*\"|'[^'\s]*'", hints=('"', "'")),
    # A token is a maximal run of word characters and . + - ; one holding a digit is a value.
    Mask("VALUE", re.compile(r"(?<![\w.+-])[a-zA-Z_.+-]*\d[\w.+-]*"), _value_marker,
         needs_digit=True),
)

MARKERS = frozenset({"<PATH>", "<UUID>", "<IP>", "<STR>", "<NUM>", "<HEX>", "<DUR>", "<ID>"})


class Masker:
    """Applies masks in order, skipping the ones whose pre-check rules them out."""

    def __init__(self, masks: tuple[Mask, ...] = GENERIC_MASKS) -> None:
        self._masks = [(m.pattern.sub, m.replacement, m.hints, m.needs_digit) for m in masks]
        self._has_digit: Callable[[str], re.Match[str] | None] = _DIGIT.search

    def mask(self, message: str) -> str:
        """The message with every variable part replaced by its marker."""
        digits = self._has_digit(message) is not None
        for sub, replacement, hints, needs_digit in self._masks:
            if needs_digit and not digits:
                continue
            if hints:
                for hint in hints:
                    if hint in message:
                        break
                else:
                    continue
            message = sub(replacement, message)
        return message


_DEFAULT = Masker()


def mask_message(message: str) -> str:
    """Mask `message` with the generic configuration."""
    return _DEFAULT.mask(message)


def is_masked(token: str) -> bool:
    """Whether a token holds a masked value (a `<NAME>` marker or a miner wildcard).

    Cheap by design (it runs per token per comparison): a raw token with both angle brackets,
    such as `List<String>`, counts too; that only lets it vary like a value.
    """
    return "<" in token and ">" in token

"""Leak checks for planted secrets: whole, in part (12 consecutive characters), or with their digits
collapsed the way a log masker would (`AKIA1B2C…` -> `AKIA#B#C…`), in raw, JSON- or HTML-escaped text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

WINDOW = 12
_DIGITS = re.compile(r"\d+")
# A collapsed window made of hex letters and `#` alone is too common by chance (trace ids).
_DISTINCTIVE = re.compile(r"[^0-9a-f#]")


def collapse(text: str) -> str:
    """Every run of digits as one `#`."""
    return _DIGITS.sub("#", text)


def _forms(document: str) -> set[str]:
    """The document as written and with one or two levels of JSON / HTML escaping undone."""
    forms = {document}
    for _ in range(2):
        forms |= {html.unescape(form) for form in forms}
        forms |= {form.replace("\\\\", "\\").replace('\\"', '"').replace("\\n", "\n") for form in forms}
    return forms


def _windows(secret: str) -> Iterable[str]:
    return (secret[i:i + WINDOW] for i in range(len(secret) - WINDOW + 1))


def _scan(texts: Iterable[str], windows: dict[str, str], found: set[str]) -> None:
    for text in texts:
        for i in range(len(text) - WINDOW + 1):
            owner = windows.get(text[i:i + WINDOW])
            if owner is not None:
                found.add(owner)


def partial_leaks(document: str, secrets: Iterable[str]) -> list[str]:
    """The secrets found in `document` whole, by any 12 consecutive characters, or by 12 of
    their digit-collapsed form."""
    docs = _forms(document)
    found: set[str] = set()
    plain: dict[str, str] = {}
    collapsed: dict[str, str] = {}
    for secret in secrets:
        if len(secret) < WINDOW:
            if any(secret in doc for doc in docs):
                found.add(secret)
            continue
        for window in _windows(secret):
            plain.setdefault(window, secret)
        for window in _windows(collapse(secret)):
            if _DISTINCTIVE.search(window):
                collapsed.setdefault(window, secret)
    _scan(docs, plain, found)
    _scan({collapse(doc) for doc in docs}, collapsed, found)
    return sorted(found)

"""The leak check itself: it must find whole, partial and digit-collapsed leaks, and nothing else."""

from __future__ import annotations

import json

from tests.analysis.leaks import collapse, partial_leaks

SECRET = "AKIAUJZDE8GXD6NCF10E"


def test_whole_partial_escaped_and_collapsed_leaks_are_found() -> None:
    assert partial_leaks(f"key {SECRET} here", [SECRET]) == [SECRET]
    assert partial_leaks(f"key {SECRET[3:15]}…", [SECRET]) == [SECRET]
    assert partial_leaks(json.dumps({"m": json.dumps({"k": SECRET})}), [SECRET]) == [SECRET]
    assert partial_leaks("AKIAUJZDE<NUM>GXD<NUM>NCF<NUM>E".replace("<NUM>", "7"), [SECRET]) == [SECRET]
    assert collapse(SECRET) == "AKIAUJZDE#GXD#NCF#E"


def test_unrelated_text_and_short_fragments_are_not_leaks() -> None:
    assert partial_leaks(f"key {SECRET[:11]} and {SECRET[-11:]}", [SECRET]) == []
    assert partial_leaks("key [redacted:aws-access-key-id] here", [SECRET]) == []

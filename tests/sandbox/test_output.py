"""Middle truncation: the streaming form keeps exactly what `truncate_middle` keeps."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from sandbox.base import MiddleTruncator, truncate_middle


def test_short_output_is_kept_whole():
    out = truncate_middle(b"hello", 5)
    assert (out.text, out.original_bytes, out.truncated) == ("hello", 5, False)


def test_long_output_keeps_head_and_tail_and_says_how_much_was_cut():
    out = truncate_middle(b"A" * 10 + b"B" * 80 + b"C" * 10, 20)
    assert out.truncated
    assert out.original_bytes == 100
    assert out.text.startswith("A" * 10)
    assert out.text.endswith("C" * 10)
    assert "[80 bytes cut from the middle]" in out.text


def test_tiny_limits_never_show_the_whole_output():
    # A limit below 2 has an empty half: the tail must be empty too, not data[-0:] (everything).
    for limit in (0, 1):
        out = truncate_middle(b"secret-ish long output", limit)
        assert out.truncated
        assert "secret" not in out.text


def test_invalid_utf8_is_replaced_not_raised():
    out = truncate_middle(b"ok \xff\xfe end", 100)
    assert out.text == "ok \ufffd\ufffd end"


@given(data=st.binary(max_size=3000), limit=st.integers(0, 600),
       cuts=st.lists(st.integers(0, 3000), max_size=12))
def test_streaming_matches_truncate_middle_for_any_chunking(data, limit, cuts):
    sink = MiddleTruncator(limit)
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    for start, end in itertools.pairwise(bounds):
        sink.feed(data[start:end])
    assert sink.output() == truncate_middle(data, limit)


def test_streaming_memory_stays_bounded():
    sink = MiddleTruncator(1000)
    for _ in range(10_000):
        sink.feed(b"x" * 1000)
    out = sink.output()
    assert out.original_bytes == 10_000_000
    assert len(sink._tail) < 2 * 500 + 4096 + 1000  # trimmed as it goes, not kept whole
    assert len(out.text) < 1100

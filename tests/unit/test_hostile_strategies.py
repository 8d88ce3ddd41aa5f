"""The fuzz tests' strategies (tests/hostile/fields.py) do make the inputs that caused 500s
before: else the fuzz tests would pass for want of trying."""

from __future__ import annotations

import pytest
from hypothesis import find

from tests.hostile.fields import cursors, names, segments, text, times


def test_text_holds_lone_surrogates() -> None:
    find(text, lambda t: any(0xD800 <= ord(c) <= 0xDFFF for c in t))


@pytest.mark.parametrize("offset", ["+99:00", "+00:60", "-24:00"])
def test_times_carry_impossible_offsets(offset: str) -> None:
    find(times, lambda t: t.endswith(offset))


def test_times_reach_past_both_ends_of_the_calendar() -> None:
    find(times, lambda t: t.startswith("0001-01-01"))
    find(times, lambda t: t.startswith("10000-"))


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
def test_names_reach_past_cassandras_key_limit() -> None:
    find(names, lambda n: len(n.encode("utf-8", "surrogatepass")) > 65_535)


def test_path_segments_hold_bytes_that_are_not_utf8() -> None:
    find(segments, lambda s: "%FF" in s or "%ED%A0" in s)


def test_cursors_hold_what_no_server_gave() -> None:
    find(cursors, lambda c: c.startswith("WzEsICJcdWQ4MDAiXQ"))

"""How many values a JSON body can decode into, known before it is decoded.

ujson builds the whole tree before a dialect can count points in it, and a tree costs
about a hundred bytes a value: 63 MB of ``[],`` decode into 21 million lists and GiBs.
So bodies are counted as they arrive, in three tiers, each run only when the cheaper
one cannot show the body is small enough:

1. length: every value takes at least two bytes of JSON (``0,``; ``[]`` holds its own
   separator), so a body of ``b`` bytes holds at most ``(b + 1) // 2``. Free, and
   enough for any body under twice the limit: the common path pays nothing.
2. separators: every value but the first, keys included (ujson makes them strings
   too), follows one of ``, : [ {``. One pass at C speed.
3. separators outside strings: the same, with string contents cut out by a regex, so
   text such as ``"12:00, 13:00"`` does not count. The strings are tokenized as any
   JSON parser does, so on every prefix ujson would accept, this bounds what it builds.
"""

from __future__ import annotations

import re

from service import errors

_SEPARATORS = b",:[{"
# A whole string, and the rest of a string's contents (up to its closing quote, or to
# the end of the chunk, or to a final lone backslash whose escape is in the next one).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_INSIDE = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*')
# Tiers 2 and 3 rescan the body so far in slices of this size, so their own copies
# stay small however big the body is; tier 3 cuts strings out of windows of _WINDOW
# (re.sub holds each piece between strings as an object: ~15x the window at worst).
_SLICE = 1 << 20
_WINDOW = 32 * 1024
# Up to this size a body's tree is estimated from its length alone (at most ~17 MiB,
# so typical batches pay for no scan); above it the separators are counted, so a
# large body's estimate is not several times too high.
_COUNT_FROM = 256 * 1024
# Bytes ujson allocates at its peak per value counted, besides the text of strings
# and its scratch buffer (see estimate): 102 for the costliest shape measured (objects
# of one short key nested in each other; deeper chains approach 110), 37-67 for the
# point bodies of every dialect (BENCHMARKS.md, "What a decoded value costs").
BYTES_PER_VALUE = 128

Buffer = bytes | bytearray


def separators(data: Buffer) -> int:
    return len(data) - len(data.translate(None, _SEPARATORS))


class ValueCounter:
    """Counts, chunk by chunk, how many values a body can decode into, and raises a
    413 as soon as that passes ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.length = 0
        self.tier = 1
        self.count = 0  # separators seen (tier 2) or seen outside strings (tier 3)
        self._in_string = False
        self._escaped = False

    @property
    def values(self) -> int:
        """At most this many values are in the body so far."""
        return (self.length + 1) // 2 if self.tier == 1 else self.count + 1

    def add(self, piece: Buffer, body: Buffer) -> None:
        """Count ``piece``, the bytes just appended to ``body`` (all of it so far)."""
        self.length += len(piece)
        if self.tier == 1:
            if (self.length + 1) // 2 <= self.limit:
                return
            self._rescan(body, tier=2)
        elif self.tier == 2:
            self.count += separators(piece)
        else:
            self._feed(piece)
        if self.tier == 2 and self.count >= self.limit:
            self._rescan(body, tier=3)
        if self.tier == 3 and self.count >= self.limit:
            raise errors.PayloadTooLarge(
                f"The JSON body holds more than {self.limit:,} values (numbers, "
                "strings, keys, arrays and objects), the most one request may; "
                "send fewer points per request."
            )

    def estimate(self, body: Buffer) -> tuple[int, int]:
        """Bytes that decoding ``body`` (complete) takes: the tree, which lives as
        long as the request uses it, and ujson's scratch, freed when it returns."""
        if self.tier == 1 and len(body) > _COUNT_FROM:
            self._rescan(body, tier=2)
        # One character past U+FFFF makes a str 4 bytes a character throughout.
        # (A small body is not even looked at for one: it costs a few MiB at most.)
        wide = (
            len(body) <= _COUNT_FROM
            or not body.isascii()
            or (b"\\" in body and b"\\u" in body)  # (the first is a fast memchr)
        )
        text = 4 * len(body) if wide else len(body)
        # ujson decodes strings into a buffer of 4 bytes per byte of input left.
        scratch = 4 * len(body)
        return BYTES_PER_VALUE * self.values + text, scratch

    def _rescan(self, body: Buffer, *, tier: int) -> None:
        self.tier, self.count = tier, 0
        self._in_string = self._escaped = False
        for start in range(0, len(body), _SLICE):
            part = bytes(body[start : start + _SLICE])
            if tier == 2:
                self.count += separators(part)
            else:
                self._feed(part)

    def _feed(self, chunk: Buffer) -> None:
        for start in range(0, len(chunk), _WINDOW):
            self._feed_window(bytes(chunk[start : start + _WINDOW]))

    def _feed_window(self, data: bytes) -> None:
        pos = 0
        if self._in_string:
            if self._escaped:
                if not data:
                    return
                pos, self._escaped = 1, False
            end = _match_end(data, pos)
            if end == len(data):
                return  # the string goes on
            if data[end] != 0x22:  # a final backslash: its escape is next
                self._escaped = True
                return
            pos, self._in_string = end + 1, False
        rest = _STRING.sub(b"", data[pos:] if pos else data)
        quote = rest.find(b'"')
        if quote >= 0:  # a string that ends in a later chunk
            self._in_string = True
            self._escaped = _match_end(rest, quote + 1) < len(rest)
            rest = rest[:quote]
        self.count += separators(rest)


def _match_end(data: bytes, pos: int) -> int:
    match = _INSIDE.match(data, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()

"""Reading the JSON text columns both drivers keep (event attributes, form data).

They are written with ASCII escapes (ujson's default), so a lone UTF-16 surrogate that
a client once slipped past validation is stored as ``\\ud800``: valid JSON, not valid
Unicode. Decoding it gives a str that no response can encode; ``loads`` replaces such
surrogates with U+FFFD, so an old poisoned row reads back as text. Rows without a
``\\ud`` escape (nearly all) pay one substring test.
"""

from __future__ import annotations

import re
from typing import Any

import ujson

_LONE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def loads(text: str) -> Any:
    value = ujson.loads(text)
    return repaired(value) if may_hold_surrogates(text) else value


def may_hold_surrogates(text: str) -> bool:
    """False for JSON text that surely decodes to valid Unicode (the usual case)."""
    return "\\ud" in text or "\\uD" in text


def repaired(value: Any) -> Any:
    """A decoded JSON value with every lone surrogate replaced by U+FFFD (a valid
    pair decodes to one character, so what is left is lone)."""
    return _repaired(value)


def repaired_text(text: str) -> str:
    return text if text.isascii() else _LONE.sub(REPLACEMENT, text)


def _repaired(value: Any) -> Any:
    if isinstance(value, str):
        return repaired_text(value)
    if isinstance(value, list):
        return [_repaired(v) for v in value]
    if isinstance(value, dict):
        return {repaired_text(k): _repaired(v) for k, v in value.items()}
    return value

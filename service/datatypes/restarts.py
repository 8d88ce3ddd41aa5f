"""Running sums and XORs of several blocks laid one after the other, each block's
restarted at its own start, in one numpy pass over all of them (a window of small
writes holds dozens of blocks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _starts(counts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.asarray(counts, dtype=np.int64)
    return sizes, np.cumsum(sizes) - sizes


def restarted_sums(deltas: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """Each block's running sum of its ``deltas``, from one running sum over all
    (int64 wraps, and the subtraction undoes it)."""
    sizes, starts = _starts(counts)
    total = np.cumsum(deltas, dtype=np.int64)
    out: np.ndarray = total - np.repeat(total[starts] - deltas[starts], sizes)
    return out


def restarted_xors(words: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """Each block's running XOR of its ``words``, from one over all."""
    sizes, starts = _starts(counts)
    total = np.bitwise_xor.accumulate(words)
    out: np.ndarray = total ^ np.repeat(total[starts] ^ words[starts], sizes)
    return out

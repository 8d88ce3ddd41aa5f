"""Float sums of many segments of a column at once, rounded as Python rounds them.

The query engine must answer exactly as the point-by-point engine does, and that one
adds floats as Python does: left to right, one rounding per addition, carried across
chunks. numpy's ``add.reduceat`` sums pairwise, which differs in the last bits. So
``sequential_sums`` lays the segments side by side as the columns of a matrix and
accumulates down its rows, strictly in order, each column
on its own (by rows of all columns at once where segments are short and many, by
``np.add.accumulate`` down the columns where they are long and few). Segments are grouped by length (one
matrix per power of two), so padding at most doubles the memory of a chunk.
"""

from __future__ import annotations

import numpy as np

F64 = np.dtype(np.float64)


def lengths_of(starts: np.ndarray, n: int) -> np.ndarray:
    """Lengths of the segments that begin at ``starts`` in a column of ``n``."""
    out: np.ndarray = np.diff(np.append(starts, n))
    return out


def sequential_sums(
    vals: np.ndarray, starts: np.ndarray, head: float = 0.0
) -> np.ndarray:
    """``head + v0 + v1 + ...`` for the first segment and ``0.0 + v0 + v1 + ...`` for
    the others, added left to right in float64 (``0.0 + -0.0`` is ``0.0``, as Python
    gives adding to the integer 0)."""
    n = len(vals)
    x = vals.astype(F64, copy=False)
    lens = lengths_of(starts, n)
    if not len(lens):
        return np.empty(0, F64)
    # (a sum past the largest double is inf, and inf - inf nan, as in Python)
    with np.errstate(over="ignore", invalid="ignore"):
        if int(lens.max()) == 1:  # a point per segment (no matrix to build)
            out: np.ndarray = x[starts] + 0.0
            out[0] = head + x[0]
            return out
        out = np.empty(len(lens), F64)
        for sel in _by_length(lens):
            first = head if sel[0] == 0 else 0.0
            _sum_columns(x, starts[sel], lens[sel], out, sel, first)
    return out


def _by_length(lens: np.ndarray) -> list[np.ndarray]:
    """Segment numbers in groups whose lengths are within a factor of two (one group
    when they all are, as with regular sampling)."""
    if int(lens.max()) <= 2 * int(lens.min()):
        return [np.arange(len(lens))]
    bits = np.ceil(np.log2(lens)).astype(np.int64)
    return [np.flatnonzero(bits == k) for k in np.unique(bits).tolist()]


def _sum_columns(
    x: np.ndarray,
    starts: np.ndarray,
    lens: np.ndarray,
    out: np.ndarray,
    sel: np.ndarray,
    head: float,
) -> None:
    rows = int(lens.max())
    idx = starts[None, :] + np.arange(rows, dtype=np.int64)[:, None]
    np.minimum(idx, len(x) - 1, out=idx)  # (cells past a segment's end are never read)
    grid = np.empty((rows + 1, len(starts)), F64)
    grid[0] = 0.0
    grid[0, 0] = head  # (0.0 unless the first segment carries on an open range)
    grid[1:] = x[idx]
    if rows <= len(starts):  # short segments: add row by row, all columns at once
        for r in range(rows):
            np.add(grid[r], grid[r + 1], out=grid[r + 1])
    else:  # long ones: numpy's loop runs down each column
        grid = np.add.accumulate(grid, axis=0)
    out[sel] = grid[lens, np.arange(len(starts))]

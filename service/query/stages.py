"""The shape every aggregator shares: a stage of a push pipeline.

Points flow through a metric query's aggregators in batches, in the query's order
(ascending or descending time). A stage keeps only what it needs between batches (a
running sum, the current range, a window), so memory stays bounded however many points
a query reads; outputs are handed on as soon as they are final.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

Pt = tuple[int, Any]


class Stage(Protocol):
    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        """Take the next points; return the outputs that are final."""

    def finish(self) -> list[Pt]:
        """No more input: return the remaining outputs."""


@dataclass
class StageContext:
    """What an aggregator may need to know about the query it runs in."""

    metric: str
    start: int
    end: int
    now: int
    time_zone: ZoneInfo
    descending: bool
    max_points: int
    # Tags naming the group (the tag group_by's values plus tags with one value):
    # what save_as gives the series it writes.
    group_tags: dict[str, str] = field(default_factory=dict)
    save: Callable[[str, dict[str, str], int, list[Pt]], None] | None = None


@dataclass(frozen=True)
class AggregatorSpec:
    """A validated aggregator of a query: builds a fresh stage per result group."""

    name: str
    groups: frozenset[str] | None  # data groups it handles; None = every group
    make: Callable[[StageContext], Stage]
    output_group: str | None = None  # the group its output has (None = unchanged)
    # True for aggregators that take the null points `gaps` emits (count, first...);
    # the others never see them.
    takes_nulls: bool = False
    makes_nulls: bool = False
    # The same stage on numpy columns (``service.query.vector``), where there is one.
    vmake: Callable[[StageContext], Any] | None = None

    def accepts(self, group: str) -> bool:
        return self.groups is None or group in self.groups


class Chain:
    """Aggregators one after another; those that cannot handle the data's group
    are skipped, as KairosDB skips them."""

    def __init__(
        self, specs: Sequence[AggregatorSpec], group: str, ctx: StageContext
    ) -> None:
        self.stages: list[tuple[Stage, bool]] = []
        nulls = False
        for spec in specs:
            if spec.accepts(group):
                # strip nulls before a stage that cannot take them
                self.stages.append((spec.make(ctx), nulls and not spec.takes_nulls))
                nulls = (nulls and spec.takes_nulls) or spec.makes_nulls
                group = spec.output_group or group

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        out: Sequence[Pt] = batch
        for stage, strip in self.stages:
            if strip:
                out = [p for p in out if p[1] is not None]
            if not out:
                return []
            out = stage.push(out)
        return finite(out) if self.stages else list(out)

    def finish(self) -> list[Pt]:
        carry: list[Pt] = []
        for stage, strip in self.stages:
            if strip:
                carry = [p for p in carry if p[1] is not None]
            carry = (stage.push(carry) if carry else []) + stage.finish()
        return finite(carry)


def finite(points: Sequence[Pt]) -> list[Pt]:
    """Aggregated points as JSON can show them: an infinity or NaN (a division by
    zero, a sum past the largest double) is null, as JavaScript's JSON.stringify
    shows it, since JSON has no such numbers and a client's parser would reject
    the whole answer. Stored values are always finite; only aggregates need this."""
    try:
        # one pass in C for the common case, a batch of finite numbers
        total = math.fsum(map(_value, points))
    except (TypeError, OverflowError, ValueError):  # text, null, objects; a huge
        # sum; or both infinities (fsum cannot add them)
        pass
    else:
        if total - total == 0.0:
            return list(points)
    # v - v is 0.0 for a finite float and NaN (truthy) for an infinity or NaN
    return [(t, None if type(v) is float and v - v else v) for t, v in points]


_value = operator.itemgetter(1)

"""KairosDB's answers, as its clients read them."""

from __future__ import annotations

from typing import Any

from service import __version__
from service.domain.points import TagsFound


def version() -> dict[str, str]:
    # Tools that check for KairosDB read the first word; the rest says who we are.
    return {"version": f"KairosDB 1.3.0 (datapoints {__version__})"}


def results(values: list[str]) -> dict[str, list[str]]:
    """Metric names, tag names or tag values."""
    return {"results": values}


def queries(results: list[dict[str, Any]]) -> dict[str, Any]:
    """A query's answer: one entry per metric, in order (each already in KairosDB's
    shape: the query engine builds it)."""
    return {"queries": results}


def query_tags(found: list[TagsFound]) -> dict[str, Any]:
    return {
        "queries": [
            {"results": [{"name": f.metric, "tags": f.tags, "values": []}]}
            for f in found
        ]
    }


def health(ok: bool) -> list[str]:
    return [f"Datastore-Query: {'OK' if ok else 'FAIL'}"]

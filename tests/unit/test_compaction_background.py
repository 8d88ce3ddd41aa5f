"""The background compactor's pause: no pass runs while it is held."""

from __future__ import annotations

import time

from service.storage.cassandra.compaction import Background, Outcome


class Counting:
    def __init__(self) -> None:
        self.runs = 0

    def run(self) -> Outcome:
        self.runs += 1
        return Outcome()


def test_no_pass_runs_while_paused_and_passes_resume_after() -> None:
    compactor = Counting()
    background = Background(compactor, interval=0.01)  # type: ignore[arg-type]
    try:
        with background.paused():
            background.start()
            time.sleep(0.3)
            assert compactor.runs == 0
        deadline = time.monotonic() + 5
        while compactor.runs == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert compactor.runs > 0
    finally:
        background.stop()

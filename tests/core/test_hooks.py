"""After-ingest hooks: each in its own unit of work; a failing one loses nothing else."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from carematch.core.hooks import IngestEvent, run_after_ingest

CALLS: list[tuple[str, Any]] = []


def good(session: Any, event: IngestEvent) -> dict[str, Any]:
    CALLS.append(("good", event.source))
    session.append("good")
    return {"persons": len(event.record_pks)}


def broken(session: Any, event: IngestEvent) -> dict[str, Any]:
    session.append("broken")
    raise RuntimeError("disk full")


def test_a_failing_hook_is_reported_rolled_back_and_the_next_still_runs() -> None:
    committed: list[list[str]] = []
    rolled_back: list[list[str]] = []

    @contextmanager
    def scope():
        work: list[str] = []
        try:
            yield work
            committed.append(work)
        except BaseException:
            rolled_back.append(work)
            raise

    CALLS.clear()
    hooks = [f"{__name__}:broken", f"{__name__}:good"]
    results = run_after_ingest(IngestEvent("insurance", ("a", "b")), scope, hooks)

    assert results[f"{__name__}:broken"] == {"error": "RuntimeError: disk full"}
    assert results[f"{__name__}:good"] == {"persons": 2}
    assert committed == [["good"]] and rolled_back == [["broken"]]
    assert CALLS == [("good", "insurance")]

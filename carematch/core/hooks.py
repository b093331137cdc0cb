"""What other domains do after new departmental records arrive (the after-ingest hooks).

Some figures must be fresh after every ingest, not after a nightly batch: a household's
12-month out-of-pocket (the return-to-poverty watch) and the indicators. The identity domain
must not import those domains, so each declares a hook here by its dotted path, and whoever
finishes an ingest (the ``ingest`` and ``load`` commands, the upload endpoint) calls
:func:`run_after_ingest` once the records are committed and linked.

A hook is ``hook(session, event) -> dict`` (a small JSON summary). Each runs in its own unit of
work, so one failing hook neither undoes the ingest nor stops the others; its error is reported
in the result and the hook can be rerun (hooks must be idempotent: rerunning one on the same
records gives the same state).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.orm import Session

log = structlog.get_logger(__name__)

AFTER_INGEST: tuple[str, ...] = (
    "carematch.relief.service:after_ingest",
    "carematch.indicators.service:after_ingest",
)
"""Dotted ``module:function`` paths of the after-ingest hooks, run in this order."""


@dataclass(frozen=True)
class IngestEvent:
    """New or changed records of one source, committed (and linked where linking ran)."""

    source: str
    record_pks: Sequence[str] = field(default_factory=tuple)
    full_load: bool = False
    """True after a whole city was loaded (every record is new): hooks recompute everything."""


Hook = Callable[[Session, IngestEvent], dict[str, Any]]


def resolve(path: str) -> Hook:
    """The hook function named by ``module:function``."""
    module, _, name = path.partition(":")
    hook: Hook = getattr(importlib.import_module(module), name)
    return hook


def run_after_ingest(
    event: IngestEvent,
    session_scope: Callable[[], Any],
    hooks: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run every after-ingest hook in its own unit of work; return each one's summary.

    Args:
        event: what arrived.
        session_scope: a context-manager factory that commits on success (the caller's, so an
            endpoint and a CLI command both work).
        hooks: dotted paths to run instead of :data:`AFTER_INGEST` (tests).

    Returns:
        ``{hook path: summary}``; a hook that raised gives ``{"error": message}``.
    """
    results: dict[str, Any] = {}
    for path in AFTER_INGEST if hooks is None else hooks:
        try:
            with session_scope() as session:
                results[path] = resolve(path)(session, event)
        except Exception as exc:  # one broken hook must not lose the ingest or the others
            log.error("after_ingest_hook_failed", hook=path, source=event.source, error=str(exc))
            results[path] = {"error": f"{type(exc).__name__}: {exc}"}
    return results

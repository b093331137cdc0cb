"""`carematch export deidentified`: the features view, de-identified, for outside evaluators.

``carematch export deidentified --out FILE.csv [--k 5] [--max-suppressed 0.01]`` reads every
person's features, drops direct identifiers, coarsens dates and generalises the
quasi-identifiers until every combination is shared by at least k persons
(:mod:`carematch.security.deidentify`), writes the CSV and prints a JSON summary
``{"rows", "k_requested", "k_achieved", "generalisation", "suppressed", …}`` on stdout. The
export is recorded in the audit log (counts, levels and the file's SHA-256, never values).
When k cannot be reached it writes nothing, says why on stderr and exits with status 3.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

export_app = typer.Typer(
    help="Exports for analysts and evaluators (去标识化)", no_args_is_help=True
)
_err = Console(stderr=True)
REFUSED = 3


def export_deidentified(
    session: Any,
    out: Path,
    *,
    k: int,
    max_suppressed: float,
    actor: str,
    as_of: date | None = None,
) -> dict[str, Any]:
    """De-identify the features view, write it to ``out`` and audit the export.

    The file appears only once it is complete (written beside it, then renamed), so a refused
    or failed export leaves no partial file behind. The caller commits (the audit entry).
    """
    import pyarrow.csv as pacsv

    from carematch.profiling.service import features_for
    from carematch.security import audit
    from carematch.security.deidentify import deidentify, flatten_lists

    features = features_for(session, as_of=as_of)
    released = deidentify(features, k, max_suppressed=max_suppressed)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".deid-", suffix=".csv", dir=out.parent)
    os.close(fd)
    try:
        pacsv.write_csv(flatten_lists(released.table), partial)
        digest = hashlib.sha256(Path(partial).read_bytes()).hexdigest()
        os.replace(partial, out)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    summary = released.summary() | {"sha256": digest}
    detail = {key: value for key, value in summary.items() if key != "coarsened"}
    audit.record(
        session,
        actor=actor,
        action="deidentified_export",
        entity="dataset",
        entity_id="features",
        detail=detail,
    )
    return summary


@export_app.command("deidentified")
def deidentified(
    out: Annotated[Path, typer.Option("--out", help="the CSV to write")],
    k: Annotated[int, typer.Option("--k", min=2, help="smallest group size to release")] = 5,
    max_suppressed: Annotated[
        float,
        typer.Option(
            "--max-suppressed",
            min=0.0,
            max=0.5,
            help="largest share of rows left out as small cells",
        ),
    ] = 0.01,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="feature date YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Write a k-anonymous, de-identified copy of the features view; print a JSON summary."""
    from carematch.core.db import session_scope
    from carematch.core.migrate import upgrade
    from carematch.security.deidentify import KAnonymityNotReached

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _err.print(f"[red]error:[/red] --as-of {escape(as_of or '')!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None
    upgrade()
    try:
        with session_scope() as session:
            summary = export_deidentified(
                session, out, k=k, max_suppressed=max_suppressed, actor="cli", as_of=day
            )
    except KAnonymityNotReached as refused:
        _err.print(
            f"[red]refused:[/red] {escape(refused.detail)}; nothing was written",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(REFUSED) from None
    typer.echo(json.dumps(summary, ensure_ascii=False))

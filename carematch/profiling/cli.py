"""`carematch profile …`: features, demand tags and demands for every person."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer
from rich.console import Console

profile_app = typer.Typer(help="Profiles and demands (画像与需求)", no_args_is_help=True)
_err = Console(stderr=True)


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _err.print(f"[red]error:[/red] --as-of {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


@profile_app.command("build")
def build(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="evaluation date YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Compute every person's features and tags; open, keep or close their demands.

    Prints a JSON summary; rerunning on the same data opens and closes nothing.
    """
    from carematch.core.db import session_scope
    from carematch.core.migrate import upgrade
    from carematch.profiling.service import build_profiles

    day = _as_of(as_of)
    upgrade()
    with session_scope() as session, _err.status("profiling …") as status:
        summary = build_profiles(
            session, day, progress=lambda step: status.update(f"profiling: {step} …")
        )
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))

"""`carematch policy proposals` and `carematch policy sandbox` (registered on ``policy_app``).

``proposals`` prints one JSON line per proposal, best first:
``{"rank", "community", "tag", "label", "label_en", "demand_type", "services", "persons",
"gap", "policies"}``. ``sandbox`` prints the report of a draft policy against a pilot area
(JSON by default, or ``--format markdown|csv``). Both read the database of
``CAREMATCH_DATA_DIR`` and run with the operator's full view (no jurisdiction); a bad
argument stops with a message on stderr and exit status 2.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape

_err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)
    return typer.Exit(2)


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"--as-of {value!r} is not a date (YYYY-MM-DD)") from None


def proposals_command(
    region: Annotated[
        str | None, typer.Option("--region", help="region code (default: the whole city)")
    ] = None,
    min_count: Annotated[
        int, typer.Option("--min-count", min=1, help="leave out gaps with fewer persons")
    ] = 1,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="evaluation day YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Needs no eligible policy covers, per community and demand tag: one JSON line each."""
    from carematch.core.db import session_scope
    from carematch.core.migrate import upgrade
    from carematch.policy.proposals import proposals

    day = _day(as_of)
    if region is not None and (not region.strip().isdigit() or len(region.strip()) > 12):
        raise _fail(f"--region {region!r} is not a region code")
    upgrade()
    with session_scope() as session, _err.status("computing proposals …"):
        found = proposals(session, region=region, min_count=min_count, as_of=day)
    for item in found:
        typer.echo(json.dumps(item.as_dict(), ensure_ascii=False))
    _err.print(f"{len(found)} proposal(s)", highlight=False)


def sandbox_command(
    draft: Annotated[Path, typer.Option("--draft", help="draft policy, YAML or JSON")],
    region: Annotated[str, typer.Option("--region", help="pilot community or district code")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="evaluation day YYYY-MM-DD (default today)")
    ] = None,
    output: Annotated[
        Literal["json", "markdown", "csv"],
        typer.Option("--format", help="json (default), markdown or csv"),
    ] = "json",
) -> None:
    """Run a draft policy against a pilot area and compare it with the policies in force."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.core.migrate import upgrade
    from carematch.policy import sandbox
    from carematch.policy.sandbox_service import parse_draft, run_sandbox
    from carematch.security.authz import Principal

    day = _day(as_of)
    try:
        text = draft.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise _fail(f"cannot read the draft {draft}: {reason}") from None
    operator = Principal("cli", "cli", "admin", None)
    upgrade()
    try:
        with session_scope() as session:
            report = run_sandbox(session, operator, parse_draft(text), region, as_of=day)
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    if output == "markdown":
        typer.echo(sandbox.to_markdown(report), nl=False)
    elif output == "csv":
        typer.echo(sandbox.to_csv(report), nl=False)
    else:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add the governance commands to ``carematch policy``."""
    app.command("proposals")(proposals_command)
    app.command("sandbox")(sandbox_command)

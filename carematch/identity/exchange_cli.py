"""`carematch exchange …`: export a person as a FHIR bundle, import a bundle from elsewhere.

Data (the summary) goes to stdout as JSON; errors go to stderr with exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from carematch.core.errors import CareMatchError

exchange_app = typer.Typer(
    help="Cross-region exchange in FHIR R4B (跨区域交换)", no_args_is_help=True
)
_err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    # Escaped: details quote user input and problem types, which rich would read as markup.
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _ready() -> None:
    """Bring the database up to date before touching it (as every carematch command does)."""
    from carematch.core.config import get_settings
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade

    configure_logging(get_settings().log_level)
    upgrade()


@exchange_app.command("export")
def export_command(
    person_id: Annotated[str, typer.Argument(help="the person's id")],
    to: Annotated[str, typer.Option("--to", help="destination region code (consent needed)")],
    out: Annotated[Path, typer.Option("--out", help="where to write the bundle (JSON)")],
    origin_region: Annotated[
        str | None,
        typer.Option("--from", help="this node's region code (default: the person's district)"),
    ] = None,
) -> None:
    """Write a person's record as a FHIR R4B Bundle for another region."""
    from carematch.core.db import session_scope
    from carematch.identity.exchange_service import export_person

    _ready()
    try:
        with session_scope() as session:
            bundle = export_person(
                session, person_id, to_region=to, origin_region=origin_region, actor="cli"
            )
            # Write inside the unit of work: if the file cannot be written, the audit entry
            # for an export that never left is rolled back with it.
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(bundle, ensure_ascii=False, indent=1), encoding="utf-8")
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    except OSError as exc:
        raise _fail(f"cannot write {out}: {exc.strerror or exc}") from None
    summary = {
        "person_id": person_id,
        "to": to,
        "bundle_id": bundle["id"],
        "resources": len(bundle["entry"]),
        "out": str(out),
    }
    typer.echo(json.dumps(summary, ensure_ascii=False))


@exchange_app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="a FHIR R4B Bundle (JSON) from another region")],
    region: Annotated[
        str | None,
        typer.Option(help="this node's region code: the bundle's consent must cover it"),
    ] = None,
) -> None:
    """Import a bundle: refused without a valid consent; a second import adds nothing."""
    from carematch.core.db import session_scope
    from carematch.identity.exchange_service import import_bundle

    if not path.is_file():
        raise _fail(f"no such file: {path}")
    _ready()
    try:
        with session_scope() as session:
            summary = import_bundle(session, path.read_bytes(), actor="cli", region=region)
    except CareMatchError as exc:
        raise _fail(f"{exc.detail} [{exc.type}]") from None
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))

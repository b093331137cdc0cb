"""`carematch providers …`: the provider registry and service map.

Data goes to stdout (JSON); rejected rows and errors go to stderr.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

providers_app = typer.Typer(help="Providers and the service map (服务地图)", no_args_is_help=True)
err = Console(stderr=True)


def _ready() -> None:
    """Bring the database up to date before the command touches it."""
    from carematch.core.config import get_settings
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade

    configure_logging(get_settings().log_level)
    upgrade()


@providers_app.command("import")
def import_command(
    path: Annotated[
        Path, typer.Argument(help="providers CSV, or a directory with the generator's files")
    ],
    services: Annotated[
        Path | None, typer.Option(help="provider services CSV (one row per service)")
    ] = None,
    stops: Annotated[Path | None, typer.Option(help="van stops CSV (one row per stop)")] = None,
) -> None:
    """Validate and import providers; prints {"rows","accepted","quarantined","new",…}.

    Rejected rows are kept in quarantine with their reasons (also listed on stderr);
    importing the same files again changes nothing.
    """
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.providers.service import import_providers

    _ready()
    try:
        with session_scope() as session:
            summary = import_providers(session, path, services=services, stops=stops)
    except CareMatchError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    for row in summary.rejected:
        reasons = "; ".join(r["message"] for r in row["reasons"])
        err.print(f"rejected {row['file']} line {row['line']}: {reasons}", markup=False)
    out = summary.as_dict()
    out.pop("rejected")
    typer.echo(json.dumps(out, ensure_ascii=False))


@providers_app.command("nearest")
def nearest_command(
    service: Annotated[str, typer.Option(help="service code, e.g. vaccination_child")],
    lat: Annotated[float, typer.Option(min=-90, max=90, help="latitude (WGS 84)")],
    lon: Annotated[float, typer.Option(min=-180, max=180, help="longitude (WGS 84)")],
    at: Annotated[
        datetime | None, typer.Option(help="time asked about (city time); default now")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    open_only: Annotated[bool, typer.Option(help="only providers open at --at")] = False,
) -> None:
    """The nearest providers offering a service, one JSON line each, nearest first."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.providers.schemas import NearbyPublic
    from carematch.providers.service import nearest

    _ready()
    try:
        with session_scope() as session:
            found = nearest(session, service, lat, lon, at, limit=limit, open_only=open_only)
    except CareMatchError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    for item in found:
        typer.echo(NearbyPublic.of(item).model_dump_json())

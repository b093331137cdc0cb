"""`carematch indicators …`: refresh the indicators, list values against targets, warnings.

- ``carematch indicators refresh [--period YYYY-MM] [--months N] [--no-notify]`` computes every
  indicator for the month (default the current one; ``--months N`` also the N-1 months before
  it, oldest first, so a new installation gets a series at once) and prints one JSON summary
  per month.
- ``carematch indicators list [--region CODE] [--disaggregation total|hukou|age_group|policy]
  [--indicator ID] [--period YYYY-MM] [--subregions]`` prints one JSON line per point.
- ``carematch indicators warnings [--status open|rectifying|dismissed] [--region CODE]`` prints
  one JSON line per warning, newest first.
- ``carematch indicators check FILE`` checks an indicators file and prints its ids.

Data on stdout, messages on stderr; bad input exits with status 2 and a one-line reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

indicators_app = typer.Typer(
    help="Indicators (指标): targets, series, anomaly warnings", no_args_is_help=True
)
_err = Console(stderr=True)
CLI_ACTOR = "cli"


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)
    return typer.Exit(2)


def _ready() -> None:
    from carematch.core.config import get_settings
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade

    configure_logging(get_settings().log_level)
    upgrade()


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str))


def _principal(region: str | None) -> Any:
    from carematch.security.authz import Principal

    # The operator at the console acts for the whole installation, or for one region.
    return Principal(CLI_ACTOR, CLI_ACTOR, "admin" if region is None else "official", region)


Month = Annotated[str | None, typer.Option("--period", help="a month, YYYY-MM (default: now)")]
RegionOpt = Annotated[str | None, typer.Option(help="a region code (default: the city)")]


@indicators_app.command("refresh")
def refresh_command(
    period: Month = None,
    months: Annotated[int, typer.Option(min=1, max=120, help="this many months to the period")] = 1,
    notify: Annotated[bool, typer.Option(help="send warnings to officials")] = True,
) -> None:
    """Recompute every indicator for a month (replacing that month's values); raise warnings."""
    from carematch.core.clock import city_today
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.indicators.compute import Period
    from carematch.indicators.service import refresh

    try:
        last = Period.month(period) if period else Period.containing(city_today())
    except ValueError as exc:
        raise _fail(str(exc)) from None
    wanted = [last]
    while len(wanted) < months:
        wanted.insert(0, wanted[0].previous())
    _ready()
    for month in wanted:
        try:
            with session_scope() as session, _err.status(f"indicators {month.label} …") as status:

                def progress(step: str, label: str = month.label) -> None:
                    status.update(f"{label}: {step} …")

                summary = refresh(session, month, notify=notify, progress=progress)
        except CareMatchError as exc:
            raise _fail(exc.detail) from None
        _echo(summary.as_dict())


@indicators_app.command("list")
def list_command(
    region: RegionOpt = None,
    disaggregation: Annotated[str, typer.Option(help="total, hukou, age_group, policy")] = "total",
    indicator: Annotated[str | None, typer.Option(help="one indicator id")] = None,
    period: Month = None,
    subregions: Annotated[bool, typer.Option(help="every region inside too")] = False,
) -> None:
    """One JSON line per value of the latest (or given) month, against its target."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.indicators.service import latest_values

    _ready()
    try:
        with session_scope() as session:
            found, rows = latest_values(
                session,
                _principal(region),
                region=region,
                disaggregation=disaggregation,
                indicator_id=indicator,
                period=period,
                subregions=subregions,
                limit=100_000,
            )
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    for row in rows:
        _echo(row)
    _err.print(f"{len(rows)} value(s) for {found or 'no period yet'}")


@indicators_app.command("warnings")
def warnings_command(
    status: Annotated[str | None, typer.Option(help="open, rectifying or dismissed")] = None,
    region: RegionOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """One JSON line per abnormal-drop warning, newest first."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.indicators.service import list_warnings

    _ready()
    try:
        with session_scope() as session:
            rows = list_warnings(session, _principal(region), status=status, limit=limit)
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    for row in rows:
        _echo(row)
    _err.print(f"{len(rows)} warning(s)")


@indicators_app.command("check")
def check_command(path: Annotated[Path, typer.Argument(help="an indicators YAML file")]) -> None:
    """Check an indicators file; print each indicator id, or every problem found."""
    from carematch.indicators.definitions import DefinitionError, load_definitions

    if not path.is_file():
        raise _fail(f"{path}: no such file")
    try:
        library = load_definitions(path)
    except DefinitionError as exc:
        for problem in exc.problems:
            _err.print(escape(problem), highlight=False, soft_wrap=True, emoji=False)
        raise _fail(f"{len(exc.problems)} problem(s) in {path}") from None
    for indicator in library.values():
        _echo({"id": indicator.id, "dimension": indicator.dimension, "target": indicator.target})

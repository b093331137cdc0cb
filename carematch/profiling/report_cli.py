"""`carematch report …`: periodic reports, starting with the demand white paper (需求白皮书)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from carematch.profiling.report import Period

report_app = typer.Typer(help="Reports (报告)", no_args_is_help=True)
_err = Console(stderr=True)


def _period(value: str) -> Period:
    from carematch.profiling.report import PeriodError, parse_period

    try:
        return parse_period(value)
    except PeriodError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--period'") from None


@report_app.command("demand")
def demand(
    period: Annotated[
        str,
        typer.Option(
            "--period",
            help="YYYY-MM (month), YYYY-Qn (quarter) or YYYY (year)",
            show_default=False,
        ),
    ],
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="region code (city, district, street or community); default: every region",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="output folder; default $CAREMATCH_DATA_DIR/reports/demand-<period>[-<region>]",
        ),
    ] = None,
    inline_script: Annotated[
        bool,
        typer.Option(
            "--inline-script",
            help="inline ECharts into every page (each page then stands alone, ~1 MB) instead "
            "of writing it once beside them",
        ),
    ] = False,
) -> None:
    """The demand white paper: index.html plus one HTML page per district and community.

    Each page: residents profiled, main health problems, groups with unmet needs, service
    gaps (open demand against capacity in the period) and priority areas, with charts and a
    table beside each. Prints a JSON summary on stdout; progress goes to stderr.
    """
    from carematch.core.config import get_settings
    from carematch.core.db import session_scope
    from carematch.core.migrate import upgrade
    from carematch.profiling.report import UnknownRegion, write_demand_report

    chosen = _period(period)
    folder = out
    if folder is None:
        name = f"demand-{chosen.label}" + (f"-{region}" if region else "")
        folder = get_settings().data_dir / "reports" / name
    upgrade()
    try:
        with session_scope() as session, _err.status("white paper …") as status:
            summary = write_demand_report(
                session,
                chosen,
                folder,
                within=region,
                progress=lambda step: status.update(f"white paper: {step} …"),
                shared_script=not inline_script,
            )
    except UnknownRegion as exc:
        _err.print(f"[red]error:[/red] --region: {exc}")
        raise typer.Exit(2) from None
    _err.print(f"wrote {len(summary.files)} files to {summary.out}")
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))

"""`carematch forecast` (the weekly-series contract) and `carematch forecasting …` (the app).

``carematch forecast --series S.csv --horizon H --out F.csv`` reads ``series_id,week,value``
and writes ``series_id,week,forecast,lo80,hi80`` for the H weeks after each series' last week;
a one-line JSON summary goes to stdout, progress to stderr. A file with any bad row is refused
as a whole, every problem listed with its line, exit status 2 (see
:mod:`carematch.forecasting.series`).

``carematch forecasting hotspots [--horizon 13] [--top 20] [--region CODE]`` forecasts the
weekly new demands of every district × service in the database and prints the largest expected
rises, one JSON line each.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.markup import escape

forecasting_app = typer.Typer(help="Demand forecasting (需求预测)", no_args_is_help=True)
_err = Console(stderr=True)
PROGRESS_FROM = 10  # series; fewer finish before a bar would be worth drawing
MAX_HORIZON = 260


def _fail(message: str, code: int = 2) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)
    return typer.Exit(code)


def forecast_command(
    series: Annotated[
        Path, typer.Option("--series", help="CSV with series_id,week,value (week = the Monday)")
    ],
    horizon: Annotated[
        int, typer.Option("--horizon", min=1, max=MAX_HORIZON, help="weeks to forecast")
    ],
    out: Annotated[Path, typer.Option("--out", help="CSV series_id,week,forecast,lo80,hi80")],
    fill_gaps: Annotated[
        str,
        typer.Option(
            "--fill-gaps", help="a series with missing weeks: refuse (default), zero, interpolate"
        ),
    ] = "refuse",
    method: Annotated[
        str, typer.Option("--method", help="auto (default), profile_ets, arimax, snaive")
    ] = "auto",
) -> None:
    """Forecast weekly series H weeks ahead with an 80 % interval (Chinese holidays included)."""
    from carematch.forecasting.forecast import METHODS, forecast_series
    from carematch.forecasting.series import (
        GAP_POLICIES,
        SeriesFileError,
        read_series,
        write_forecasts,
    )

    if fill_gaps not in GAP_POLICIES:
        raise _fail(f"--fill-gaps takes one of {', '.join(GAP_POLICIES)}, not {fill_gaps!r}")
    if method not in METHODS:
        raise _fail(f"--method takes one of {', '.join(METHODS)}, not {method!r}")
    if not series.is_file():
        raise _fail(f"no such series file: {series}")
    try:
        found = read_series(series, fill_gaps)
    except SeriesFileError as exc:
        raise _fail(f"{series} cannot be forecast:\n{exc}") from None
    except OSError as exc:
        raise _fail(f"cannot read {series}: {exc}") from None

    results = []
    methods: Counter[str] = Counter()
    with _progress(len(found)) as advance:
        for item in found:
            try:
                result = forecast_series(item.weeks, item.values, horizon, method)
            except ValueError as exc:
                raise _fail(f"series {item.series_id!r}: {exc}") from None
            methods[result.method] += 1
            results.append((item.series_id, result))
            advance()
    try:
        rows = _write_atomically(out, lambda handle: write_forecasts(handle, results))
    except OSError as exc:
        raise _fail(f"cannot write {out}: {exc}") from None
    summary = {
        "series": len(found),
        "rows": rows,
        "horizon": horizon,
        "filled_weeks": sum(item.filled for item in found),
        "methods": dict(sorted(methods.items())),
        "out": str(out),
    }
    typer.echo(json.dumps(summary, ensure_ascii=False))


@contextmanager
def _progress(total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr for many series; nothing for a few."""
    if total < PROGRESS_FROM:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("[bold]forecast"), BarColumn(), MofNCompleteColumn(), console=_err
    ) as bar:
        task = bar.add_task("forecast", total=total)
        yield lambda: bar.advance(task)


def _write_atomically(out: Path, write: Callable[[IO[str]], int]) -> int:
    """Write through a temporary file beside ``out`` so a failure leaves no half file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            rows = write(handle)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows


@forecasting_app.command("hotspots")
def hotspots_command(
    horizon: Annotated[int, typer.Option("--horizon", min=1, max=26, help="weeks ahead")] = 13,
    top: Annotated[int, typer.Option("--top", min=1, help="how many hot spots")] = 20,
    rank: Annotated[str, typer.Option("--rank", help="absolute (default) or relative")] = (
        "absolute"
    ),
    region: Annotated[
        str | None, typer.Option("--region", help="only this region and below (default: all)")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="count up to this day's week (YYYY-MM-DD)")
    ] = None,
) -> None:
    """District × service with the largest expected rise in weekly demand (JSON lines)."""
    from datetime import date

    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.forecasting.service import hotspots
    from carematch.security.authz import Principal

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise _fail(f"--as-of takes a date YYYY-MM-DD, not {as_of!r}") from None
    _ready()
    # The command line runs with the operator's rights over the whole database, narrowed to
    # --region when given (as an official bound to that region would see it).
    who = Principal("cli", "cli", "admin" if region is None else "official", region)
    try:
        with session_scope() as session, _err.status("forecasting every district × service …"):
            found = hotspots(session, who, horizon=horizon, rank=rank, as_of=day)
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    for spot in found[:top]:
        line = {"id": spot.id, **asdict(spot)}
        typer.echo(json.dumps(line, ensure_ascii=False, default=str))


def _ready() -> None:
    from carematch.core.config import get_settings
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade

    configure_logging(get_settings().log_level)
    upgrade()

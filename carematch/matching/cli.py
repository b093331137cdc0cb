"""`carematch match …`: allocation of demands to providers under capacity; the CF model's training.

Data (a JSON summary) goes to stdout; errors go to stderr with exit status 2.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from carematch.matching.errors import AllocationFailed, AllocationInputRejected

if TYPE_CHECKING:
    import pandas as pd

match_app = typer.Typer(help="Matching (供需对接)", no_args_is_help=True)
_err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    # Escaped: messages quote ids and values from the files, which rich would read as markup.
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _read_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV as text, with every required column present and at least one row."""
    import pandas as pd

    if not path.is_file():
        raise AllocationInputRejected(f"no such file: {path}")
    try:
        # Text only: ids keep their leading zeros, and "NA" is an id, not a missing value.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise AllocationInputRejected(
            f"{path.name} is empty: expected a header {','.join(columns)}"
        ) from None
    except pd.errors.ParserError as exc:
        raise AllocationInputRejected(f"{path.name} is not a readable CSV: {exc}") from None
    except UnicodeDecodeError:
        raise AllocationInputRejected(f"{path.name} is not UTF-8 text") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AllocationInputRejected(
            f"{path.name} lacks column(s) {', '.join(missing)}; "
            f"expected {','.join(columns)} (found {','.join(frame.columns)})"
        )
    if frame.empty:
        raise AllocationInputRejected(f"{path.name} has a header but no rows")
    # A short row leaves NaN even in a text read; it is an empty value like any other.
    return frame.fillna("")


@match_app.command("allocate")
def allocate_command(
    demands: Annotated[Path, typer.Option("--demands", help="CSV: demand_id,service,lat,lon")],
    providers: Annotated[
        Path,
        typer.Option(
            "--providers",
            help="CSV: provider_id,service,lat,lon,capacity,wait_days (one row per service)",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="CSV written: demand_id,provider_id,distance_km")
    ],
    max_km: Annotated[
        float, typer.Option("--max-km", help="farthest a demand may be sent, great-circle km")
    ] = 10.0,
    wait_weight: Annotated[
        float, typer.Option("--wait-weight", help="km of distance one day of waiting is worth")
    ] = 0.5,
) -> None:
    """Assign demands to providers: most demands served, then least distance + weighted wait.

    The result is an optimum (min-cost flow) and never exceeds a provider's capacity.

    --out lists every demand in input order; unassigned ones have empty provider and distance.
    """
    import pandas as pd

    from carematch.matching.allocate import (
        DEMAND_COLUMNS,
        PROVIDER_COLUMNS,
        Demands,
        Providers,
        allocate,
    )

    started = time.perf_counter()
    try:
        d = _read_table(demands, DEMAND_COLUMNS)
        p = _read_table(providers, PROVIDER_COLUMNS)
        # Line 1 is the header, so data row i sits on line i + 2.
        table = Demands.from_columns(
            *(d[c].tolist() for c in DEMAND_COLUMNS), source=demands.name, first_line=2
        )
        offer = Providers.from_columns(
            *(p[c].tolist() for c in PROVIDER_COLUMNS), source=providers.name, first_line=2
        )
        result = allocate(table, offer, max_km=max_km, wait_weight=wait_weight)
    except AllocationInputRejected as exc:
        raise _fail(exc.detail) from None
    except AllocationFailed as exc:
        raise _fail(exc.detail, code=1) from None

    hit = result.provider_row >= 0
    distance = [f"{km:.6f}" if ok else "" for km, ok in zip(result.distance_km, hit, strict=True)]
    frame = pd.DataFrame(
        {"demand_id": table.ids, "provider_id": result.provider_ids(), "distance_km": distance}
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
    except OSError as exc:
        raise _fail(f"cannot write {out}: {exc.strerror or exc}") from None
    summary = result.summary()
    summary.update(
        max_km=max_km,
        wait_weight=wait_weight,
        out=str(out),
        seconds=round(time.perf_counter() - started, 3),
    )
    typer.echo(json.dumps(summary, ensure_ascii=False))


@match_app.command("cf-train")
def cf_train_command(
    factors: Annotated[
        int | None,
        typer.Option("--factors", min=1, help="latent factors (default: tuned)"),
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option("--alpha", help="weight of the visit evidence, > 0 (default: tuned)"),
    ] = None,
    iterations: Annotated[
        int | None, typer.Option("--iterations", min=1, help="ALS sweeps (default 15)")
    ] = None,
) -> None:
    """Train collaborative filtering on every service record and rating; make it current.

    Reports hit-rate@5 on each person's last visit against per-service popularity when some
    person has two visits. Any of --factors, --alpha, --iterations fixes the parameters (the
    others at the engine's defaults); without them factors and α are tuned on a validation
    split. The same records give the same model (the fit is seeded). Meant to run nightly;
    the app picks the new model up at its next request. No records: says so, writes nothing.
    """
    from dataclasses import replace

    from carematch.core.config import get_settings
    from carematch.core.db import session_scope
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade
    from carematch.matching import cf_store
    from carematch.matching.cf import ALSParams
    from carematch.matching.errors import ServiceUseRejected

    params = None
    try:
        if factors is not None or alpha is not None or iterations is not None:
            defaults = ALSParams()
            # ALSParams checks the values (an α ≤ 0 is refused there, with the reason).
            params = replace(
                defaults,
                factors=defaults.factors if factors is None else factors,
                alpha=defaults.alpha if alpha is None else alpha,
                iterations=defaults.iterations if iterations is None else iterations,
            )
        configure_logging(get_settings().log_level)
        upgrade()  # like every command that reads the database: bring it up to date first
        with session_scope() as session:
            summary = cf_store.train(session, params=params)
    except ServiceUseRejected as exc:
        raise _fail(exc.detail) from None
    except OSError as exc:
        raise _fail(f"cannot write the model: {exc.strerror or exc}") from None
    if summary is None:
        typer.echo(
            json.dumps(
                {
                    "visits": 0,
                    "model": None,
                    "message": "no service records yet: nothing to train, no model written",
                }
            )
        )
        return
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))

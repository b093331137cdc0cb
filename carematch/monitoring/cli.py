"""`carematch monitoring …`: alert rules over readings, imports, the risk model.

``carematch monitoring alerts --readings R.csv --out A.csv`` is the contract of design.md:
``R.csv`` has ``person_id,measured_at,sbp,dbp``; ``A.csv`` gets ``person_id,rule,alert_date``,
one row per alert episode, sorted by person and date. It needs no database. Like the other
batch commands (``vaccination forecast``, ``policy eligible``), a row that is not a reading is
reported on stderr (its data-row number and reason; the first 20, then a count) and skipped,
every good row still counts, and the exit status is 1 at the end when any row was skipped, 0
otherwise. A file that cannot be read, or lacks one of the four columns, stops with exit
status 2 before any output. See docs/monitoring.md.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    import pyarrow as pa

monitoring_app = typer.Typer(
    help="Chronic monitoring (慢病监测): readings, alerts, risk", no_args_is_help=True
)
_err = Console(stderr=True)
SHOWN_REJECTS = 20


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)
    return typer.Exit(2)


def _report(message: str) -> None:
    sys.stderr.write(message + "\n")


def read_readings_csv(path: Path) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Read a readings CSV as strings; returns the table and the malformed lines.

    A line with the wrong number of fields is left out of the table and returned as
    ``(line number, text)`` for the caller to report (or keep, on import).

    Raises:
        ValueError: the file cannot be read or lacks a column of the contract.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from carematch.monitoring.alerts import READING_COLUMNS

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    malformed: list[tuple[int, str]] = []

    def skip(row: Any) -> str:
        malformed.append((int(row.number or 0), str(row.text or "")))
        return "skip"

    try:
        with path.open("rb") as handle:
            head = handle.readline().decode("utf-8-sig").strip()
        names = [name.strip() for name in next(csv.reader([head]))] if head else []
        missing = [name for name in READING_COLUMNS if name not in names]
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {', '.join(missing)}; "
                f"the header must name {','.join(READING_COLUMNS)}"
            )
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                include_columns=list(READING_COLUMNS),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"{path}: not a readable UTF-8 CSV file ({exc})") from exc
    return table, malformed


def _report_rejects(rejected: pa.Table, malformed: list[tuple[int, str]]) -> int:
    rows = rejected.column("row").to_pylist()
    reasons = rejected.column("reason").to_pylist()
    for row, reason in list(zip(rows, reasons, strict=True))[:SHOWN_REJECTS]:
        _report(f"row {row}: {reason}; skipped")
    if len(rows) > SHOWN_REJECTS:
        _report(f"… and {len(rows) - SHOWN_REJECTS} more rows skipped")
    if malformed:
        _report(f"{len(malformed)} line(s) with the wrong number of fields skipped")
    return len(rows) + len(malformed)


@monitoring_app.command("alerts")
def alerts_command(
    readings: Annotated[
        Path, typer.Option("--readings", help="CSV: person_id,measured_at,sbp,dbp")
    ],
    out: Annotated[Path, typer.Option("--out", help="CSV to write: person_id,rule,alert_date")],
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="alert rule YAML (default: the shipped rule set)"),
    ] = None,
) -> None:
    """Alert episodes in a readings file (the default rule: BP high three days running)."""
    from carematch.monitoring.alerts import (
        AlertRuleError,
        alert_rows,
        check_readings,
        find_alerts,
        load_alert_rules,
    )

    try:
        rule_set = load_alert_rules(rules)
    except (AlertRuleError, OSError) as exc:
        raise _fail(str(exc)) from None
    try:
        raw, malformed = read_readings_csv(readings)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    checked = check_readings(raw)
    skipped = _report_rejects(checked.rejected, malformed)
    found = find_alerts(checked.readings, rule_set)
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["person_id", "rule", "alert_date"])
            for person_id, rule, day in alert_rows(found):
                writer.writerow([person_id, rule, day.isoformat()])
    except OSError as exc:
        raise _fail(f"{out}: cannot write ({exc})") from None
    _report(
        json.dumps(
            {
                "readings": checked.readings.num_rows,
                "skipped": skipped,
                "alerts": found.num_rows,
            }
        )
    )
    if skipped:
        raise typer.Exit(1)


@monitoring_app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="CSV: person_id,measured_at,sbp,dbp")],
) -> None:
    """Import readings into the database; alerts and follow-up tasks follow.

    Prints {"batch","rows","accepted","duplicates","rejected","alerts","tasks"} on stdout.
    Rejected rows are kept with their reasons (``carematch monitoring rejects BATCH``).
    Importing the same file again stores nothing twice and alerts nobody twice.
    """
    from carematch.core.config import get_settings
    from carematch.core.db import session_scope
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade
    from carematch.monitoring import service

    try:
        raw, malformed = read_readings_csv(path)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    configure_logging(get_settings().log_level)
    upgrade()
    with session_scope() as session:
        summary = service.import_readings(session, raw, actor="cli", malformed=malformed)
    typer.echo(json.dumps(summary.as_dict()))


@monitoring_app.command("rejects")
def rejects_command(
    batch: Annotated[str, typer.Argument(help="the batch id import printed")],
) -> None:
    """The rows of an import that were not taken: one JSON line each, with its reason."""
    from carematch.core.db import session_scope
    from carematch.core.migrate import upgrade
    from carematch.monitoring import service

    upgrade()
    with session_scope() as session:
        for row in service.rejects_of(session, batch):
            typer.echo(json.dumps(row, ensure_ascii=False))


@monitoring_app.command("risk-train")
def risk_train_command(
    city: Annotated[Path, typer.Option("--city", help="a `carematch generate` folder")],
    combination: Annotated[
        list[str] | None,
        typer.Option("--combination", help="e.g. hypertension+diabetes; repeat; default: all"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="the held-out split's seed")] = 0,
) -> None:
    """Train the high-risk models on a synthetic city; print held-out AUC and calibration.

    One JSON line per combination: train/test sizes, AUC, Brier score (and a constant
    predictor's), calibration error, reliability bins, and the AUC on demographics alone.
    Each model is kept in the data directory for `risk-top` and the API.
    """
    from carematch.monitoring import service
    from carematch.monitoring.errors import UnknownCombination
    from carematch.monitoring.risk import COMBINATIONS

    for name in combination or list(COMBINATIONS):
        try:
            report = service.train_risk(city, name, seed=seed)
        except (UnknownCombination, FileNotFoundError, ValueError) as exc:
            raise _fail(getattr(exc, "detail", None) or str(exc)) from None
        typer.echo(json.dumps(report.as_dict()))


@monitoring_app.command("risk-top")
def risk_top_command(
    combination: Annotated[
        str, typer.Option("--combination", help="e.g. hypertension+diabetes")
    ] = "hypertension+diabetes",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 20,
    region: Annotated[str | None, typer.Option("--region", help="a region code")] = None,
    include_known: Annotated[
        bool, typer.Option("--include-known", help="keep persons already recorded with it")
    ] = False,
) -> None:
    """The persons most likely to have the combination: one JSON line each, highest first,
    with the features that raise their risk most."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.core.migrate import upgrade
    from carematch.monitoring import service

    upgrade()
    try:
        with session_scope() as session:
            entries = service.top_risk(
                session, None, combination, limit=limit, region=region, include_known=include_known
            )
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    for e in entries:
        typer.echo(
            json.dumps(
                {
                    "person_id": e.person_id,
                    "community_code": e.community_code,
                    "risk": round(e.risk, 4),
                    "contributions": [
                        {"feature": c.feature, "value": c.value, "contribution": c.contribution}
                        for c in e.contributions
                    ],
                },
                ensure_ascii=False,
            )
        )


@monitoring_app.command("tb")
def tb_command(
    start: Annotated[datetime, typer.Option("--start", formats=["%Y-%m-%d"])],
    end: Annotated[datetime, typer.Option("--end", formats=["%Y-%m-%d"])],
    region: Annotated[str | None, typer.Option("--region", help="a region code")] = None,
) -> None:
    """TB case management: cases, managed and completed, and the rates, migrants vs locals."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.core.migrate import upgrade
    from carematch.monitoring import service

    upgrade()
    try:
        with session_scope() as session:
            rates = service.tb_case_management(
                session, None, start=start.date(), end=end.date(), region=region
            )
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    for r in rates.values():
        typer.echo(
            json.dumps(
                {
                    "group": r.group,
                    "cases": r.cases,
                    "managed": r.managed,
                    "completed": r.completed,
                    "managed_rate": r.managed_rate,
                    "completed_rate": r.completed_rate,
                }
            )
        )

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

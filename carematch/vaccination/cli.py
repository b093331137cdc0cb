"""`carematch vaccination …`: schedule forecasting and certificates.

``carematch vaccination forecast --schedule PATH --cases IN.jsonl`` writes one JSON line per
case on stdout (the contract in :mod:`carematch.vaccination.schemas`). A line that is not a case
is reported on stderr with its line number and skipped; every good line is still answered, and
the exit status is 1 at the end when any line was skipped (so a script notices), 0 otherwise.
A schedule that cannot be used, or a missing cases file, stops with exit status 2 before any
output.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from carematch.vaccination.schedule import Schedule

vaccination_app = typer.Typer(help="Vaccination (预防接种)", no_args_is_help=True)
_err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    # Escaped, no emoji codes: messages quote file contents, which rich would otherwise rewrite.
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)
    return typer.Exit(2)


def _report(message: str) -> None:
    """One plain line on stderr (a skipped input line, the closing tally)."""
    sys.stderr.write(message + "\n")


@contextmanager
def _open_cases(path: Path) -> Iterator[IO[bytes]]:
    if str(path) == "-":
        yield sys.stdin.buffer
        return
    with path.open("rb") as handle:
        yield handle


@vaccination_app.command("forecast")
def forecast_command(
    schedule: Annotated[Path, typer.Option("--schedule", help="schedule YAML (nip_schedule.yaml)")],
    cases: Annotated[
        Path,
        typer.Option("--cases", help='JSON lines {"id","dob","as_of","history"}; - for stdin'),
    ],
) -> None:
    """Forecast every case: one line {"id","forecast","invalid"} per input line, in order."""
    from carematch.vaccination.errors import ScheduleError
    from carematch.vaccination.schedule import load_schedule

    try:
        plan = load_schedule(schedule)
    except ScheduleError as exc:
        raise _fail(f"bad schedule file: {exc.detail}") from None
    if str(cases) != "-" and not cases.is_file():
        raise _fail(f"no such cases file: {cases}")

    try:
        with _open_cases(cases) as handle:
            answered, skipped = _answer(handle, plan, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit-time flush from
        # failing again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    except OSError as exc:
        raise _fail(f"cannot read the cases or write the output: {exc}") from None
    if skipped:
        _report(f"{skipped} line(s) skipped, {answered} answered")
        raise typer.Exit(1)


def _answer(handle: IO[bytes], plan: Schedule, out: IO[str]) -> tuple[int, int]:
    """Forecast every line of ``handle`` onto ``out``; return (answered, skipped)."""
    from carematch.vaccination.forecast import forecast
    from carematch.vaccination.schemas import CaseError, forecast_json, read_case

    skipped = answered = 0
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            skipped += 1
            _report(f"line {number}: not UTF-8 text")
            continue
        if not text.strip():
            continue
        try:
            case = read_case(json.loads(text))
            result = forecast(plan, case.dob, case.as_of, case.history)
        except json.JSONDecodeError as exc:
            problem = f"not JSON ({exc.msg} at column {exc.colno})"
        except CaseError as exc:
            problem = str(exc)
        except (OverflowError, ValueError) as exc:
            # Dates near year 9999 push due dates past the calendar's end.
            problem = f"dates out of range ({exc})"
        else:
            out.write(json.dumps(forecast_json(case.id, result), ensure_ascii=False) + "\n")
            answered += 1
            continue
        skipped += 1
        _report(f"line {number}: {problem}")
    return answered, skipped

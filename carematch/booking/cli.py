"""`carematch booking …`: slots and bookings, the SLA sweep.

Data goes to stdout (JSON); errors go to stderr.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

booking_app = typer.Typer(help="Slots and bookings (预约)", no_args_is_help=True)
err = Console(stderr=True)


@booking_app.command("slots")
def slots_command(
    days: Annotated[int, typer.Option(min=0, max=366, help="city days to generate")] = 14,
    start: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="first day (default: today)"),
    ] = None,
) -> None:
    """Generate slots from every provider's opening hours, van stops and daily capacity.

    Prints {"from","days","offers","slots","created","existing"}. Running it again adds only
    the slots that are missing; existing slots keep their capacity and bookings.
    """
    from carematch.booking.service import generate_slots
    from carematch.core.config import get_settings
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade

    configure_logging(get_settings().log_level)
    upgrade()
    try:
        with session_scope() as session:
            summary = generate_slots(session, days=days, first_day=start.date() if start else None)
    except CareMatchError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))


@booking_app.command("sla")
def sla_command(
    limit: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="most breaches to record in one run")
    ] = 10_000,
) -> None:
    """Sweep the SLA clocks: start a 24-hour clock for each newly raised demand, void those
    whose demand closed unanswered, record each new breach once and alert the staff.

    Prints {"started","voided","breached","alerts"}. Idempotent: run it every few minutes
    (cron, a systemd timer); a second run at the same moment changes nothing.
    """
    from carematch.booking.clocks import sweep
    from carematch.core.config import get_settings
    from carematch.core.db import session_scope
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade

    configure_logging(get_settings().log_level)
    upgrade()
    with session_scope() as session:
        summary = sweep(session, limit=limit)
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))

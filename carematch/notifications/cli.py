"""`carematch worker`: deliver the notification outbox.

Data (a JSON summary of what was delivered) goes to stdout when the worker ends; logs go to
stderr. Defaults come from ``CAREMATCH_WORKER_*`` (see notifications.worker.WorkerSettings).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

worker_app = typer.Typer(help="Deliver due reminders and notifications (通知发送)")
err = Console(stderr=True)


@worker_app.callback(invoke_without_command=True)
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="deliver what is due now, then exit")
    ] = False,
    batch: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="messages claimed per batch")
    ] = None,
    poll: Annotated[
        float | None, typer.Option(min=0.01, help="seconds to wait when nothing is due")
    ] = None,
    lease: Annotated[
        float | None,
        typer.Option(min=0.1, help="seconds a claim holds before another worker may take it"),
    ] = None,
    max_attempts: Annotated[
        int | None, typer.Option(min=1, help="tries before a message is dead")
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(min=0, help="messages per second at most (a gateway's limit); 0: none"),
    ] = None,
) -> None:
    """Send due messages through their channels (inbox, SMS, WeChat), retrying with back-off.

    Runs until SIGTERM or Ctrl-C (it finishes the message in hand and hands the rest of its
    batch back), or with --once until nothing is due. Prints a JSON summary on exit:
    {"claimed","sent","duplicates","retried","dead","lost","released"}. Several workers may run
    at once, on one database: each message is claimed by one of them.
    """
    from carematch.core.config import get_settings
    from carematch.core.db import session_factory
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade
    from carematch.notifications.channels import default_channels
    from carematch.notifications.outbox import RetryPolicy
    from carematch.notifications.worker import Worker, WorkerSettings, check_lease, stop_on_signals

    settings = WorkerSettings()
    batch = batch or settings.batch
    lease = lease or settings.lease_seconds
    rate = settings.rate if rate is None else rate
    try:
        check_lease(batch, rate, lease)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    configure_logging(get_settings().log_level)
    upgrade()
    sessions = session_factory()
    runner = Worker(
        sessions=sessions,
        channels=default_channels(sessions),
        batch=batch,
        lease_seconds=lease,
        retry=RetryPolicy(
            max_attempts=max_attempts or settings.max_attempts,
            base_seconds=settings.backoff_base_seconds,
            cap_seconds=settings.backoff_cap_seconds,
        ),
        rate=rate,
    )
    stop_on_signals(runner.stop)
    report = runner.drain() if once else runner.run(poll or settings.poll_seconds)
    typer.echo(json.dumps(report.as_dict()))

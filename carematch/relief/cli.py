"""`carematch relief …`: the return-to-poverty watch, its cases and the relief fund.

- ``carematch relief watch [--as-of YYYY-MM-DD]`` recomputes every registered household's
  12-month out-of-pocket and opens a case per new episode (``recompute`` is the same command);
  prints ``{"as_of", "households", "at_risk", "opened", "refreshed", "episodes_closed"}``.
- ``carematch relief cases [--status S] [--region CODE] [--limit N]`` prints one JSON line per
  case, newest first.
- ``carematch relief fund deposit AMOUNT [--note TEXT] [--actor NAME]`` and
  ``carematch relief fund balance`` keep the relief fund.

Data goes to stdout, messages to stderr; bad input exits 2 with the reason.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

relief_app = typer.Typer(
    help="Relief (防止因病返贫): the out-of-pocket watch, cases and the relief fund",
    no_args_is_help=True,
)
fund_app = typer.Typer(help="The relief fund (防返贫救助基金)", no_args_is_help=True)
relief_app.add_typer(fund_app, name="fund")
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


def _watch(as_of: str | None) -> None:
    from carematch.core.db import session_scope
    from carematch.relief.service import recompute

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise _fail(f"--as-of is a date YYYY-MM-DD (got {as_of!r})") from None
    _ready()
    with session_scope() as session, _err.status("recomputing the out-of-pocket watch …"):
        summary = recompute(session, day)
    _echo(summary.as_dict())


AsOf = Annotated[
    str | None, typer.Option("--as-of", help="the city day the 12 months end on (today)")
]


@relief_app.command("watch")
def watch_command(as_of: AsOf = None) -> None:
    """Recompute every household's 12-month out-of-pocket; open cases for new episodes."""
    _watch(as_of)


@relief_app.command("recompute")
def recompute_command(as_of: AsOf = None) -> None:
    """The same as `relief watch`."""
    _watch(as_of)


@relief_app.command("cases")
def cases_command(
    status: Annotated[str | None, typer.Option(help="triggered, verified, approved, …")] = None,
    region: Annotated[str | None, typer.Option(help="a region code; everywhere by default")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """One JSON line per relief case, newest first."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.relief.service import list_cases
    from carematch.security.authz import Principal

    _ready()
    # The operator at the console acts for the whole installation, or for one region.
    role = "admin" if region is None else "civil_affairs"
    principal = Principal(CLI_ACTOR, CLI_ACTOR, role, region)
    try:
        with session_scope() as session:
            _, views = list_cases(session, principal, status, limit, 0)
            rows = [v.as_dict() for v in views]
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    for row in rows:
        _echo(row)
    _err.print(f"{len(rows)} case(s)")


@fund_app.command("deposit")
def deposit_command(
    amount: Annotated[str, typer.Argument(help="yuan, to the fen (e.g. 100000 or 2500.50)")],
    note: Annotated[str | None, typer.Option(help="what the money is (budget, donation)")] = None,
    actor: Annotated[str, typer.Option(help="who is putting it in")] = CLI_ACTOR,
) -> None:
    """Put money into the relief fund; prints the ledger line with the new balance."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.relief.service import deposit, entries_of

    _ready()
    try:
        with session_scope() as session:
            entry = deposit(session, actor, amount, note)
            line = entries_of([entry])[0]
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    _echo(line)


@fund_app.command("balance")
def balance_command() -> None:
    """The relief fund's balance and its latest ledger lines."""
    from carematch.core.db import session_scope
    from carematch.relief.service import entries_of, fund

    _ready()
    with session_scope() as session:
        view = fund(session, limit=10)
        out: dict[str, Any] = {"balance": float(view.balance), "entries": view.total}
        out["latest"] = entries_of(view.entries)
    _echo(out)

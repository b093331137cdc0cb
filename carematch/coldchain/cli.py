"""`carematch coldchain …`: the cold-chain log, its proofs and checkpoints, verification,
telemetry import and the recall list (see docs/coldchain.md).

Every command prints JSON on stdout. ``verify`` and ``verify-proof`` exit 0 when everything
checks out, 1 when verification fails (with each problem on stderr, naming the event), and 2
when they cannot run (a missing file, an unusable key). The commands run with the installation's
own authority (an operator at the server), as the other maintenance commands do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

coldchain_app = typer.Typer(help="Cold chain (冷链): the verifiable log", no_args_is_help=True)
proof_app = typer.Typer(help="Inclusion and consistency proofs", no_args_is_help=True)
telemetry_app = typer.Typer(help="Temperature readings of fridges and boxes", no_args_is_help=True)
key_app = typer.Typer(help="The log's signing key", no_args_is_help=True)
coldchain_app.add_typer(proof_app, name="proof")
coldchain_app.add_typer(telemetry_app, name="telemetry")
coldchain_app.add_typer(key_app, name="key")
_err = Console(stderr=True)
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
OPERATOR = "cli"


def _fail(message: str, code: int = EXIT_UNUSABLE) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)
    return typer.Exit(code)


def _out(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _operator() -> Any:
    from carematch.security.authz import Principal

    return Principal(OPERATOR, OPERATOR, "admin", None)


@coldchain_app.command("log")
def log_command(
    limit: Annotated[int, typer.Option(min=1, help="events to show")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="leaf index to start at")] = 0,
    lot: Annotated[str | None, typer.Option(help="only this lot's events")] = None,
) -> None:
    """The log's events in leaf order: index, leaf hash and the logged event."""
    from carematch.coldchain import repository, service
    from carematch.core.db import session_scope

    with session_scope() as session:
        rows = repository.events(session, limit=limit, offset=offset, lot_id=lot)
        _out({"size": repository.log_size(session), "events": service.parse_events(rows)})


@proof_app.command("inclusion")
def inclusion_command(
    leaf_index: Annotated[int, typer.Argument(help="the event's leaf index")],
    out: Annotated[Path | None, typer.Option(help="write the proof document here")] = None,
) -> None:
    """An event with its inclusion proof and the signed checkpoint: verify it with verify-proof."""
    from carematch.coldchain import service
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError

    try:
        with session_scope() as session:
            bundle = service.inclusion_bundle(session, leaf_index)
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    if out is not None:
        out.write_text(json.dumps(bundle, ensure_ascii=False, indent=2) + "\n")
    _out(bundle)


@proof_app.command("consistency")
def consistency_command(
    first: Annotated[int, typer.Argument(help="the older tree size")],
    second: Annotated[int, typer.Argument(help="the newer tree size")],
) -> None:
    """A consistency proof between two tree sizes (from size 0 is refused: see the docs)."""
    from carematch.coldchain import service
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError

    try:
        with session_scope() as session:
            _out(service.consistency_bundle(session, first, second))
    except CareMatchError as exc:
        raise _fail(exc.detail) from None


@coldchain_app.command("checkpoint")
def checkpoint_command() -> None:
    """Sign (if the log grew) and print the checkpoint of the log's current size."""
    from carematch.coldchain import service
    from carematch.core.db import session_scope

    with session_scope() as session:
        row = service.make_checkpoint(session)
        _out({"size": row.size, "root_hash": row.root_hash, "note": row.note})


@coldchain_app.command("verify")
def verify_command() -> None:
    """Recompute the tree from the stored events; check every signed checkpoint against it."""
    from carematch.coldchain import service
    from carematch.core.db import session_scope

    with session_scope() as session:
        report = service.verify_log(session)
    _out(report.as_json())
    for problem in report.problems:
        _err.print(f"[red]FAILED:[/red] {escape(problem)}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@coldchain_app.command("verify-proof")
def verify_proof_command(
    file: Annotated[Path, typer.Argument(help="a proof document from `proof inclusion`")],
    key: Annotated[Path, typer.Option("--key", help="the log's public key (PEM or vkey)")],
) -> None:
    """Check an exported event offline: checkpoint signature, then the inclusion proof."""
    from carematch.coldchain import service
    from carematch.core.errors import CareMatchError

    try:
        verifier = service.load_verifier(key.read_bytes())
        bundle = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(f"cannot read: {exc.strerror or exc}") from None
    except (CareMatchError, ValueError) as exc:
        raise _fail(getattr(exc, "detail", None) or str(exc)) from None
    try:
        result = service.verify_bundle(bundle, verifier)
    except CareMatchError as exc:
        _out({"valid": False, "reason": exc.detail})
        raise _fail(f"verification failed: {exc.detail}", EXIT_FAILED) from None
    _out(result)


@key_app.command("publish")
def key_publish_command(
    out: Annotated[
        Path | None, typer.Option(help="write the PEM here; stdout when left out")
    ] = None,
) -> None:
    """Write the log's public key (PEM) for offline verifiers; make the key if none."""
    from carematch.coldchain import service

    verifier = service.log_verifier()
    pem = verifier.to_pem()
    if out is None:
        sys.stdout.write(pem.decode("ascii"))
        return
    out.write_bytes(pem)
    _out({"out": str(out), "vkey": verifier.vkey()})


@telemetry_app.command("import")
def telemetry_import_command(
    file: Annotated[Path, typer.Argument(help="CSV with columns device_id,at,celsius")],
) -> None:
    """Store readings, keep rejected rows with their reason, raise alarms, mark exposed lots."""
    from carematch.coldchain import service
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {file}: {exc}") from None
    try:
        with session_scope() as session:
            result = service.import_readings(session, OPERATOR, text, file.name)
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    _out(result.as_json())


@coldchain_app.command("recall")
def recall_command(
    lot: Annotated[str | None, typer.Option(help="a lot id")] = None,
    alarm: Annotated[str | None, typer.Option(help="an alarm id (the lots it exposed)")] = None,
) -> None:
    """The recall list: every person dosed from the lot, or from the lots the alarm exposed."""
    from carematch.coldchain import service
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError

    if (lot is None) == (alarm is None):
        raise _fail("give exactly one of --lot and --alarm")
    try:
        with session_scope() as session:
            lots, entries = service.recall_entries(session, _operator(), lot_id=lot, alarm_id=alarm)
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    _out(
        {
            "lots": lots,
            "persons": sorted({e.person_id for e in entries}),
            "doses": [
                {
                    "person_id": e.person_id,
                    "lot_id": e.lot_id,
                    "administered_at": e.administered_at.isoformat(),
                    "after_exposure": e.after_exposure,
                }
                for e in entries
            ],
        }
    )

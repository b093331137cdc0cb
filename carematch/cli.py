"""The `carematch` command: one sub-command (group) per domain.

Data goes to stdout (JSON); progress and logs go to stderr.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from carematch.booking.cli import booking_app
from carematch.coldchain.cli import coldchain_app
from carematch.core.config import get_settings
from carematch.core.errors import CareMatchError
from carematch.core.hooks import IngestEvent
from carematch.forecasting.cli import forecast_command, forecasting_app
from carematch.identity.exchange_cli import exchange_app
from carematch.indicators.cli import indicators_app
from carematch.indicators.funds_cli import evaluate_app, funds_app
from carematch.matching.cli import match_app
from carematch.monitoring.cli import monitoring_app
from carematch.notifications.cli import worker_app
from carematch.policy.cli import policy_app
from carematch.profiling.cli import profile_app
from carematch.profiling.report_cli import report_app
from carematch.providers.cli import providers_app
from carematch.relief.cli import relief_app
from carematch.security.deidentify_cli import export_app
from carematch.vaccination.cli import vaccination_app

app = typer.Typer(help="CareMatch 健康服务精准对接平台", no_args_is_help=True)
users_app = typer.Typer(help="Users and roles", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log", no_args_is_help=True)
db_app = typer.Typer(help="Database", no_args_is_help=True)
persons_app = typer.Typer(help="Persons (一人一档)", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(persons_app, name="persons")
app.add_typer(exchange_app, name="exchange")
app.add_typer(match_app, name="match")
app.add_typer(booking_app, name="booking")
app.add_typer(worker_app, name="worker")
app.add_typer(profile_app, name="profile")
app.add_typer(report_app, name="report")
app.add_typer(providers_app, name="providers")
app.add_typer(vaccination_app, name="vaccination")
app.add_typer(coldchain_app, name="coldchain")
app.add_typer(policy_app, name="policy")
app.add_typer(relief_app, name="relief")
app.add_typer(export_app, name="export")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(funds_app, name="funds")
app.add_typer(monitoring_app, name="monitoring")
app.add_typer(forecasting_app, name="forecasting")
app.command("forecast")(forecast_command)
app.add_typer(indicators_app, name="indicators")

err = Console(stderr=True)
SOURCE_FILES = (
    "police",
    "ehr",
    "insurance",
    "social_security",
    "immunization",
    "poverty",
    "survey",
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _ready() -> None:
    """Bring the database up to date before any command touches it."""
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade

    configure_logging(get_settings().log_level)
    upgrade()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


@app.command()
def generate(
    residents: Annotated[int, typer.Option(min=1, help="number of residents")] = 20_000,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same files")] = 1,
    out: Annotated[Path, typer.Option(help="output directory")] = Path("data/city"),
) -> None:
    """Generate a synthetic city: departmental extracts, providers, policies and truth/."""
    from carematch.synth import generate_city

    with _progress() as bar:
        task = bar.add_task("generate", total=100)

        def report(stage: str, fraction: float) -> None:
            bar.update(task, description=f"generate: {stage}", completed=int(fraction * 100))

        summary = generate_city(residents=residents, seed=seed, out=out, progress=report)
        bar.update(task, completed=100)
    typer.echo(json.dumps(summary, ensure_ascii=False, sort_keys=True))


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="source name, e.g. police, ehr, insurance")],
    path: Annotated[Path, typer.Argument(help="CSV or Parquet extract")],
) -> None:
    """Validate and load one extract; prints {"source","rows","accepted","quarantined",…}."""
    from carematch.core.db import session_scope
    from carematch.identity.service import ingest_file

    if not path.is_file():
        raise _fail(f"no such file: {path}")
    _ready()
    try:
        with session_scope() as session, _progress() as bar:
            task = bar.add_task(f"ingest {source}", total=None)
            summary = ingest_file(session, source, path, progress=partial(bar.advance, task))
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    out = summary.as_dict()
    out["linked"] = _link_new(summary.new_record_pks)
    out.update(_after_ingest(IngestEvent(source, tuple(summary.new_record_pks))))
    typer.echo(json.dumps(out, ensure_ascii=False))


def _after_ingest(event: IngestEvent) -> dict[str, Any]:
    """Run the other domains' after-ingest hooks (relief watch, indicators); report each."""
    from carematch.core.db import session_scope
    from carematch.core.hooks import AFTER_INGEST, run_after_ingest

    if not AFTER_INGEST:
        return {}
    with err.status("updating what depends on the new records …"):
        return {"after_ingest": run_after_ingest(event, session_scope)}


ONLINE_LINK_LIMIT = 5_000


def _link_new(record_pks: list[str]) -> int | str:
    """Link a small batch of new records online; a large one waits for `persons build`."""
    from carematch.core.db import session_scope
    from carematch.identity import repository
    from carematch.identity.service import link_records

    if not record_pks:
        return 0
    with session_scope() as session:
        if repository.active_model(session) is None:
            return "no linkage model yet: run `carematch persons build`"
        if len(record_pks) > ONLINE_LINK_LIMIT:
            return f"{len(record_pks)} new records: run `carematch persons build`"
        with _progress() as bar:
            task = bar.add_task("link new records", total=len(record_pks))
            linked = 0
            for pk in record_pks:
                if link_records(session, [pk]).get(pk):
                    linked += 1
                bar.advance(task)
    return linked


@app.command("load")
def load_city(
    city: Annotated[Path, typer.Argument(help="a directory written by `carematch generate`")],
) -> None:
    """Load a generated city: regions, every departmental extract, then persons."""
    from carematch.core.db import session_scope
    from carematch.core.regions import load_regions
    from carematch.identity.service import build_persons, ingest_file

    if not (city / "regions.csv").is_file():
        raise _fail(f"{city} has no regions.csv: run `carematch generate` first")
    _ready()
    results = []
    with session_scope() as session:
        load_regions(session, city / "regions.csv")
    for source in SOURCE_FILES:
        path = city / f"{source}.csv"
        if not path.is_file():
            continue
        with session_scope() as session, _progress() as bar:
            task = bar.add_task(f"ingest {source}", total=None)
            summary = ingest_file(session, source, path, progress=partial(bar.advance, task))
        results.append(summary.as_dict())
        typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
    with session_scope() as session, err.status("linking records into persons …"):
        persons = build_persons(session)
    typer.echo(json.dumps({"persons": persons}, ensure_ascii=False))
    if (city / "providers.csv").is_file():
        from carematch.providers.service import load_providers

        with session_scope() as session, err.status("loading the provider registry …"):
            registry = load_providers(session, city)
        typer.echo(json.dumps({"providers": _as_json(registry)}, ensure_ascii=False))
    from carematch.profiling.service import build_profiles

    with session_scope() as session, err.status("profiling persons …"):
        profiles = build_profiles(session)
    typer.echo(json.dumps({"profiles": profiles.as_dict()}, ensure_ascii=False))
    after = _after_ingest(IngestEvent("*", full_load=True))
    if after:
        typer.echo(json.dumps(after, ensure_ascii=False, default=str))


def _as_json(value: Any) -> Any:
    """A summary object as plain JSON data (dataclass, object with as_dict, or as is)."""
    import dataclasses

    if hasattr(value, "as_dict"):
        return value.as_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


@app.command()
def link(
    inputs: Annotated[
        list[str],
        typer.Option("--input", help="NAME=PATH of a canonical CSV or Parquet; repeat"),
    ],
    out: Annotated[Path, typer.Option(help="clusters CSV: source,record_id,person_id")],
    engine: Annotated[str, typer.Option(help="duckdb or spark")] = "duckdb",
    model: Annotated[
        Path | None, typer.Option(help="reuse a saved model instead of training one")
    ] = None,
    save_model: Annotated[Path | None, typer.Option(help="write the trained model here")] = None,
    pairs: Annotated[Path | None, typer.Option(help="write scored pairs with evidence")] = None,
) -> None:
    """Link canonical extracts into persons; every input record appears once in --out."""
    from carematch.identity.linkage import ENGINES, link_frames
    from carematch.identity.tables import read_canonical

    if engine not in ENGINES:
        raise _fail(f"unknown engine {engine!r}; use one of: {', '.join(ENGINES)}")
    frames = {}
    for item in inputs:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise _fail(f"--input takes NAME=PATH, got {item!r}")
        if name in frames:
            raise _fail(f"input name {name!r} is given twice")
        try:
            frames[name] = read_canonical(Path(path))
        except (OSError, ValueError) as exc:
            raise _fail(f"{name}: {exc}") from None
    saved = json.loads(model.read_text()) if model else None
    with err.status("linking …"):
        try:
            result = link_frames(frames, engine=engine, model=saved)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    clusters = result.clusters.rename(
        columns={"source_dataset": "source", "person_key": "person_id"}
    )
    clusters = clusters.sort_values(["source", "record_id"], kind="stable")
    out.parent.mkdir(parents=True, exist_ok=True)
    clusters[["source", "record_id", "person_id"]].to_csv(out, index=False)
    if save_model:
        save_model.write_text(json.dumps(result.model, ensure_ascii=False, indent=1))
    if pairs is not None:
        from carematch.identity.linkage import evidence_of

        frame = result.pairs.copy()
        frame["evidence"] = [
            json.dumps(evidence_of(result.pairs, i), ensure_ascii=False) for i in range(len(frame))
        ]
        for side in ("l", "r"):
            parts = frame[f"unique_id_{side}"].str.split("\x1f", n=1, expand=True)
            frame[f"source_{side}"], frame[f"record_id_{side}"] = parts[0], parts[1]
        columns = ["source_l", "record_id_l", "source_r", "record_id_r", "match_probability"]
        frame[[*columns, "match_weight", "evidence"]].to_csv(pairs, index=False)
    summary = {k: v for k, v in result.stats.items() if k != "blocking"}
    summary["unlinkable_records"] = int(result.clusters["unlinkable"].sum())
    typer.echo(json.dumps(summary, ensure_ascii=False))


@persons_app.command("build")
def persons_build(
    retrain: Annotated[bool, typer.Option(help="train a new linkage model first")] = False,
    exact: Annotated[
        bool, typer.Option(help="baseline: link only records sharing a valid ID number")
    ] = False,
) -> None:
    """(Re)link every source record into persons (probabilistic; --exact for the baseline)."""
    from carematch.core.db import session_scope
    from carematch.identity.service import build_persons, build_persons_exact

    _ready()
    with session_scope() as session, err.status("linking records into persons …"):
        stats = build_persons_exact(session) if exact else build_persons(session, retrain=retrain)
    typer.echo(json.dumps(stats, ensure_ascii=False))


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="username")],
    role: Annotated[str, typer.Option(help="admin, official, doctor, vaccinator, …")],
    region: Annotated[str | None, typer.Option(help="region code the user is bound to")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    person: Annotated[
        str | None, typer.Option(help="a resident account's person id (after an ID check)")
    ] = None,
) -> None:
    """Create a user (staff are bound to a region and see that region and below)."""
    from carematch.core.db import session_scope
    from carematch.security.service import create_user

    if not password_stdin:
        raise _fail("pass --password-stdin and the password on standard input")
    password = sys.stdin.readline().rstrip("\r\n")
    _ready()
    try:
        with session_scope() as session:
            user = create_user(session, name, role, password, region, person_id=person)
            out = {
                "id": user.id,
                "username": user.username,
                "role": user.role,
                "region_code": user.region_code,
                "person_id": user.person_id,
            }
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    typer.echo(json.dumps(out))


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain; exit 1 and name each broken entry if it was altered."""
    from carematch.core.db import session_scope
    from carematch.security.audit import verify

    _ready()
    with session_scope() as session:
        checked, problems = verify(session)
    result = {
        "ok": not problems,
        "entries": checked,
        "problems": [{"seq": p.seq, "problem": p.problem} for p in problems],
    }
    typer.echo(json.dumps(result, ensure_ascii=False))
    if problems:
        for p in problems:
            err.print(f"[red]audit entry {p.seq}: {p.problem}[/red]")
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    _ready()
    err.print("database is up to date")


DEFAULT_MAX_WORKERS = 4


def default_workers() -> int:
    """Server processes when none are asked for: two per core, at most DEFAULT_MAX_WORKERS.

    Two per core: request handlers are Python threads sharing one interpreter lock per
    process, and they spend part of each request waiting for the database, so with one process
    per core the threads queue for the lock while the core idles (the booking bench,
    docs/benchmarks.md: p95 104-136 ms with 4 workers on 2 cores, 188-370 ms with 2). At most
    4: each process keeps its own connection pool (db_pool_size + db_max_overflow, 20), and
    4 × 20 stays under PostgreSQL's default max_connections of 100.
    """
    import os

    return min(2 * (os.cpu_count() or 1), DEFAULT_MAX_WORKERS)


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option(help="build a synthetic city first if there is none")
    ] = False,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    residents: Annotated[int, typer.Option(help="size of the demo city")] = 20_000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            envvar="CAREMATCH_WORKERS",
            help="server processes (default: two per CPU core, at most 4; docs/operations.md)",
        ),
    ] = None,
) -> None:
    """Run the web app and API."""
    import uvicorn

    _ready()
    if demo:
        _ensure_demo(residents, f"http://{host}:{port}")
    processes = workers or default_workers()
    err.print(f"CareMatch on http://{host}:{port}/  (API docs: /api/v1/docs, {processes} workers)")
    uvicorn.run(
        "carematch.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        log_level="warning",
        access_log=False,
    )


DEMO_USERS = (
    ("admin", "admin", None),
    ("official", "official", "449900"),
    ("doctor", "doctor", "449901"),
    ("grid", "grid_worker", "449901001001"),
    ("vaccinator", "vaccinator", "449901"),
    ("civil", "civil_affairs", "449900"),
)
# The demo's relief fund (防返贫救助基金) starts with this much, so cases can be paid at once.
DEMO_RELIEF_FUND = "500000.00"
DEMO_PASSWORD = "carematch-demo"
# The demo's resident account: an older person of 白云区 with open needs, so that the portal
# shows something to book (the elderly mode's one-tap button) from the first sign-in.
DEMO_RESIDENT = "resident"
DEMO_DISTRICT = "449901"


def _ensure_demo(residents: int, base_url: str = "http://127.0.0.1:8000") -> None:
    """Generate and load the demo city and demo users unless the database already has them."""
    from sqlalchemy import func, select

    from carematch.core.db import session_scope
    from carematch.identity.models import SourceRecord
    from carematch.security.models import User
    from carematch.security.service import create_user

    settings = get_settings()
    with session_scope() as session:
        loaded = (session.scalar(select(func.count()).select_from(SourceRecord)) or 0) > 0
    city = settings.data_dir / "city"
    if not loaded:
        if not (city / "manifest.json").is_file():
            err.print(f"generating a {residents}-resident synthetic city into {city} …")
            generate(residents=residents, seed=1, out=city)
        load_city(city)
    with session_scope() as session:
        for username, role, region in DEMO_USERS:
            if session.scalar(select(User.id).where(User.username == username)) is None:
                create_user(session, username, role, DEMO_PASSWORD, region)
        if session.scalar(select(User.id).where(User.username == DEMO_RESIDENT)) is None:
            person = _demo_resident_person(session)
            if person is not None:
                create_user(session, DEMO_RESIDENT, "resident", DEMO_PASSWORD, person_id=person)
    with session_scope() as session:
        from carematch.relief.service import deposit, fund

        if fund(session).total == 0:
            deposit(session, "demo", DEMO_RELIEF_FUND, "演示城市年度防返贫救助资金")
    with session_scope() as session:
        # A week of slots from the providers' hours (idempotent: existing slots are kept).
        from carematch.booking.service import generate_slots

        generate_slots(session, days=7)
    users = [u for u, _, _ in DEMO_USERS] + [DEMO_RESIDENT]
    err.print(
        f"Sign in at {base_url}/login with one of: "
        + ", ".join(users)
        + f" (password: {DEMO_PASSWORD}; demo only)"
    )


def _demo_resident_person(session: Any) -> str | None:
    """The oldest person of the demo district with an open need that has a bookable service."""
    from sqlalchemy import select

    from carematch.identity.models import Person
    from carematch.profiling.models import Demand
    from carematch.providers.catalogue import service_catalogue

    bookable = [code for code, info in service_catalogue().items() if info.slot_minutes > 0]
    return session.scalar(
        select(Person.id)
        .join(Demand, Demand.person_id == Person.id)
        .where(
            Demand.status == "open",
            Demand.service.in_(bookable),
            Person.community_code.startswith(DEMO_DISTRICT),
            Person.birth_date.is_not(None),
        )
        .order_by(Person.birth_date, Person.id)
        .limit(1)
    )


if __name__ == "__main__":
    app()

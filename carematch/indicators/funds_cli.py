"""`carematch evaluate …` and `carematch funds …`: evaluation of policies, risk and special funds.

- ``carematch evaluate did --panel P.csv --outcome visits --treated-col treated --post-col post
  [--unit-col unit] [--period-col period] [--log]`` prints one JSON summary of the
  difference-in-differences estimate (:mod:`carematch.indicators.did`).
- ``carematch evaluate simulate-did --out P.csv [--effect 0.3]`` writes a generated panel
  with a known effect (the CSV the command above reads).
- ``carematch evaluate risk-index`` and ``carematch evaluate budget --total B`` print the
  community risk index and the budget proposal as JSON lines (one per community).
- ``carematch funds …`` runs the special-fund workflow (专项基金) from the command line.

Data on stdout, messages on stderr; bad input exits with status 2 and a one-line reason.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

evaluate_app = typer.Typer(
    help="Evaluation: difference-in-differences, risk index, budget (评估)", no_args_is_help=True
)
funds_app = typer.Typer(
    help="Special funds (专项基金): apply, review, approve, evaluate", no_args_is_help=True
)
_err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _read_panel(path: Path, columns: dict[str, str | None]) -> dict[str, list[str]]:
    if not path.is_file():
        raise _fail(f"{path} does not exist")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in columns.values() if c and c not in header]
        if missing:
            raise _fail(f"{path} has no column {', '.join(missing)} (columns: {', '.join(header)})")
        rows = list(reader)
    return {key: [r[name] for r in rows] for key, name in columns.items() if name}


@evaluate_app.command("did")
def did_command(
    panel: Annotated[Path, typer.Option("--panel", help="CSV, one row per unit × period")],
    outcome: Annotated[str, typer.Option("--outcome", help="the outcome column")],
    treated_col: Annotated[
        str, typer.Option("--treated-col", help="0/1: the unit is in the treated group")
    ] = "treated",
    post_col: Annotated[
        str, typer.Option("--post-col", help="0/1: the period is after the policy")
    ] = "post",
    unit_col: Annotated[
        str | None, typer.Option("--unit-col", help="unit id (clusters; required for >2 periods)")
    ] = "unit",
    period_col: Annotated[
        str | None, typer.Option("--period-col", help="period label (more than two: panel FE)")
    ] = "period",
    log: Annotated[
        bool, typer.Option("--log", help="fit log(outcome): the effect is proportional")
    ] = False,
    level: Annotated[float, typer.Option("--level", min=0.5, max=0.999)] = 0.95,
) -> None:
    """Difference-in-differences with a cluster-robust confidence interval (JSON summary)."""
    from carematch.indicators.did import DidInputError, did, did_2x2

    columns = {
        "outcome": outcome,
        "treated": treated_col,
        "post": post_col,
        "unit": unit_col,
        "period": period_col,
    }
    data = _read_panel(panel, columns)
    try:
        values = [float(v) for v in data["outcome"]]
    except ValueError as bad:
        raise _fail(f"{outcome}: {bad}") from None
    try:
        if "unit" in data and "period" in data:
            result = did(
                values,
                data["unit"],
                data["period"],
                data["treated"],
                data["post"],
                log_outcome=log,
                level=level,
            )
        else:
            result = did_2x2(
                values,
                data["treated"],
                data["post"],
                data.get("unit"),
                log_outcome=log,
                level=level,
            )
    except DidInputError as bad:
        raise _fail(str(bad)) from None
    typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))


@evaluate_app.command("simulate-did")
def simulate_did(
    out: Annotated[Path, typer.Option("--out", help="the panel CSV to write")],
    effect: Annotated[float, typer.Option("--effect", help="injected relative effect")] = 0.30,
    units: Annotated[int, typer.Option("--units", min=4)] = 40,
    periods: Annotated[int, typer.Option("--periods", min=2)] = 8,
    policy_period: Annotated[int, typer.Option("--policy-period", min=1)] = 4,
    seed: Annotated[int, typer.Option("--seed")] = 1,
) -> None:
    """Write a treatment/comparison panel of visits with a known effect of the policy."""
    import numpy as np

    from carematch.indicators.did import DidInputError, simulate_panel

    try:
        panel = simulate_panel(
            np.random.default_rng(seed),
            units=units,
            periods=periods,
            policy_period=policy_period,
            effect=effect,
        )
    except DidInputError as bad:
        raise _fail(str(bad)) from None
    rows = panel.rows()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary: dict[str, Any] = {
        "rows": len(rows),
        "units": units,
        "periods": periods,
        "effect": effect,
        "true_log_effect": panel.true_log_effect,
    }
    typer.echo(json.dumps(summary))


def _cli_principal() -> Any:
    """The command line acts for an administrator: it sees the whole city."""
    from carematch.security.authz import Principal

    return Principal("cli", "cli", "admin", None)


def _day(value: str | None) -> Any:
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"--as-of {value!r} is not a date (YYYY-MM-DD)") from None


AsOf = Annotated[str | None, typer.Option("--as-of", help="feature date YYYY-MM-DD")]
Region = Annotated[str | None, typer.Option("--region", help="only this region's communities")]


@evaluate_app.command("risk-index")
def risk_index_command(as_of: AsOf = None, region: Region = None) -> None:
    """One JSON line per community: the risk index and its components, highest first."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.core.migrate import upgrade
    from carematch.indicators.funds_service import risk_table

    day = _day(as_of)
    upgrade()
    try:
        with session_scope() as session:
            table = risk_table(session, _cli_principal(), region, day)
    except CareMatchError as bad:
        raise _fail(bad.detail) from None
    for score in table.scores:
        row = {"community": score.community, "name": table.names.get(score.community)}
        row |= {k: v for k, v in score.as_dict().items() if k not in ("community", "filled")}
        typer.echo(json.dumps(row, ensure_ascii=False))


def _results(path: Path | None) -> dict[str, float] | None:
    """``community,score`` rows: the results score of each community (indicator improvement)."""
    if path is None:
        return None
    data = _read_panel(path, {"community": "community", "score": "score"})
    try:
        return {c: float(s) for c, s in zip(data["community"], data["score"], strict=True)}
    except ValueError as bad:
        raise _fail(f"{path}: {bad}") from None


@evaluate_app.command("budget")
def budget_command(
    total: Annotated[int, typer.Option("--total", help="the budget in whole yuan")],
    risk_share: Annotated[
        float, typer.Option("--risk-share", help="share of the budget that follows risk")
    ] = 0.7,
    floor: Annotated[float, typer.Option("--floor", help="index points added to each")] = 10.0,
    results: Annotated[
        Path | None,
        typer.Option(
            "--results",
            help="CSV community,score for the results part (default: the stored control-rate gain)",
        ),
    ] = None,
    as_of: AsOf = None,
    region: Region = None,
) -> None:
    """One JSON line per community: its share of the budget (the amounts add up to --total)."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.core.migrate import upgrade
    from carematch.indicators.funds_service import budget_proposal

    if not 0 <= risk_share <= 1:
        raise _fail("--risk-share lies between 0 and 1")
    if total < 0:
        raise _fail("--total must be at least 0")
    scores = _results(results)
    day = _day(as_of)
    upgrade()
    try:
        with session_scope() as session:
            table, lines, source = budget_proposal(
                session,
                _cli_principal(),
                total,
                risk_share=risk_share,
                floor=floor,
                results=scores,
                region=region,
                as_of=day,
            )
    except CareMatchError as bad:
        raise _fail(bad.detail) from None
    if source.kind == "stored" and source.periods:
        start, end = source.periods
        _err.print(f"results part: gain in {source.indicator}, {start} → {end}")
    elif source.kind == "none":
        _err.print("results part: no results scores, split by population")
    for line in lines:
        row = {"community": line.community, "name": table.names.get(line.community)}
        typer.echo(json.dumps(row | line.as_dict(), ensure_ascii=False))


# -- carematch funds … -----------------------------------------------------------------------

ROLES_MAY = {
    "create-budget": ("official",),
    "apply": ("official", "grid_worker"),
    "review": ("official",),
    "decide": ("official",),
    "evaluate": ("official",),
    "show": ("official", "grid_worker"),
}
As = Annotated[str, typer.Option("--as", help="the user acting (audited under this name)")]


def _acting(session: Any, username: str, step: str) -> Any:
    """The principal of an existing, active user allowed to take this step."""
    from sqlalchemy import select

    from carematch.security.authz import Principal
    from carematch.security.models import User

    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None or not user.active:
        raise _fail(f"no active user {username!r}")
    if user.role != "admin" and user.role not in ROLES_MAY[step]:
        raise _fail(f"role {user.role!r} may not {step} (allowed: {', '.join(ROLES_MAY[step])})")
    return Principal(user.id, user.username, user.role, user.region_code, user.person_id)


def _pairs(values: list[str], what: str) -> dict[str, float]:
    out = {}
    for text in values:
        name, sep, number = text.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = float(number)
        except ValueError:
            raise _fail(f"{what} {text!r} is not NAME=NUMBER") from None
    return out


def _project_json(session: Any, project: Any) -> dict[str, Any]:
    from carematch.indicators.funds_service import project_detail

    indicators, reviews = project_detail(session, project)
    return {
        "id": project.id,
        "budget_id": project.budget_id,
        "community_code": project.community_code,
        "title": project.title,
        "amount": project.amount,
        "status": project.status,
        "score": project.score,
        "outcome": project.outcome,
        "indicators": [
            {
                "name": i.name,
                "direction": i.direction,
                "baseline": i.baseline,
                "target": i.target,
                "achieved_value": i.achieved_value,
                "achieved": i.achieved,
            }
            for i in indicators
        ],
        "reviews": [{"expert": r.expert, "score": r.score} for r in reviews],
    }


def _run(step: str, username: str, work: Any) -> None:
    """Run one step as ``username`` in one unit of work; print its JSON; errors exit 2."""
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.core.migrate import upgrade

    upgrade()
    try:
        with session_scope() as session:
            principal = _acting(session, username, step)
            out = work(session, principal)
            typer.echo(json.dumps(out, ensure_ascii=False, default=str))
    except CareMatchError as bad:
        raise _fail(f"{bad.title}: {bad.detail}") from None


@funds_app.command("create-budget")
def create_budget_command(
    name: Annotated[str, typer.Option("--name")],
    region: Annotated[str, typer.Option("--region", help="region code of the fund")],
    year: Annotated[int, typer.Option("--year")],
    total: Annotated[int, typer.Option("--total", help="yuan")],
    user: As,
) -> None:
    """Open a special fund's budget for a region."""
    from carematch.indicators.funds_service import create_budget

    def work(session: Any, principal: Any) -> dict[str, Any]:
        b = create_budget(session, principal, name=name, region_code=region, year=year, total=total)
        return {"id": b.id, "name": b.name, "region_code": b.region_code, "total": b.total}

    _run("create-budget", user, work)


@funds_app.command("apply")
def apply_command(
    budget: Annotated[str, typer.Option("--budget", help="budget id")],
    community: Annotated[str, typer.Option("--community", help="community code")],
    title: Annotated[str, typer.Option("--title")],
    amount: Annotated[int, typer.Option("--amount", help="yuan")],
    indicator: Annotated[
        list[str],
        typer.Option("--indicator", help="NAME:BASELINE:TARGET[:up|down]; repeat for several"),
    ],
    user: As,
) -> None:
    """A community's application with its own indicators."""
    from carematch.indicators.funds_service import IndicatorPlan, apply

    plans = []
    for text in indicator:
        parts = text.split(":")
        try:
            if len(parts) not in (3, 4):
                raise ValueError
            direction = parts[3] if len(parts) == 4 else "up"
            plans.append(IndicatorPlan(parts[0], float(parts[1]), float(parts[2]), direction))
        except ValueError:
            raise _fail(f"--indicator {text!r} is not NAME:BASELINE:TARGET[:up|down]") from None

    def work(session: Any, principal: Any) -> dict[str, Any]:
        project = apply(
            session,
            principal,
            budget_id=budget,
            community_code=community,
            title=title,
            amount=amount,
            indicators=plans,
        )
        return _project_json(session, project)

    _run("apply", user, work)


@funds_app.command("review")
def review_command(
    project: Annotated[str, typer.Argument(help="project id")],
    score: Annotated[list[str], typer.Option("--score", help="CRITERION=0..100; one each")],
    user: As,
    comment: Annotated[str, typer.Option("--comment")] = "",
) -> None:
    """An expert's scores of a project (need, feasibility, benefit, cost)."""
    from carematch.indicators.funds_service import get_project, review

    scores = _pairs(score, "--score")

    def work(session: Any, principal: Any) -> dict[str, Any]:
        review(session, principal, project, scores, comment)
        return _project_json(session, get_project(session, principal, project))

    _run("review", user, work)


@funds_app.command("decide")
def decide_command(
    project: Annotated[str, typer.Argument(help="project id")],
    user: As,
    note: Annotated[str, typer.Option("--note")] = "",
) -> None:
    """Approve (experts' mean ≥ 60, within the budget) or reject a reviewed project."""
    from carematch.indicators.funds_service import decide

    _run("decide", user, lambda s, p: _project_json(s, decide(s, p, project, note)))


@funds_app.command("evaluate")
def evaluate_command(
    project: Annotated[str, typer.Argument(help="project id")],
    value: Annotated[list[str], typer.Option("--value", help="INDICATOR=value reached")],
    user: As,
) -> None:
    """The end-of-project evaluation against the project's own indicators."""
    from carematch.indicators.funds_service import evaluate

    values = _pairs(value, "--value")
    _run("evaluate", user, lambda s, p: _project_json(s, evaluate(s, p, project, values)))


@funds_app.command("show")
def show_command(project: Annotated[str, typer.Argument(help="project id")], user: As) -> None:
    """A project with its indicators and reviews."""
    from carematch.indicators.funds_service import get_project

    _run("show", user, lambda s, p: _project_json(s, get_project(s, p, project)))

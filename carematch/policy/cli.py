"""`carematch policy …`: check a policy library, and which policies hold for each person.

``carematch policy eligible --library PATH --persons IN.jsonl`` writes one JSON line
``{"id", "eligible": [policy ids, sorted]}`` per input line, in input order (the contract in
design.md). It follows ``carematch vaccination forecast``'s conventions: a line that is not a
person is reported on stderr with its line number and skipped, every good line is still
answered, and the exit status is 1 at the end when any line was skipped, 0 otherwise. A
library that does not load, or a missing persons file, stops with exit status 2 before any
output. See docs/policy.md.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from carematch.policy.library import PolicyLibrary

policy_app = typer.Typer(help="Policies (政策): the library and eligibility", no_args_is_help=True)
_err = Console(stderr=True)

Libraries = Annotated[
    list[Path],
    typer.Option(
        "--library",
        help="policy library YAML (policies.yaml format); repeat to load several together",
    ),
]


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)
    return typer.Exit(2)


def _report(message: str) -> None:
    sys.stderr.write(message + "\n")


@policy_app.command("check")
def check_command(libraries: Libraries) -> None:
    """Load and check library files; print {"policies", "services"} or every problem (exit 2)."""
    from carematch.policy.errors import PolicyLibraryError
    from carematch.policy.library import load_library

    try:
        library = load_library(libraries)
    except PolicyLibraryError as exc:
        raise _fail(exc.detail) from None
    services = sorted({code for policy in library.values() for code in policy.services})
    typer.echo(json.dumps({"policies": len(library), "services": len(services)}))


@policy_app.command("eligible")
def eligible_command(
    libraries: Libraries,
    persons: Annotated[
        Path,
        typer.Option(
            "--persons", help='JSON lines {"id","features":{…},"conditions":[…]}; - for stdin'
        ),
    ],
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="the day days_since() counts to"),
    ] = None,
) -> None:
    """Each person's eligible policies: one line {"id","eligible"} per input line, in order."""
    from carematch.core.clock import today
    from carematch.policy.errors import PolicyLibraryError
    from carematch.policy.library import load_library

    try:
        library = load_library(libraries)
    except PolicyLibraryError as exc:
        raise _fail(exc.detail) from None
    if str(persons) != "-" and not persons.is_file():
        raise _fail(f"no such persons file: {persons}")
    day = as_of.date() if as_of else today()
    try:
        if str(persons) == "-":
            answered, skipped = _answer(sys.stdin.buffer, library, day, sys.stdout)
        else:
            with persons.open("rb") as handle:
                answered, skipped = _answer(handle, library, day, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    except OSError as exc:
        raise _fail(f"cannot read the persons or write the output: {exc}") from None
    if skipped:
        _report(f"{skipped} line(s) skipped, {answered} answered")
        raise typer.Exit(1)


def _answer(handle: IO[bytes], library: PolicyLibrary, day: date, out: IO[str]) -> tuple[int, int]:
    """Read every person, evaluate them in one batch, write the answers; (answered, skipped)."""
    from carematch.policy.eligibility import (
        PersonInput,
        PersonLineError,
        eligible_batch,
        read_person,
    )
    from carematch.policy.library import feature_dictionary

    dictionary = feature_dictionary()
    people: list[PersonInput] = []
    skipped = 0
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
            people.append(read_person(json.loads(text), dictionary))
            continue
        except json.JSONDecodeError as exc:
            problem = f"not JSON ({exc.msg} at column {exc.colno})"
        except RecursionError:
            problem = "not JSON (nested too deeply)"
        except PersonLineError as exc:
            problem = str(exc)
        skipped += 1
        _report(f"line {number}: {problem}")
    for person, eligible in zip(people, eligible_batch(library, people, day), strict=True):
        out.write(json.dumps({"id": person.id, "eligible": eligible}, ensure_ascii=False) + "\n")
    return len(people), skipped


def _library_or_default(libraries: list[Path] | None) -> PolicyLibrary:
    """The libraries named, or the packaged one when none is (exit 2 if one does not load)."""
    from carematch.policy.errors import PolicyLibraryError
    from carematch.policy.library import default_library, load_library

    try:
        return load_library(libraries) if libraries else default_library()
    except PolicyLibraryError as exc:
        raise _fail(exc.detail) from None


@policy_app.command("search")
def search_command(
    queries: Annotated[
        Path,
        typer.Option(
            "--queries",
            help='JSON lines {"q": "…"} (optional "person": {"features","conditions"}); - = stdin',
        ),
    ],
    libraries: Annotated[
        list[Path] | None,
        typer.Option(
            "--library",
            help="policy library YAML; repeat to load several together (default: the packaged one)",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=1000, help="results per question")] = 5,
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="evaluation day for a known asker"),
    ] = None,
) -> None:
    """Answer questions in everyday Chinese: one line {"q","results":[{"id","score","clause"}]}.

    A question line may carry the asker ("person": {"features", "conditions"}, as in `policy
    eligible`): their eligible policies then come first and each result says "eligible" and
    "why". A bad line is reported on stderr by number and skipped (exit 1 at the end).
    """
    from carematch.core.clock import today

    library = _library_or_default(libraries)
    if str(queries) != "-" and not queries.is_file():
        raise _fail(f"no such queries file: {queries}")
    day = as_of.date() if as_of else today()
    try:
        if str(queries) == "-":
            answered, skipped = _search(sys.stdin.buffer, library, top, day, sys.stdout)
        else:
            with queries.open("rb") as handle:
                answered, skipped = _search(handle, library, top, day, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    except OSError as exc:
        raise _fail(f"cannot read the queries or write the output: {exc}") from None
    if skipped:
        _report(f"{skipped} line(s) skipped, {answered} answered")
        raise typer.Exit(1)


def _search(
    handle: IO[bytes], library: PolicyLibrary, top: int, day: date, out: IO[str]
) -> tuple[int, int]:
    """Answer each question line as it is read; (answered, skipped)."""
    from carematch.policy.eligibility import PersonLineError, person_verdicts, read_person
    from carematch.policy.library import feature_dictionary
    from carematch.policy.search import search_policies

    answered = skipped = 0
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            if not text.strip():
                continue
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("q"), str):
                raise PersonLineError('a question is a JSON object {"q": "…"} with q a string')
            verdicts = None
            if data.get("person") is not None:
                person = data["person"]
                if not isinstance(person, dict):
                    raise PersonLineError('"person" must be {"features": {…}, "conditions": […]}')
                found = read_person({"id": "_", **person}, feature_dictionary())
                verdicts = {
                    v.policy.id: v
                    for v in person_verdicts(library, found.values, found.conditions, day)
                }
        except UnicodeDecodeError:
            problem = "not UTF-8 text"
        except json.JSONDecodeError as exc:
            problem = f"not JSON ({exc.msg} at column {exc.colno})"
        except RecursionError:
            problem = "not JSON (nested too deeply)"
        except PersonLineError as exc:
            problem = str(exc)
        else:
            hits = search_policies(library, data["q"], top, verdicts)
            line = {"q": data["q"], "results": [h.as_dict() for h in hits]}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            answered += 1
            continue
        skipped += 1
        _report(f"line {number}: {problem}")
    return answered, skipped


@policy_app.command("cases")
def cases_command(
    q: Annotated[
        str | None, typer.Option("--q", help="a question in Chinese; every case when left out")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=1000, help="cases to return")] = 5,
    cases_file: Annotated[
        Path | None,
        typer.Option("--cases", help="case library YAML (default: the packaged one)"),
    ] = None,
    libraries: Annotated[
        list[Path] | None,
        typer.Option("--library", help="policy library the cases are checked against"),
    ] = None,
) -> None:
    """The case library: with --q, one JSON line per matching case, best first

    ({"id","score","title","community","policies","field","passage"}); without, every case.
    """
    from carematch.policy.cases import CaseLibraryError, load_cases, search_cases

    library = _library_or_default(libraries)
    try:
        cases = load_cases(cases_file, library)
    except CaseLibraryError as exc:
        raise _fail(exc.detail) from None
    if q is None:
        lines = [case.as_dict() for case in cases]
    else:
        lines = [hit.as_dict() for hit in search_cases(cases, q, top)]
    for line in lines:
        typer.echo(json.dumps(line, ensure_ascii=False))


# Hearings' neighbours on the command line: proposals and the sandbox (their own module).
from carematch.policy.governance_cli import register as _register_governance  # noqa: E402

_register_governance(policy_app)

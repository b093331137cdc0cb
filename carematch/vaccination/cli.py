"""`carematch vaccination …`: schedule forecasting and certificates.

``carematch vaccination issue``/``certificate`` sign an e-certificate (from a file, or for a
person in the database), ``verify`` checks one offline and ``keys publish`` writes the public
key verifiers need; ``check-rules`` checks the pre-screening, follow-up and AEFI data files;
see docs/vaccination.md.

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
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from carematch.vaccination.certificate import CertificateContent
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


# --- e-certificates ----------------------------------------------------------------------------

keys_app = typer.Typer(help="The certificate signing key (证书签名密钥)", no_args_is_help=True)
vaccination_app.add_typer(keys_app, name="keys")

EXIT_VALID, EXIT_INVALID = 0, 1


@keys_app.command("publish")
def keys_publish_command(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="write the public key (PEM) here; stdout when left out"),
    ] = None,
) -> None:
    """Write this installation's public key (PEM) for offline verifiers; make the key if none.

    With --out, prints {"key_id", "algorithm", "out"} on stdout.
    """
    from carematch.core.errors import CareMatchError
    from carematch.vaccination import certificate, service

    try:
        public = service.installation_public_key()
    except (CareMatchError, OSError, ValueError) as exc:
        raise _fail(f"cannot read the signing key: {exc}") from None
    pem = certificate.public_key_pem(public)
    kid = certificate.key_id(public)
    if out is None:
        sys.stdout.write(pem.decode("ascii"))
        _report(f"key id {kid}")
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(pem)
    except OSError as exc:
        raise _fail(f"cannot write {out}: {exc.strerror or exc}") from None
    typer.echo(json.dumps({"key_id": kid, "algorithm": "Ed25519", "out": str(out)}))


@vaccination_app.command("verify")
def verify_command(
    cert: Annotated[
        str, typer.Argument(help="file holding the certificate (or its verify URL); - for stdin")
    ],
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="trust this published key (PEM) instead of the installation's; repeatable",
        ),
    ] = None,
) -> None:
    """Check a certificate offline: prints a JSON verdict; exit 0 valid, 1 invalid, 2 usage.

    The verdict is {"valid", "reason", "detail"} and, when valid, "issuer", "issued_at",
    "key_id", "certificate_id", "version", "person" {"name", "birth_date"} and "doses".
    Reasons: malformed, unsupported_version, unknown_key, bad_signature.
    """
    from carematch.core.errors import CareMatchError
    from carematch.vaccination import certificate, service

    trusted = {}
    if public_key:
        for path in public_key:
            try:
                trusted.update(certificate.trust(certificate.load_public_key(path.read_bytes())))
            except OSError as exc:
                raise _fail(f"cannot read the public key {path}: {exc.strerror or exc}") from None
            except CareMatchError as exc:
                raise _fail(f"{path}: {exc.detail}") from None
    else:
        try:
            trusted = service.trusted_keys()
        except (CareMatchError, OSError, ValueError) as exc:
            raise _fail(f"cannot read the installation's key: {exc}") from None
    try:
        raw = sys.stdin.buffer.read() if cert == "-" else Path(cert).read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {cert}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        verdict = certificate.Verdict(False, "malformed", "the file is not UTF-8 text")
    else:
        verdict = certificate.verify(text, trusted)
    typer.echo(json.dumps(verdict.as_json(), ensure_ascii=False))
    raise typer.Exit(EXIT_VALID if verdict.valid else EXIT_INVALID)


OutDir = Annotated[
    Path | None,
    typer.Option(
        "--out-dir", help="also write <certificate id>.txt, .json, .png and .svg (the QR) here"
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="the public address of the verify page's server, e.g. https://carematch.example; "
        "the QR then holds <base-url>/verify?c=… (a phone camera opens it). Without it the QR "
        "holds the bare certificate",
    ),
]


@vaccination_app.command("issue")
def issue_command(
    holder: Annotated[
        Path,
        typer.Argument(
            help='JSON {"name", "dob", "as_of"?, "history": [{"series", "date", "lot"?}]} '
            "(a forecast case with a name); - for stdin"
        ),
    ],
    out_dir: OutDir = None,
    base_url: BaseUrl = None,
    issuer: Annotated[str, typer.Option(help="the issuer named in the certificate")] = "CareMatch",
) -> None:
    """Sign a certificate for the doses in a file, with this installation's key (no database).

    Doses dated after "as_of" (today when left out) are not certified. Prints {"certificate",
    "url", "certificate_id", "key_id", "doses", "files"} on stdout.
    """
    from carematch.core.clock import today, utcnow
    from carematch.core.errors import CareMatchError
    from carematch.vaccination import certificate, service
    from carematch.vaccination.schemas import CaseError, read_case

    try:
        with _open_cases(holder) as handle:
            data = json.loads(handle.read().decode("utf-8-sig"))
    except OSError as exc:
        raise _fail(f"cannot read {holder}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"{holder} is not a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(f"{holder} must hold a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail("`name` must be a non-empty string")
    try:
        case = read_case({"id": "", "as_of": today().isoformat(), **data})
        lots = _lots(data.get("history") or [])
    except CaseError as exc:
        raise _fail(str(exc)) from None
    try:
        doses = certificate.certified_doses(
            service.city_schedule(), case.dob, case.as_of, case.history, lots
        )
        encoded, content = certificate.issue(
            service.signing_key(),
            certificate.Holder(name.strip(), case.dob),
            doses,
            issuer=issuer,
            issued_at=utcnow(),
        )
        url = certificate.verify_url(encoded, base_url) if base_url else None
        files = _write_certificate(out_dir, encoded, content, url)
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(_issued_json(encoded, content, url, files), ensure_ascii=False))


def _lots(history: list[object]) -> dict[tuple[str, date], str]:
    """The lot of each dose in a holder file that names one."""
    from carematch.vaccination.schemas import CaseError

    lots: dict[tuple[str, date], str] = {}
    for i, item in enumerate(history):
        if isinstance(item, dict) and item.get("lot") is not None:
            lot, series, day = item.get("lot"), item.get("series"), item.get("date")
            if not isinstance(lot, str) or not lot.strip():
                raise CaseError(f"history[{i}].lot must be a non-empty string")
            if isinstance(series, str) and isinstance(day, str):
                lots[(series.strip(), date.fromisoformat(day))] = lot.strip()
    return lots


@vaccination_app.command("certificate")
def certificate_command(
    person_id: Annotated[str, typer.Argument(help="the person's id in this installation")],
    out_dir: OutDir = None,
    base_url: BaseUrl = None,
) -> None:
    """Sign a certificate of the doses in a person's linked records, as of today (audited).

    Prints {"person_id", "certificate", "url", "certificate_id", "key_id", "doses",
    "unreadable", "files"} on stdout.
    """
    from carematch.core.config import get_settings
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade
    from carematch.security.authz import Principal
    from carematch.vaccination import service

    configure_logging(get_settings().log_level)
    upgrade()
    operator = Principal(user_id="cli", username="cli", role="admin", region_code=None)
    try:
        with session_scope() as session:
            issued = service.issue_person_certificate(
                session, operator, person_id, base_url=base_url
            )
            # Written inside the unit of work: if the files cannot be written, the audit entry
            # of a certificate nobody received is rolled back with it.
            files = _write_certificate(out_dir, issued.encoded, issued.content, issued.url)
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    except OSError as exc:
        raise _fail(f"cannot write the certificate: {exc.strerror or exc}") from None
    out = {
        "person_id": issued.person_id,
        **_issued_json(issued.encoded, issued.content, issued.url, files),
        "unreadable": list(issued.unreadable),
    }
    typer.echo(json.dumps(out, ensure_ascii=False))


def _write_certificate(
    out_dir: Path | None, encoded: str, content: CertificateContent, url: str | None
) -> list[str]:
    """Write the certificate, its content and its QR (PNG, SVG) into ``out_dir``; the paths."""
    from carematch.vaccination import certificate

    if out_dir is None:
        certificate.qr_code(url or encoded)  # refuse a certificate no phone can read
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"vaccination-certificate-{content.certificate_id}"
    document = {"certificate": encoded, "url": url, **content.as_json()}
    paths = {
        ".txt": (encoded + "\n").encode("ascii"),
        ".json": json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8"),
        ".png": certificate.qr_png(url or encoded),
        ".svg": certificate.qr_svg(url or encoded).encode("utf-8"),
    }
    written = []
    for suffix, data in paths.items():
        path = stem.with_suffix(suffix)
        path.write_bytes(data)
        written.append(str(path))
    return written


def _issued_json(
    encoded: str, content: CertificateContent, url: str | None, files: list[str]
) -> dict[str, object]:
    return {
        "certificate": encoded,
        "url": url,
        "certificate_id": content.certificate_id,
        "key_id": content.key_id,
        "doses": len(content.doses),
        "files": files,
    }


@vaccination_app.command("check-rules")
def check_rules_command(
    prescreen: Annotated[
        Path | None, typer.Option(help="pre-screening table (default: the shipped one)")
    ] = None,
    followup: Annotated[
        Path | None, typer.Option(help="follow-up reminders (default: the shipped ones)")
    ] = None,
    aefi: Annotated[
        Path | None, typer.Option(help="AEFI rules (default: the shipped ones)")
    ] = None,
    schedule: Annotated[
        Path | None, typer.Option(help="schedule the files name series of (default: shipped)")
    ] = None,
) -> None:
    """Check the safety data files (pre-screening, follow-up, AEFI) before deploying them.

    Prints a JSON summary on stdout; a file that cannot be used stops with exit status 2 and
    every problem it has on stderr, so a health authority fixes them in one pass.
    """
    from carematch.core.errors import InvalidInput
    from carematch.vaccination import aefi as aefi_rules
    from carematch.vaccination import followup as followup_rules
    from carematch.vaccination import prescreen as prescreen_rules
    from carematch.vaccination.schedule import default_schedule, load_schedule

    try:
        plan = load_schedule(schedule) if schedule else default_schedule()
        table = (
            prescreen_rules.load_table(prescreen, plan)
            if prescreen
            else prescreen_rules.shipped_table(plan)
        )
        reminders = (
            followup_rules.parse_reminders(_yaml_file(followup), plan)
            if followup
            else followup_rules.shipped_reminders(plan)
        )
        rules = (
            aefi_rules.parse_rules(_yaml_file(aefi), plan)
            if aefi
            else aefi_rules.shipped_rules(plan)
        )
    except InvalidInput as exc:
        raise _fail(exc.detail) from None
    summary = {
        "schedule": plan.name,
        "prescreen": {"questions": len(table.questions), "rules": len(table.rules)},
        "followup": {"reminders": len(reminders)},
        "aefi": {"categories": len(rules.categories), "onset_windows": len(rules.onset_windows)},
    }
    sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")


def _yaml_file(path: Path) -> object:
    """A YAML file's content; an unreadable or malformed file is an InvalidInput."""
    import yaml

    from carematch.core.errors import InvalidInput

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read ({exc})") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({exc})") from None


@vaccination_app.command("quality")
def quality_command(
    since: Annotated[str, typer.Option("--from", help="first city day of the period, YYYY-MM-DD")],
    until: Annotated[str, typer.Option("--to", help="the day after the period, YYYY-MM-DD")],
    region: Annotated[str | None, typer.Option(help="a region code; everywhere by default")] = None,
    children: Annotated[
        bool, typer.Option(help="also the children's miss rate by hukou (reads every profile)")
    ] = True,
) -> None:
    """The vaccination quality indicators of a period (R-VX-7) as one JSON line: booking success
    rate, pre-screening outcomes and review agreement, waiting times, doses given, AEFI rate,
    children's miss rate by hukou."""
    from carematch.core.config import get_settings
    from carematch.core.db import session_scope
    from carematch.core.errors import CareMatchError
    from carematch.core.logging import configure_logging
    from carematch.core.migrate import upgrade
    from carematch.vaccination.quality import quality_indicators

    try:
        first, after = date.fromisoformat(since), date.fromisoformat(until)
    except ValueError as exc:
        raise _fail(f"--from and --to are dates YYYY-MM-DD: {exc}") from None
    configure_logging(get_settings().log_level)
    upgrade()
    try:
        with session_scope() as session:
            result = quality_indicators(
                session, first, after, region=region, with_children=children
            )
    except CareMatchError as exc:
        raise _fail(exc.detail) from None
    typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))

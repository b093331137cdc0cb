"""`carematch vaccination issue | certificate | verify | keys publish`: JSON out, exit codes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from carematch.cli import app
from carematch.core.config import get_settings
from carematch.core.db import session_scope
from carematch.security.models import AuditEntry
from tests.vaccination.test_api import build_world

runner = CliRunner()
HOLDER = {
    "name": "林小雨",
    "dob": "2021-05-15",
    "as_of": "2024-05-15",
    "history": [
        {"series": "HepB", "date": "2021-05-15", "lot": "L-2021-A"},
        {"series": "BCG", "date": "2021-05-16"},
        {"series": "HepB", "date": "2021-06-15"},
        {"series": "MMR", "date": "2030-01-01"},
    ],
}


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An installation directory of its own (its own signing key)."""
    return _use(tmp_path / "issuer", monkeypatch)


def _use(path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("CAREMATCH_DATA_DIR", str(path))
    get_settings.cache_clear()
    return path


def invoke(*args: str, stdin: str | bytes | None = None):
    return runner.invoke(app, ["vaccination", *args], input=stdin)


def issue_file(tmp_path: Path, holder: dict | None = None, *extra: str) -> dict:
    holder_file = tmp_path / "holder.json"
    holder_file.write_text(json.dumps(holder or HOLDER, ensure_ascii=False), encoding="utf-8")
    result = invoke("issue", str(holder_file), *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_issue_then_verify_with_the_installations_key(data_dir, tmp_path):
    # Given a certificate issued from a holder file, written out with its QR codes
    issued = issue_file(
        tmp_path, None, "--out-dir", str(tmp_path / "out"), "--base-url", "https://cm.example/"
    )
    assert issued["url"] == f"https://cm.example/verify?c={issued['certificate']}"
    assert issued["doses"] == 3  # the MMR dated 2030 is not given on 2024-05-15
    files = {Path(f).suffix: Path(f) for f in issued["files"]}
    assert set(files) == {".txt", ".json", ".png", ".svg"}
    assert files[".png"].read_bytes().startswith(b"\x89PNG")
    assert files[".svg"].read_text().startswith("<svg")
    assert json.loads(files[".json"].read_text())["certificate"] == issued["certificate"]
    # The signing key was made on first use, readable by its owner only.
    key_file = data_dir / "secrets" / "certificate-signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # When the written certificate is verified
    result = invoke("verify", str(files[".txt"]))

    # Then the verdict is valid, with the person and the doses as numbered by the schedule
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert (verdict["valid"], verdict["reason"]) == (True, None)
    assert verdict["certificate_id"] == issued["certificate_id"]
    assert verdict["key_id"] == issued["key_id"]
    assert verdict["person"] == {"name": "林小雨", "birth_date": "2021-05-15"}
    assert verdict["doses"] == [
        {"series": "BCG", "date": "2021-05-16", "dose": 1},
        {"series": "HepB", "date": "2021-05-15", "dose": 1, "lot": "L-2021-A"},
        {"series": "HepB", "date": "2021-06-15", "dose": 2},
    ]
    # The QR's URL, read from stdin, verifies too.
    from_url = invoke("verify", "-", stdin=issued["url"] + "\n")
    assert from_url.exit_code == 0 and json.loads(from_url.stdout)["valid"] is True


def test_a_verifier_elsewhere_needs_only_the_published_key(data_dir, tmp_path, monkeypatch):
    issued = issue_file(tmp_path)
    cert_file = tmp_path / "cert.txt"
    cert_file.write_text(issued["certificate"])
    published = invoke("keys", "publish", "--out", str(tmp_path / "pub" / "key.pem"))
    assert published.exit_code == 0, published.stderr
    assert json.loads(published.stdout) == {
        "key_id": issued["key_id"],
        "algorithm": "Ed25519",
        "out": str(tmp_path / "pub" / "key.pem"),
    }
    # Without --out the PEM itself goes to stdout.
    pem = invoke("keys", "publish")
    assert pem.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert pem.stdout == (tmp_path / "pub" / "key.pem").read_text()

    # Another installation (its own key) does not trust the certificate …
    _use(tmp_path / "elsewhere", monkeypatch)
    own_key = invoke("verify", str(cert_file))
    assert own_key.exit_code == 1
    assert json.loads(own_key.stdout)["reason"] == "unknown_key"
    assert "person" not in json.loads(own_key.stdout)
    # … but with the published key it does, offline.
    offline = invoke("verify", "--public-key", str(tmp_path / "pub" / "key.pem"), str(cert_file))
    assert offline.exit_code == 0, offline.output
    assert json.loads(offline.stdout)["valid"] is True


def test_a_tampered_certificate_exits_1_with_the_reason(data_dir, tmp_path):
    issued = issue_file(tmp_path)
    text = issued["certificate"]
    middle = len(text) // 2
    changed = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
    cases = {
        "bad_signature": changed,
        "malformed": "hello, this is not a certificate",
        "unsupported_version": "B" + text[1:],
    }
    for reason, body in cases.items():
        result = invoke("verify", "-", stdin=body)
        assert result.exit_code == 1, (reason, result.output)
        verdict = json.loads(result.stdout)
        assert (verdict["valid"], verdict["reason"]) == (False, reason)
        assert verdict["detail"]
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = invoke("verify", str(binary))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["reason"] == "malformed"


def test_usage_errors_exit_2(data_dir, tmp_path):
    assert invoke("verify", str(tmp_path / "missing.txt")).exit_code == 2
    assert invoke("verify").exit_code == 2
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    bad_key = invoke("verify", "--public-key", str(not_a_key), "-", stdin="x")
    assert bad_key.exit_code == 2
    assert "not a PEM public key" in bad_key.stderr
    missing_key = invoke("verify", "--public-key", str(tmp_path / "none.pem"), "-", stdin="x")
    assert missing_key.exit_code == 2
    # A broken holder file, or one without a name, is a usage error too.
    for holder in ("[]", "{not json", json.dumps({**HOLDER, "name": " "})):
        (tmp_path / "h.json").write_text(holder)
        assert invoke("issue", str(tmp_path / "h.json")).exit_code == 2, holder
    (tmp_path / "h.json").write_text(json.dumps({**HOLDER, "dob": "2021-02-30"}))
    result = invoke("issue", str(tmp_path / "h.json"))
    assert result.exit_code == 2
    assert "dob" in result.stderr


def test_a_broken_signing_key_file_is_a_usage_error_not_a_traceback(data_dir, tmp_path):
    secrets = data_dir / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "certificate-signing.key").write_text("c2hvcnQ=")  # "short": 5 bytes
    published = invoke("keys", "publish")
    assert published.exit_code == 2
    assert "32 bytes" in published.stderr
    assert invoke("verify", "-", stdin="x").exit_code == 2


def test_certificate_for_a_person_in_the_database(sqlite_env, tmp_path):
    world = build_world(tmp_path)

    result = invoke(
        "certificate",
        world.child_d1,
        "--out-dir",
        str(tmp_path / "out"),
        "--base-url",
        "https://cm.example",
    )

    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout)
    assert issued["person_id"] == world.child_d1
    assert issued["unreadable"] == ["junk"]
    # HepB ×3 (one not counted), BCG, MMR, Flu (outside the schedule): six doses given.
    assert issued["doses"] == 6
    verdict = invoke("verify", issued["files"][0])
    assert verdict.exit_code == 0, verdict.output
    body = json.loads(verdict.stdout)
    assert body["person"] == {"name": "林小雨", "birth_date": "2021-05-15"}
    # The issue is audited, naming the certificate and never its content.
    with session_scope() as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "issue_vaccination_certificate")
            .order_by(AuditEntry.seq.desc())
        ).first()
    assert entry is not None
    assert (entry.actor, entry.entity_id) == ("cli", world.child_d1)
    assert json.loads(entry.detail)["certificate_id"] == issued["certificate_id"]
    assert "林" not in entry.detail

    unknown = invoke("certificate", "P-nobody")
    assert unknown.exit_code == 2
    assert "no person" in unknown.stderr
    # A refused request writes nothing.
    assert sorted(os.listdir(tmp_path / "out")) == sorted(Path(f).name for f in issued["files"])

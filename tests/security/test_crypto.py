"""Field encryption, blind indexes and keys."""

from __future__ import annotations

from datetime import date

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from carematch.core.db import dispose_engines
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.security.crypto import FieldCipher, current_cipher
from tests.fixtures.factories import POLICE_HEADER, make_id, police_row, write_extract

CIPHER = FieldCipher(b"k" * 32)


@given(st.text(max_size=200))
def test_encrypt_then_decrypt_returns_the_plaintext(value: str):
    assert CIPHER.decrypt(CIPHER.encrypt(value)) == value


def test_same_value_encrypts_differently_but_indexes_equal():
    a, b = CIPHER.encrypt("13800138000"), CIPHER.encrypt("13800138000")
    assert a != b
    assert CIPHER.blind_index("13800138000", "phone") == CIPHER.blind_index("13800138000", "phone")
    assert CIPHER.blind_index("13800138000", "phone") != CIPHER.blind_index("13800138000", "id")


def test_tampered_ciphertext_is_refused():
    token = CIPHER.encrypt("secret")
    version, body = token.split(":")
    tampered = f"{version}:{body[:-4]}AAAA"
    with pytest.raises(InvalidTag):
        CIPHER.decrypt(tampered)


def test_other_key_cannot_decrypt():
    with pytest.raises(InvalidTag):
        FieldCipher(b"z" * 32).decrypt(CIPHER.encrypt("secret"))


def test_key_file_is_created_once_with_private_mode(sqlite_env):
    first = current_cipher()
    key_file = sqlite_env.data_dir / "secrets" / "field.key"
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o077 == 0
    assert (
        FieldCipher(__import__("base64").b64decode(key_file.read_text())).decrypt(
            first.encrypt("x")
        )
        == "x"
    )


def test_no_plaintext_id_number_phone_or_name_in_the_sqlite_file(sqlite_env, tmp_path):
    from carematch.core.db import session_scope

    ids = [make_id("449901", date(1980 + i, 1 + i, 10 + i), 11 + 10 * i, "M") for i in range(5)]
    rows = [
        police_row(
            f"P{i}",
            "欧阳明远",
            ids[i],
            "449901001001",
            born=f"{1980 + i}-{1 + i:02d}-{10 + i}",
            phone=f"1390000{i:04d}",
        )
        for i in range(5)
    ]
    rows.append(
        police_row("BAD", "欧阳明远", ids[0], "449901001001", born="1980-02-31")
    )  # quarantined
    write_extract(tmp_path / "p.csv", POLICE_HEADER, rows)
    with session_scope() as session:
        ingest_file(session, "police", tmp_path / "p.csv")
        build_persons_exact(session)
    with session_scope() as session:
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    dispose_engines()

    blob = b"".join(p.read_bytes() for p in sqlite_env.data_dir.glob("carematch.db*"))
    assert len(blob) > 10_000
    for id_number in ids:
        assert id_number.encode() not in blob
    assert b"13900000001" not in blob
    assert "欧阳明远".encode() not in blob
    assert "欧阳明远".encode("gb18030") not in blob


def test_no_generated_id_number_or_phone_appears_in_the_database_file(sqlite_env, tmp_path):
    """Load a whole generated city; not one of its ID numbers or phones is stored in clear."""
    import csv

    from carematch.cli import load_city
    from carematch.identity.ingest import normalise_phone
    from carematch.synth import generate_city

    city = tmp_path / "city"
    generate_city(residents=300, seed=5, out=city)
    load_city(city)
    dispose_engines()

    secrets: set[str] = set()
    for source in ("police", "ehr", "insurance", "poverty", "immunization", "social_security"):
        with (city / f"{source}.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for field in ("id_number", "phone"):
                    value = (row.get(field) or "").strip()
                    if len(value) >= 11:
                        secrets.add(value)
                        if field == "phone":
                            secrets.add(normalise_phone(value)[0])
    assert len(secrets) > 300
    blob = b"".join(p.read_bytes() for p in sqlite_env.data_dir.glob("carematch.db*"))
    leaked = [s for s in secrets if s.encode() in blob]
    assert leaked == []

"""De-identified exports: no identifier leaves, every combination is shared by ≥ k persons."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from carematch.cli import app
from carematch.core.db import session_scope
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.security.deidentify import (
    DIRECT_IDENTIFIERS,
    KAnonymityNotReached,
    combination_counts,
    deidentify,
)
from carematch.security.models import AuditEntry
from carematch.synth import generate_city

runner = CliRunner()
COMMUNITIES = ["449901001001", "449901001002", "449901002001", "449902001001"]

person = st.fixed_dictionaries(
    {
        "age": st.integers(0, 99),
        "sex": st.sampled_from(["M", "F"]),
        "community": st.sampled_from(COMMUNITIES),
        "hukou": st.sampled_from(["local", "migrant", None]),
        "occupation": st.sampled_from(["delivery", "office", "retired"]),
        "sbp": st.integers(90, 190),
        "last_followup": st.dates(date(2024, 1, 1), date(2026, 12, 31)),
    }
)


def table_of(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"person_id": f"P{i}", "name": f"name{i}", "phone": "13800000000", **row}
            for i, row in enumerate(rows)
        ]
    )


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(person, min_size=1, max_size=60), k=st.integers(2, 6))
def test_every_released_combination_is_shared_by_at_least_k(rows, k):
    # Given a random small table with identifiers, when it is de-identified,
    try:
        released = deidentify(table_of(rows), k, max_suppressed=0.1)
    except KAnonymityNotReached:
        # then it is refused only when no release can have k: withholding every
        # quasi-identifier makes one combination of all rows, so that is when rows < k
        assert len(rows) < k
        return
    assert len(rows) >= k
    table = released.table
    quasi = list(released.levels)
    # or no direct identifier is left, every combination holds ≥ k rows, and the counts add up
    assert not DIRECT_IDENTIFIERS & set(table.column_names)
    assert "age" not in table.column_names and "community" not in table.column_names
    counts = combination_counts(table, quasi)
    assert min(counts.values()) >= k
    assert released.k_achieved == min(counts.values())
    assert table.num_rows + released.suppressed == len(rows)
    assert released.suppressed <= int(0.1 * len(rows))
    # and dates are months only
    assert all(len(v) == 7 for v in table.column("last_followup").to_pylist())


def test_quasi_identifiers_widen_only_as_far_as_k_needs():
    # 40 persons: 20 aged 41-42 and 20 aged 61-62 in two communities of one street
    rows = [
        {"age": 41 + i % 2, "sex": "F", "community": COMMUNITIES[i % 2], "hukou": "local"}
        for i in range(20)
    ] + [
        {"age": 61 + i % 2, "sex": "M", "community": COMMUNITIES[i % 2], "hukou": "migrant"}
        for i in range(20)
    ]
    loose = deidentify(table_of(rows), 5)
    assert loose.levels == {
        "age_band": "5 years",
        "sex": "value",
        "area": "community",
        "hukou": "value",
    }
    assert loose.k_achieved == 10 and loose.suppressed == 0
    # k = 20 needs the two communities merged into their street, and nothing more
    tight = deidentify(table_of(rows), 20)
    assert tight.levels["area"] == "street" and tight.levels["age_band"] == "5 years"
    assert set(tight.table.column("area").to_pylist()) == {"449901001"}
    assert tight.k_achieved == 20


def test_a_release_below_k_is_refused():
    rows = [{"age": 30, "sex": "M", "community": COMMUNITIES[0], "hukou": "local"}] * 4
    with pytest.raises(KAnonymityNotReached, match="only 4 rows"):
        deidentify(table_of(rows), 5)
    # With 9 rows and k = 5 one small cell remains unless it is suppressed (no budget here)
    mixed = rows + [{"age": 30, "sex": "F", "community": COMMUNITIES[0], "hukou": None}] * 5
    assert deidentify(table_of(mixed), 4, max_suppressed=0).k_achieved >= 4
    with pytest.raises(KAnonymityNotReached) as refused:
        deidentify(table_of(mixed), 10, max_suppressed=0)
    assert refused.value.status == 409


@pytest.fixture(scope="module")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("deid") / "city"
    generate_city(residents=300, seed=808, out=path)
    return path


def test_the_export_command_writes_a_k_anonymous_file_and_audits_it(
    sqlite_env, small_city, tmp_path
):
    # Given a loaded city
    with session_scope() as session:
        for source in ("police", "ehr", "survey"):
            ingest_file(session, source, small_city / f"{source}.csv")
        build_persons_exact(session)
    as_of = json.loads((small_city / "manifest.json").read_text())["as_of"]
    out = tmp_path / "release" / "features.csv"
    # When it is exported at k = 5
    result = runner.invoke(
        app, ["export", "deidentified", "--out", str(out), "--k", "5", "--as-of", as_of]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # Then the file has the summary's rows, no identifier, and ≥ 5 persons per combination
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary["rows"] > 200
    assert summary["k_achieved"] >= 5 and summary["k_requested"] == 5
    assert not DIRECT_IDENTIFIERS & set(rows[0])
    quasi = summary["quasi_identifiers"]
    combos = Counter(tuple(r[c] for c in quasi) for r in rows)
    assert min(combos.values()) == summary["k_achieved"]
    with session_scope() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "deidentified_export")
        ).one()
    assert json.loads(entry.detail)["k_achieved"] == summary["k_achieved"]
    # And a k the city cannot give is refused without writing anything
    refused = tmp_path / "refused.csv"
    result = runner.invoke(
        app, ["export", "deidentified", "--out", str(refused), "--k", "100000", "--as-of", as_of]
    )
    assert result.exit_code == 3
    assert "nothing was written" in result.stderr
    assert not refused.exists()

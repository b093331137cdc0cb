"""The ingest schemas and the generator's extracts describe the same columns."""

from __future__ import annotations

import csv

import pytest

from carematch.identity.sources import SOURCES
from carematch.synth import generate_city


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("city")
    generate_city(residents=400, seed=11, out=out)
    return out


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_generated_column_has_a_schema(city, source):
    with (city / f"{source}.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    schema = SOURCES[source]
    unknown = [c for c in header if c != "record_id" and schema.column(c) is None]
    assert header[0] == "record_id"
    assert unknown == [], f"{source}: columns ingest would store unvalidated: {unknown}"


def test_a_generated_city_loads_without_quarantine(city, sqlite_env):
    from carematch.core.db import session_scope
    from carematch.identity.service import ingest_file

    with session_scope() as session:
        for source in sorted(SOURCES):
            summary = ingest_file(session, source, city / f"{source}.csv")
            assert summary.quarantined == 0, source
            assert summary.accepted == summary.rows > 0

"""A small generated city, read columnar through its true record → person mapping.

Generated once per test session (about a second): the features and tag tests compare the
pipeline with the generator's truth and the batch path with the online one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from carematch.profiling import extracts
from carematch.profiling.features import compute_features
from carematch.synth import generate_city
from carematch.vaccination.forecast import count_overdue_batch
from carematch.vaccination.schedule import default_schedule

RESIDENTS = 3_000
SEED = 2604


def count_overdue(as_of: date, births, doses) -> list[int]:
    """The vaccination forecaster's batch count, as the profiling service passes it."""
    return count_overdue_batch(default_schedule(), as_of, births, doses)


@dataclass(frozen=True, repr=False)  # hypothesis prints fixtures: keep it short
class City:
    """A generated city: its directory, the pipeline's inputs and output, and its truth."""

    path: Path
    as_of: date
    manifest: dict
    persons: pa.Table
    sources: dict[str, pa.Table]
    features: pa.Table
    truth: pa.Table
    households: pa.Table
    records: pa.Table


def _truth(path: Path, text: tuple[str, ...]) -> pa.Table:
    names = pacsv.read_csv(path).column_names
    types = {n: pa.string() for n in names if n in text or n.endswith("_id")}
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    path = tmp_path_factory.mktemp("profiling") / "city"
    generate_city(residents=RESIDENTS, seed=SEED, out=path)
    manifest = json.loads((path / "manifest.json").read_text())
    as_of = date.fromisoformat(manifest["as_of"])
    records = extracts.read_mapping(path / "truth" / "records.csv")
    persons, sources = extracts.read_city(path, records)
    return City(
        path=path,
        as_of=as_of,
        manifest=manifest,
        persons=persons,
        sources=sources,
        features=compute_features(persons, sources, as_of, count_overdue),
        truth=_truth(
            path / "truth" / "persons.csv",
            ("origin_province", "community_code", "phone", "id_number", "conditions"),
        ),
        households=_truth(path / "truth" / "households.csv", ("community_code",)),
        records=records,
    )

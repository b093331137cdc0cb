"""Shared fixtures of the provider tests: one small generated city, CSV writers, users."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from carematch.core.db import session_scope
from carematch.core.regions import load_regions
from carematch.security.service import create_user
from carematch.synth import generate_city

PASSWORD = "correct-horse-battery"
PROVIDER_HEADER = [
    "provider_id",
    "name",
    "kind",
    "ownership",
    "community_code",
    "lat",
    "lon",
    "opening_hours",
    "languages",
    "capabilities",
]


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated city (the registry does not depend on the number of residents)."""
    out = tmp_path_factory.mktemp("city")
    generate_city(residents=300, seed=7, out=out)
    return out


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The data rows of a CSV as dicts."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """Write a CSV with a header; cells are quoted where needed."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def provider_row(
    pid: str,
    *,
    kind: str = "community_health_centre",
    community: str = "449901001001",
    lat: object = 23.1,
    lon: object = 113.3,
    hours: str = "Mo-Fr 08:00-17:00",
    name: str | None = None,
) -> list[object]:
    """A valid providers.csv row (PROVIDER_HEADER order) unless a keyword makes it invalid."""
    return [pid, name or f"机构{pid}", kind, "government", community, lat, lon, hours, "zh", ""]


@pytest.fixture
def regions_loaded(env, city: Path) -> None:
    """The generated city's region tree in the installation's database."""
    with session_scope() as session:
        load_regions(session, city / "regions.csv")


@pytest.fixture
def users(env) -> None:
    """An admin, an official of each of two districts, a doctor and a resident."""
    with session_scope() as session:
        create_user(session, "admin1", "admin", PASSWORD)
        create_user(session, "official_d1", "official", PASSWORD, "449901")
        create_user(session, "official_d2", "official", PASSWORD, "449902")
        create_user(session, "doctor_d1", "doctor", PASSWORD, "449901")
        create_user(session, "resident1", "resident", PASSWORD)

"""Shared fixtures of the provider tests: one small generated city, CSV writers, users."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from carematch.core.db import session_scope
from carematch.core.regions import load_regions
from carematch.security.service import create_user
from carematch.security.tokens import issue_token
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


USERS = {
    "admin1": ("admin", None),
    "official_d1": ("official", "449901"),
    "doctor_d1": ("doctor", "449901"),
    "resident1": ("resident", None),
}


def bearer(*usernames: str) -> list[dict[str, str]]:
    """Create these users (see USERS) and return an Authorization header for each.

    Tokens are issued directly: signing in is tested by the security domain, and each password
    check costs an argon2 hash.
    """
    headers = []
    with session_scope() as session:
        for name in usernames:
            role, region = USERS[name]
            user = create_user(session, name, role, PASSWORD, region)
            access, _ = issue_token(user.id, user.role, user.region_code)
            headers.append({"Authorization": f"Bearer {access}"})
    return headers

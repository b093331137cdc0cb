"""A small two-district city, users of every kind and a signed-in browser stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carematch.core.db import session_scope
from carematch.core.regions import load_regions
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.security.service import create_user
from tests.fixtures.env import Installation
from tests.fixtures.factories import POLICE_HEADER, make_id, police_row, write_extract

PASSWORD = "web-test-password"
BAIYUN, JIANGNAN = "449901", "449902"
BAIYUN_COMMUNITY, JIANGNAN_COMMUNITY = "449901001001", "449902001001"

REGIONS = """code,name,name_en,level,parent_code,kind,lat,lon
440000,广东省,Guangdong Province,province,,,,
449900,江城市,Jiangcheng City,city,440000,,,
449901,白云区,Baiyun District,district,449900,,23.16,113.27
449902,江南区,Jiangnan District,district,449900,,23.06,113.25
449901001,云山街道,Yunshan Subdistrict,street,449901,,,
449902001,江南街道,Jiangnan Subdistrict,street,449902,,,
449901001001,云山社区,Yunshan Community,community,449901001,urban,,
449902001001,江湾社区,Jiangwan Community,community,449902001,urban,,
"""

# (record id, full name, community, hukou, birth date): full names are long and unusual so a
# test can prove that no page ever prints one unmasked.
RESIDENTS = [
    ("P1", "欧阳明华", BAIYUN_COMMUNITY, "local", date(1950, 3, 1)),
    ("P2", "司马秀英", BAIYUN_COMMUNITY, "local", date(1962, 7, 9)),
    ("P3", "诸葛建国", BAIYUN_COMMUNITY, "migrant", date(1990, 1, 5)),
    ("P4", "上官丽娟", JIANGNAN_COMMUNITY, "migrant", date(1985, 5, 20)),
    ("P5", "皇甫志强", JIANGNAN_COMMUNITY, "local", date(1978, 11, 30)),
]
EHR_HEADER = "record_id,name,id_number,sex,birth_date,phone,address,community_code"


@dataclass(frozen=True)
class City:
    """What the small city holds, so tests can state the counts they expect."""

    counts: dict[str, dict[str, int]]
    full_names: tuple[str, ...]


def _square(code: str, name: str, name_en: str, lon: float, lat: float) -> dict:
    ring = [[lon, lat], [lon + 0.1, lat], [lon + 0.1, lat + 0.1], [lon, lat + 0.1], [lon, lat]]
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "name_en": name_en},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def write_city_files(city_dir: Path) -> None:
    """regions.csv and districts.geojson as the generator writes them (two districts)."""
    city_dir.mkdir(parents=True, exist_ok=True)
    (city_dir / "regions.csv").write_text(REGIONS, encoding="utf-8")
    shapes = {
        "type": "FeatureCollection",
        "features": [
            _square(BAIYUN, "白云区", "Baiyun District", 113.2, 23.1),
            _square(JIANGNAN, "江南区", "Jiangnan District", 113.2, 23.0),
        ],
    }
    (city_dir / "districts.geojson").write_text(json.dumps(shapes), encoding="utf-8")


@pytest.fixture
def city(env: Installation, tmp_path: Path) -> City:
    """Load the small city: 3 residents in 白云区 (1 migrant), 2 in 江南区 (1 migrant)."""
    city_dir = env.data_dir / "city"
    write_city_files(city_dir)
    police, ehr = [], []
    for i, (rid, name, community, hukou, born) in enumerate(RESIDENTS, start=1):
        id_number = make_id(community[:6], born, i * 10 + 1, "M")
        police.append(police_row(rid, name, id_number, community, born=f"{born}", hukou=hukou))
        if rid == "P1":
            # A second source record for the same person: records ≠ persons in 白云区.
            ehr.append(f"E1,{name},{id_number},M,{born},13800138000,江城市云山路1号,{community}")
    police_path = write_extract(tmp_path / "police.csv", POLICE_HEADER, police)
    ehr_path = write_extract(tmp_path / "ehr.csv", EHR_HEADER, ehr)
    with session_scope() as session:
        load_regions(session, city_dir / "regions.csv")
    with session_scope() as session:
        assert ingest_file(session, "police", police_path).accepted == len(RESIDENTS)
    with session_scope() as session:
        assert ingest_file(session, "ehr", ehr_path).accepted == 1
    with session_scope() as session:
        build_persons_exact(session)
    return City(
        counts={
            BAIYUN: {"persons": 3, "migrants": 1, "records": 4},
            JIANGNAN: {"persons": 2, "migrants": 1, "records": 2},
        },
        full_names=tuple(r[1] for r in RESIDENTS),
    )


USERS = {
    "admin": ("admin", None),
    "official": ("official", "449900"),
    "baiyun_official": ("official", BAIYUN),
    "doctor": ("doctor", BAIYUN),
    "grid": ("grid_worker", BAIYUN_COMMUNITY),
    "resident": ("resident", None),
}


@pytest.fixture
def accounts(env: Installation) -> Callable[[str], str]:
    """Create one of USERS on first use (password PASSWORD); returns the username.

    Lazily, because hashing a password takes a tenth of a second and most tests need one user.
    """
    created: set[str] = set()

    def account(username: str) -> str:
        if username not in created:
            role, region = USERS[username]
            with session_scope() as session:
                create_user(session, username, role, PASSWORD, region)
            created.add(username)
        return username

    return account


def login(client: TestClient, username: str, password: str = PASSWORD):
    """Post the login form the way a browser does; returns the (unfollowed) response."""
    return client.post(
        "/login",
        data={"username": username, "password": password},
        follow_redirects=False,
    )


@pytest.fixture
def signed_in(client: TestClient, accounts: Callable[[str], str]) -> Callable[[str], TestClient]:
    """A function that signs the test client in as one of USERS."""

    def sign_in(username: str) -> TestClient:
        response = login(client, accounts(username))
        assert response.status_code == 303, response.text
        return client

    return sign_in

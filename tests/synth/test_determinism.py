"""Same seed, same bytes; another seed, another city (on the same map)."""

from __future__ import annotations

import hashlib
import pathlib

import pytest

from carematch.synth import generate_city
from tests.synth.support import City

RESIDENTS = 3_000


def digests(root: pathlib.Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    out = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        root = tmp_path_factory.mktemp(f"city-{name}")
        generate_city(RESIDENTS, seed, root)
        out[name] = digests(root)
    return out


def test_same_seed_gives_identical_files(runs: dict[str, dict[str, str]]) -> None:
    assert len(runs["a"]) >= 20
    assert runs["a"] == runs["b"]


def test_another_seed_gives_other_residents(runs: dict[str, dict[str, str]]) -> None:
    assert runs["a"].keys() == runs["c"].keys()
    changed = {name for name in runs["a"] if runs["a"][name] != runs["c"][name]}
    for name in ("police.csv", "ehr.csv", "insurance.csv", "truth/persons.csv", "manifest.json"):
        assert name in changed
    # The city itself (its map and reference files) does not depend on the seed.
    for name in ("regions.csv", "districts.geojson", "services.yaml", "nip_schedule.yaml"):
        assert name not in changed


def test_progress_is_reported_per_stage(city: City) -> None:
    stages = [s for s, _ in city.stages]
    for stage in ("regions", "population", "health", "providers", "extracts", "truth"):
        assert stage in stages
    assert all(0.0 <= f <= 1.0 for _, f in city.stages)
    assert city.stages[-1] == ("truth", 1.0)


def test_at_least_one_resident_is_required(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        generate_city(0, 1, tmp_path)

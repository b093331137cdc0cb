"""One generated city per test session, shared by the synth tests (generation takes ~1 s)."""

from __future__ import annotations

import pytest

from carematch.synth import generate_city
from tests.synth.support import City

RESIDENTS = 20_000
SEED = 20_260_630


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    """A 20,000-resident city (the size at which the requirements' figures are checked)."""
    out = tmp_path_factory.mktemp("city")
    stages: list[tuple[str, float]] = []
    summary = generate_city(RESIDENTS, SEED, out, progress=lambda s, f: stages.append((s, f)))
    return City(out, summary, stages)

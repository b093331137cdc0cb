"""docs/data-dictionary.md documents every column of every file, and the noise rates in use."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from tests.synth.support import City, header

DICTIONARY = pathlib.Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"


def documented_columns() -> dict[str, list[str]]:
    """File name → column names listed in the first column of its table."""
    columns: dict[str, list[str]] = {}
    current = None
    for line in DICTIONARY.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `([\w/.]+\.csv)`", line)
        if heading:
            current = heading[1]
            columns[current] = []
            continue
        if line.startswith("#"):
            current = None
        if current and line.startswith("| `"):
            first_cell = line.split("|")[1]
            columns[current] += re.findall(r"`(\w+)`", first_cell)
    return columns


def test_every_csv_is_documented_column_by_column(city: City) -> None:
    documented = documented_columns()
    files = sorted(str(p.relative_to(city.root)) for p in city.root.rglob("*.csv"))
    assert sorted(documented) == files
    for name in files:
        assert documented[name] == header(city.root / name), name


def test_noise_table_matches_the_manifest(city: City) -> None:
    noise = json.loads((city.root / "manifest.json").read_text(encoding="utf-8"))["noise"]
    text = DICTIONARY.read_text(encoding="utf-8")
    table = text[text.index("| noise | police") :].split("\n\n")[0].splitlines()
    sources = [c.strip() for c in table[0].split("|")[2:-1]]
    assert sources == list(noise)
    seen = set()
    for line in table[2:]:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        kind = cells[0].strip("`")
        for source, value in zip(sources, cells[1:], strict=True):
            spec = noise[source]
            if kind.startswith("birth_format_"):
                actual = spec["birth_formats"][kind.removeprefix("birth_format_")]
            else:
                actual = spec[kind]
            assert float(value) == pytest.approx(actual), (kind, source)
        seen.add(kind.split("birth_format_")[0] or "birth_formats")
    assert seen == set(noise["police"])

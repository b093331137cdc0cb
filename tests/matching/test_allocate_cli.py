"""`carematch match allocate`: the file contract, the flags, and bad input on stderr with exit 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics.pairwise import haversine_distances
from typer.testing import CliRunner

from carematch.cli import app

runner = CliRunner()
R = 6371.0088
KM = 1 / 111.195  # degrees of latitude per km on the allocation sphere

DEMANDS = """demand_id,service,lat,lon
child-1,vaccination_child,23.0,113.0
child-2,vaccination_child,23.0,113.0
elder-1,chronic_followup,23.0,113.0
far-away,vaccination_child,24.0,113.0
"""
# Clinic A is 1 km away with a 10-day wait and one slot; B is 3 km away with no wait.
PROVIDERS = f"""provider_id,service,lat,lon,capacity,wait_days
chc-a,vaccination_child,{23.0 + KM},113.0,1,10
chc-b,vaccination_child,{23.0 - 3 * KM},113.0,1,0
chc-a,chronic_followup,{23.0 + KM},113.0,2,0
"""


def write(tmp_path: Path, demands: str = DEMANDS, providers: str = PROVIDERS) -> list[str]:
    (tmp_path / "D.csv").write_text(demands, encoding="utf-8")
    (tmp_path / "P.csv").write_text(providers, encoding="utf-8")
    return [
        "match",
        "allocate",
        "--demands",
        str(tmp_path / "D.csv"),
        "--providers",
        str(tmp_path / "P.csv"),
        "--out",
        str(tmp_path / "out" / "A.csv"),
    ]


def read_out(tmp_path: Path) -> list[dict[str, str]]:
    with (tmp_path / "out" / "A.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["demand_id", "provider_id", "distance_km"]
        return list(reader)


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(haversine_distances(np.radians([a]), np.radians([b]))[0, 0] * R)


def test_every_demand_in_input_order_with_provider_and_distance(tmp_path):
    # Given two children for two single-slot clinics, an elder, and a child out of reach
    result = runner.invoke(app, write(tmp_path))
    # Then the command succeeds and prints its summary as JSON on stdout
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["demands"] == 4 and summary["assigned"] == 3 and summary["unassigned"] == 1
    rows = read_out(tmp_path)
    assert [r["demand_id"] for r in rows] == ["child-1", "child-2", "elder-1", "far-away"]
    # Both clinics are used (two children, one slot each); the elder goes to chc-a's other row
    assert sorted(r["provider_id"] for r in rows[:2]) == ["chc-a", "chc-b"]
    assert rows[2]["provider_id"] == "chc-a"
    assert rows[3] == {"demand_id": "far-away", "provider_id": "", "distance_km": ""}
    where = {"chc-a": (23.0 + KM, 113.0), "chc-b": (23.0 - 3 * KM, 113.0)}
    for r in rows[:3]:
        assert float(r["distance_km"]) == pytest.approx(
            km((23.0, 113.0), where[r["provider_id"]]), abs=1e-6
        )
    # The cost is the two distances plus half a day per day of wait (10 days at chc-a)
    assert summary["cost"] == pytest.approx(1 + 3 + 1 + 0.5 * 10, abs=1e-3)


def test_wait_weight_and_max_km_flags(tmp_path):
    one_child = "demand_id,service,lat,lon\nc,vaccination_child,23.0,113.0\n"
    args = write(tmp_path, demands=one_child)

    def chosen(*flags: str) -> str:
        result = runner.invoke(app, [*args, *flags])
        assert result.exit_code == 0, result.stderr
        return read_out(tmp_path)[0]["provider_id"]

    assert chosen() == "chc-b"  # 1 km + 0.5 × 10 days > 3 km
    assert chosen("--wait-weight", "0") == "chc-a"
    assert chosen("--max-km", "2") == "chc-a"
    assert chosen("--max-km", "0.5") == ""


def test_ids_are_kept_as_text(tmp_path):
    demands = "demand_id,service,lat,lon\n007,tb,23.0,113.0\nNA,tb,23.0,113.0\n"
    providers = "provider_id,service,lat,lon,capacity,wait_days\n0042,tb,23.0,113.0,5,0\n"
    result = runner.invoke(app, write(tmp_path, demands, providers))
    assert result.exit_code == 0, result.stderr
    rows = read_out(tmp_path)
    assert [(r["demand_id"], r["provider_id"]) for r in rows] == [("007", "0042"), ("NA", "0042")]


HEADER_P = "provider_id,service,lat,lon,capacity,wait_days\n"
HEADER_D = "demand_id,service,lat,lon\n"


@pytest.mark.parametrize(
    ("demands", "providers", "expected"),
    [
        ("", PROVIDERS, "D.csv is empty: expected a header demand_id,service,lat,lon"),
        (HEADER_D, PROVIDERS, "D.csv has a header but no rows"),
        (DEMANDS, HEADER_P, "P.csv has a header but no rows"),
        ("demand_id,service,lat\nx,tb,23\n", PROVIDERS, "D.csv lacks column(s) lon"),
        (DEMANDS, "provider_id,service,lat,lon\n", "P.csv lacks column(s) capacity, wait_days"),
        (
            HEADER_D + "a,tb,23,113\nb,tb,23,113\na,tb,23,113\n",
            PROVIDERS,
            "D.csv line 4 (demand_id 'a'): demand_id is already used by D.csv line 2",
        ),
        (
            DEMANDS,
            HEADER_P + "x,tb,23,113,1,0\nx,tb,23.1,113,2,0\n",
            "P.csv line 3 (provider_id 'x', service 'tb'): this provider is listed twice",
        ),
        (
            DEMANDS,
            HEADER_P + "x,tb,23,113,-2,0\n",
            "P.csv line 2 (provider_id 'x', service 'tb'): capacity must be a whole number ≥ 0",
        ),
        (DEMANDS, HEADER_P + "x,tb,23,113,1.5,0\n", "capacity must be a whole number ≥ 0"),
        (DEMANDS, HEADER_P + "x,tb,23,113,3,-1\n", "P.csv line 2 (provider_id 'x', service"),
        (HEADER_D + "a,tb,NaN,113\n", PROVIDERS, "D.csv line 2 (demand_id 'a'): lat must be"),
        (HEADER_D + "a,tb,,113\n", PROVIDERS, "D.csv line 2 (demand_id 'a'): lat must be"),
        (HEADER_D + "a,tb,23,113\nb,tb,123,113\n", PROVIDERS, "D.csv line 3 (demand_id 'b'): lat"),
        (
            DEMANDS,
            HEADER_P + "x,tb,23,190,1,0\n",
            "P.csv line 2 (provider_id 'x', service 'tb'): lon",
        ),
        (HEADER_D + "a,,23,113\n", PROVIDERS, "D.csv line 2 (demand_id 'a'): service is empty"),
        (HEADER_D + "a,tb\n", PROVIDERS, "D.csv line 2 (demand_id 'a'): lat must be"),
        (
            DEMANDS,
            HEADER_P + "x,tb,23,113,3,soon\n",
            "wait_days must be a finite number, got 'soon'",
        ),
    ],
)
def test_bad_files_exit_2_and_name_the_row(tmp_path, demands, providers, expected):
    result = runner.invoke(app, write(tmp_path, demands, providers))
    assert result.exit_code == 2
    assert expected in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "A.csv").exists()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--max-km", "0"], "max-km must be a finite number > 0, got 0.0"),
        (["--max-km", "nan"], "max-km must be a finite number > 0"),
        (["--wait-weight", "-1"], "wait-weight must be a finite number ≥ 0, got -1.0"),
    ],
)
def test_bad_parameters_exit_2(tmp_path, flags, expected):
    result = runner.invoke(app, [*write(tmp_path), *flags])
    assert result.exit_code == 2
    assert expected in result.stderr


def test_missing_input_file_exits_2(tmp_path):
    args = write(tmp_path)
    (tmp_path / "P.csv").unlink()
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "no such file" in result.stderr and "P.csv" in result.stderr


def test_missing_required_flag_is_a_usage_error(tmp_path):
    result = runner.invoke(app, write(tmp_path)[:-2])
    assert result.exit_code == 2
    assert "--out" in result.stderr

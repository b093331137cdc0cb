"""Loading and importing the registry on SQLite and PostgreSQL: counts, quarantine, reruns."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carematch.core.db import session_scope
from carematch.providers import service
from carematch.providers.errors import ProviderImportRejected
from carematch.providers.models import (
    Provider,
    ProviderHours,
    ProviderImportRun,
    ProviderQuarantine,
    ProviderService,
    VanStop,
)
from tests.providers.conftest import PROVIDER_HEADER, csv_rows, provider_row, write_csv

S_HEADER = ["provider_id", "service_code", "daily_capacity", "price", "insured_share"]
V_HEADER = ["provider_id", "weekday", "start_time", "end_time", "lat", "lon", "site_name"]


def count(model) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def load(city: Path) -> dict:
    with session_scope() as session:
        return service.load_providers(session, city).as_dict()


def test_loading_the_generated_city_stores_every_row_of_its_three_files(env, regions_loaded, city):
    providers = csv_rows(city / "providers.csv")
    offered = csv_rows(city / "provider_services.csv")
    stops = csv_rows(city / "van_stops.csv")
    summary = load(city)
    assert summary["files"] == {
        "providers": {"rows": len(providers), "accepted": len(providers), "quarantined": 0},
        "services": {"rows": len(offered), "accepted": len(offered), "quarantined": 0},
        "van_stops": {"rows": len(stops), "accepted": len(stops), "quarantined": 0},
    }
    assert summary["new"] == len(providers)
    assert count(Provider) == len(providers)
    assert count(ProviderService) == len(offered)
    assert count(VanStop) == len(stops)
    with session_scope() as session:
        first = csv_rows(city / "providers.csv")[3]
        view = service.get_provider(session, first["provider_id"])
        assert view.provider.region_code == first["community_code"]
        assert view.provider.opening_hours == first["opening_hours"]
        assert view.evening_hours == (first["evening_hours"] == "true")
        assert view.weekend_hours == (first["weekend_hours"] == "true")
        row = next(r for r in offered if r["provider_id"] == first["provider_id"])
        stored = next(s for s in view.services if s.service_code == row["service_code"])
        assert stored.price == Decimal(row["price"])
        assert stored.daily_capacity == int(row["daily_capacity"])
        vans = {s["provider_id"] for s in stops}
        hours_of_vans = session.scalar(
            select(func.count())
            .select_from(ProviderHours)
            .where(ProviderHours.provider_id.in_(vans))
        )
        assert hours_of_vans == 0, "vans serve at their stops, not at opening hours"


def test_loading_twice_changes_nothing(env, regions_loaded, city):
    load(city)
    with session_scope() as session:
        before = {p.id: p.updated_at for p in session.scalars(select(Provider))}
    again = load(city)
    assert (again["new"], again["updated"]) == (0, 0)
    assert again["unchanged"] == len(before)
    with session_scope() as session:
        assert {p.id: p.updated_at for p in session.scalars(select(Provider))} == before
    assert count(ProviderService) == len(csv_rows(city / "provider_services.csv"))
    assert count(ProviderImportRun) == 2


def test_bad_rows_are_quarantined_with_reasons_once_however_often_imported(
    env, regions_loaded, tmp_path
):
    path = write_csv(
        tmp_path / "providers.csv",
        PROVIDER_HEADER,
        [
            provider_row("P1"),
            provider_row("P2", lat="north"),
            provider_row("P3", hours="Mo-Fr 08:00-25:00"),
            provider_row("P1", name="重复"),
        ],
    )
    services = write_csv(
        tmp_path / "services.csv",
        S_HEADER,
        [["P1", "tb_screening", 10, "0", "0"], ["P1", "x_ray_vision", 10, "0", "0"]],
    )
    for _ in range(2):
        with session_scope() as session:
            summary = service.import_providers(session, path, services=services).as_dict()
        assert (summary["rows"], summary["accepted"], summary["quarantined"]) == (6, 2, 4)
    with session_scope() as session:
        kept = session.scalars(select(ProviderQuarantine).order_by(ProviderQuarantine.line))
        by_line = {(q.file, q.line): q for q in kept}
    assert set(by_line) == {("providers", 3), ("providers", 4), ("providers", 5), ("services", 3)}
    reasons = {key: {r["code"] for r in json.loads(q.reasons)} for key, q in by_line.items()}
    assert reasons[("providers", 3)] == {"bad_lat"}
    assert reasons[("providers", 4)] == {"bad_hours"}
    assert reasons[("providers", 5)] == {"duplicate_id"}
    assert reasons[("services", 3)] == {"unknown_service"}
    assert by_line[("providers", 3)].raw.startswith("P2,")
    assert count(Provider) == 1


def test_a_changed_file_updates_only_what_changed(env, regions_loaded, tmp_path):
    rows = [provider_row("P1"), provider_row("P2"), provider_row("V1", kind="mobile_van")]
    path = write_csv(tmp_path / "p.csv", PROVIDER_HEADER, rows)
    offered = [["P1", "tb_screening", 10, "0", "0"], ["P2", "tb_screening", 10, "0", "0"]]
    services = write_csv(tmp_path / "s.csv", S_HEADER, offered)
    stops = write_csv(
        tmp_path / "v.csv", V_HEADER, [["V1", 1, "09:00", "12:00", 23.2, 113.4, "农贸市场"]]
    )
    with session_scope() as session:
        service.import_providers(session, path, services=services, stops=stops)

    offered[1][2] = 25  # P2's capacity changes
    write_csv(tmp_path / "s.csv", S_HEADER, offered)
    with session_scope() as session:
        summary = service.import_providers(session, path, services=services, stops=stops)
    assert (summary.new, summary.updated, summary.unchanged) == (0, 1, 2)
    with session_scope() as session:
        assert session.get(ProviderService, ("P2", "tb_screening")).daily_capacity == 25

    # The van becomes a fixed station: its stops go, opening hours come.
    rows[2] = provider_row("V1", kind="health_station", hours="Mo-Su 09:00-21:00")
    write_csv(tmp_path / "p.csv", PROVIDER_HEADER, rows)
    with session_scope() as session:
        service.import_providers(session, path)
    assert count(VanStop) == 0
    with session_scope() as session:
        assert len(service.get_provider(session, "V1").hours) == 7
        # A providers file without services left P1's services alone.
        assert session.get(ProviderService, ("P1", "tb_screening")) is not None


def test_the_services_file_is_the_truth_for_the_providers_it_names(env, regions_loaded, tmp_path):
    path = write_csv(tmp_path / "p.csv", PROVIDER_HEADER, [provider_row("P1")])
    two = [["P1", "tb_screening", 10, "0", "0"], ["P1", "hiv_testing", 5, "0", "0"]]
    with session_scope() as session:
        service.import_providers(
            session, path, services=write_csv(tmp_path / "s.csv", S_HEADER, two)
        )
    with session_scope() as session:
        service.import_providers(
            session, path, services=write_csv(tmp_path / "s.csv", S_HEADER, two[:1])
        )
    with session_scope() as session:
        assert [s.service_code for s in service.get_provider(session, "P1").services] == [
            "tb_screening"
        ]


def test_missing_files_and_columns_are_refused_whole(env, tmp_path):
    with session_scope() as session, pytest.raises(ProviderImportRejected, match=r"providers\.csv"):
        service.load_providers(session, tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("provider_id,name\nP1,x\n", encoding="utf-8")
    with session_scope() as session, pytest.raises(ProviderImportRejected, match="kind"):
        service.import_providers(session, bad)
    assert count(ProviderImportRun) == 0


def test_the_service_map_follows_the_registry(env, regions_loaded, tmp_path):
    wednesday_10 = datetime(2026, 7, 1, 10, 0)
    path = write_csv(tmp_path / "p.csv", PROVIDER_HEADER, [provider_row("P1")])
    offered = write_csv(tmp_path / "s.csv", S_HEADER, [["P1", "tb_screening", 10, "0", "0"]])
    with session_scope() as session:
        service.import_providers(session, path, services=offered)
    with session_scope() as session:
        first = service.registry(session)
        assert service.registry(session) is first, "built once, reused while nothing changes"
        assert [
            n.provider.id
            for n in service.nearest(session, "tb_screening", 23.1, 113.3, wednesday_10)
        ] == ["P1"]
    rows = [provider_row("P1"), provider_row("P2", lat=23.2)]
    write_csv(tmp_path / "p.csv", PROVIDER_HEADER, rows)
    write_csv(
        tmp_path / "s.csv",
        S_HEADER,
        [["P1", "tb_screening", 10, "0", "0"], ["P2", "tb_screening", 10, "0", "0"]],
    )
    with session_scope() as session:
        service.import_providers(session, path, services=offered)
    with session_scope() as session:
        assert service.registry(session) is not first
        found = service.nearest(session, "tb_screening", 23.2, 113.3, wednesday_10)
        assert [n.provider.id for n in found] == ["P2", "P1"]

"""Validating provider files without a database: every rule, every reason, nothing dropped."""

from __future__ import annotations

import pytest

from carematch.providers.ingest import (
    PROVIDERS_FILE,
    SERVICES_FILE,
    STOPS_FILE,
    ImportFileError,
    Known,
    parse_csv,
    validate,
)
from carematch.synth.providers import CAPABILITIES as GENERATED_CAPABILITIES
from carematch.synth.providers import PROVIDER_KINDS as GENERATED_KINDS

REGIONS = frozenset({"449901", "449901001", "449901001001", "449902", "449902001001"})
KNOWN = Known(regions=REGIONS)
P_HEADER = "provider_id,name,kind,community_code,lat,lon,opening_hours"
S_HEADER = "provider_id,service_code,daily_capacity,price,insured_share"
V_HEADER = "provider_id,weekday,start_time,end_time,lat,lon,site_name"


def csv_of(name: str, header: str, *rows: str) -> object:
    return parse_csv(("\n".join([header, *rows]) + "\n").encode(), name)


def providers(*rows: str, header: str = P_HEADER):
    return csv_of(PROVIDERS_FILE, header, *rows)


def reasons(batch, file: str) -> dict[int, set[str]]:
    """line → reason codes of the rejected rows of one file."""
    return {r.line: {x["code"] for x in r.reasons} for r in batch.rejected if r.file == file}


GOOD = 'P1,云山社区卫生服务中心,community_health_centre,449901001001,23.1,113.3,"Mo-Fr 08:00-17:00"'


def test_a_valid_row_is_read_into_typed_fields():
    batch = validate(providers(GOOD), None, None, KNOWN)
    [entry] = batch.providers
    assert (entry.provider_id, entry.kind, entry.region_code) == (
        "P1",
        "community_health_centre",
        "449901001001",
    )
    assert entry.hours.is_open(9 * 3600) and entry.active
    assert batch.counts(PROVIDERS_FILE) == {"rows": 1, "accepted": 1, "quarantined": 0}


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ("P2,诊所,community_health_centre,449901001001,91,113.3,", "bad_lat"),
        ("P2,诊所,community_health_centre,449901001001,23.1,abc,", "bad_lon"),
        ("P2,诊所,community_health_centre,449901001001,nan,113.3,", "bad_lat"),
        ("P2,诊所,community_health_centre,449901001001,0,0,", "bad_location"),
        ("P2,诊所,community_health_centre,449901001001,23.1,113.3,Mo-Fr 25:00-26:00", "bad_hours"),
        ("P2,诊所,hospital,449901001001,23.1,113.3,", "unknown_kind"),
        ("P2,诊所,community_health_centre,449909009009,23.1,113.3,", "unknown_region"),
        ("P2,诊所,community_health_centre,4499,23.1,113.3,", "bad_region"),
        ("P 2,诊所,community_health_centre,449901001001,23.1,113.3,", "bad_provider_id"),
        (",诊所,community_health_centre,449901001001,23.1,113.3,", "missing_provider_id"),
        ("P2,,community_health_centre,449901001001,23.1,113.3,", "missing_name"),
        ("P2,诊所,community_health_centre,449901001001,23.1", "column_count"),
    ],
)
def test_each_bad_provider_row_is_rejected_with_its_reason(row, code):
    batch = validate(providers(GOOD, row), None, None, KNOWN)
    assert [p.provider_id for p in batch.providers] == ["P1"]
    assert code in reasons(batch, PROVIDERS_FILE)[3]
    [rejected] = batch.rejected
    assert rejected.raw == row, "the row is kept verbatim"


def test_a_row_with_several_problems_lists_every_reason():
    batch = validate(providers("P2,,hospital,449901001001,95,200,Xx"), None, None, KNOWN)
    assert reasons(batch, PROVIDERS_FILE)[2] == {
        "missing_name",
        "unknown_kind",
        "bad_lat",
        "bad_lon",
        "bad_hours",
    }


def test_a_duplicate_id_rejects_the_later_row_and_keeps_the_first():
    later = GOOD.replace("云山社区卫生服务中心", "另一个名字")
    batch = validate(providers(GOOD, later), None, None, KNOWN)
    assert [p.name for p in batch.providers] == ["云山社区卫生服务中心"]
    assert reasons(batch, PROVIDERS_FILE) == {3: {"duplicate_id"}}


def test_lists_and_optional_columns():
    header = P_HEADER + ",languages,capabilities,ownership,active"
    ok = GOOD + ',"zh;yue",elderly_chronic_care;tb,market,false'
    bad = ok.replace("P1", "P2").replace("zh;yue", "zh;Chinese").replace(";tb", ";flying")
    batch = validate(providers(ok, bad, header=header), None, None, KNOWN)
    [entry] = batch.providers
    assert entry.languages == ("zh", "yue") and entry.capabilities == ("elderly_chronic_care", "tb")
    assert entry.ownership == "market" and entry.active is False
    assert reasons(batch, PROVIDERS_FILE)[3] == {"unknown_languages", "unknown_capabilities"}


def test_services_file_rules():
    services = csv_of(
        SERVICES_FILE,
        S_HEADER,
        "P1,tb_screening,20,0.00,0",
        "P1,teleportation,20,0.00,0",
        "P1,chronic_followup,-1,0.00,0",
        "P1,hiv_testing,10,-5,0",
        "P1,prenatal_check,10,120,1.5",
        "P1,tb_screening,30,0.00,0",
        "NOPE,tb_screening,30,0.00,0",
        "P1,general_outpatient,2.5,30,0.6",
    )
    batch = validate(providers(GOOD), services, None, KNOWN)
    assert [s.service_code for s in batch.services["P1"]] == ["tb_screening"]
    assert reasons(batch, SERVICES_FILE) == {
        3: {"unknown_service"},
        4: {"bad_daily_capacity"},
        5: {"bad_price"},
        6: {"bad_insured_share"},
        7: {"duplicate_service"},
        8: {"unknown_provider"},
        9: {"bad_daily_capacity"},
    }
    assert batch.counts(SERVICES_FILE) == {"rows": 8, "accepted": 1, "quarantined": 7}


def test_rows_of_a_rejected_provider_are_rejected_too():
    services = csv_of(SERVICES_FILE, S_HEADER, "P2,tb_screening,20,0,0")
    bad = "P2,诊所,community_health_centre,449901001001,95,113.3,"
    batch = validate(providers(GOOD, bad), services, None, KNOWN)
    assert reasons(batch, SERVICES_FILE) == {2: {"provider_rejected"}}


def test_a_service_row_may_name_a_provider_already_in_the_registry():
    known = Known(REGIONS, {"OLD": ("village_clinic", "449901001001")})
    services = csv_of(SERVICES_FILE, S_HEADER, "OLD,chronic_followup,12,0,0")
    batch = validate(providers(GOOD), services, None, known)
    assert [s.daily_capacity for s in batch.services["OLD"]] == [12]


def test_inline_services_column():
    header = P_HEADER + ",services"
    row = GOOD + ',"tb_screening:20:0;general_outpatient:100:30.5:0.6:2"'
    bad = row.replace("P1", "P2").replace("tb_screening:20", "tb_screening:-3")
    batch = validate(providers(row, bad, header=header), None, None, KNOWN)
    [entry] = batch.providers
    assert entry.services is not None
    terms = {s.service_code: (s.daily_capacity, str(s.price), s.wait_days) for s in entry.services}
    assert terms == {"tb_screening": (20, "0.00", 0), "general_outpatient": (100, "30.50", 2)}
    assert "bad_daily_capacity" in reasons(batch, PROVIDERS_FILE)[3]
    with pytest.raises(ImportFileError):
        validate(providers(row, header=header), csv_of(SERVICES_FILE, S_HEADER), None, KNOWN)


def test_van_stop_rules():
    van = "V1,健康直通车,mobile_van,449901001001,23.1,113.3,"
    stops = csv_of(
        STOPS_FILE,
        V_HEADER,
        "V1,1,18:30,21:00,23.05,113.35,园区大门",
        "V1,Tu,09:00,12:00,23.06,113.36,农贸市场",
        "V1,1,20:00,22:00,23.07,113.37,建筑工地",
        "V1,8,09:00,12:00,23.06,113.36,农贸市场",
        "V1,3,21:00,18:00,23.06,113.36,农贸市场",
        "V1,4,09:00,12:00,95,113.36,农贸市场",
        "P1,5,09:00,12:00,23.06,113.36,农贸市场",
        "V1,6,09:00,24:00,23.06,113.36,",
    )
    batch = validate(providers(GOOD, van), None, stops, KNOWN)
    assert [(s.weekday, s.start_time) for s in batch.stops["V1"]] == [(1, "18:30"), (2, "09:00")]
    assert reasons(batch, STOPS_FILE) == {
        4: {"overlapping_stop"},
        5: {"bad_weekday"},
        6: {"bad_stop_time"},
        7: {"bad_lat"},
        8: {"not_a_van"},
        9: {"missing_site_name"},
    }


def test_jurisdiction_rejects_rows_outside_the_importers_region():
    other = GOOD.replace("P1", "P2").replace("449901001001", "449902001001")
    nowhere = "P3,诊所,ngo,,23.1,113.3,"
    batch = validate(providers(GOOD, other, nowhere), None, None, KNOWN, jurisdiction="449901")
    assert [p.provider_id for p in batch.providers] == ["P1"]
    assert reasons(batch, PROVIDERS_FILE) == {
        3: {"outside_jurisdiction"},
        4: {"outside_jurisdiction"},
    }


def test_without_a_region_tree_codes_are_kept_as_given():
    batch = validate(providers(GOOD.replace("449901001001", "449909009009")), None, None, Known())
    assert batch.providers[0].region_code == "449909009009"


def test_whole_file_problems_are_errors_not_rows():
    with pytest.raises(ImportFileError, match="lat"):
        parse_csv(b"provider_id,name,kind,lon\nP1,x,ngo,1\n", PROVIDERS_FILE)
    with pytest.raises(ImportFileError, match="empty"):
        parse_csv(b"\n\n", PROVIDERS_FILE)


def test_gb18030_files_are_read():
    data = ("\n".join([P_HEADER, GOOD]) + "\n").encode("gb18030")
    batch = validate(parse_csv(data, PROVIDERS_FILE), None, None, KNOWN)
    assert batch.providers[0].name == "云山社区卫生服务中心"


def test_the_registry_vocabulary_covers_what_the_generator_writes():
    from carematch.providers.catalogue import CAPABILITIES, PROVIDER_KINDS

    assert set(GENERATED_KINDS) <= set(PROVIDER_KINDS)
    assert set(GENERATED_CAPABILITIES) <= set(CAPABILITIES)


def test_a_file_with_nul_bytes_is_refused():
    with pytest.raises(ImportFileError, match="NUL"):
        parse_csv(
            ("\n".join([P_HEADER, GOOD.replace("P1", "P\x001")]) + "\n").encode(), "providers"
        )

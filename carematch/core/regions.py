"""Loading the region tree (province → community) from the generator's regions.csv."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from carematch.core.models import REGION_LEVELS, Region


def load_regions(session: Session, path: Path) -> int:
    """Insert or update every region in a regions.csv; parents before children."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows.sort(key=lambda r: REGION_LEVELS.index(r["level"]))
    known = {r.code: r for r in session.scalars(select(Region))}
    for row in rows:
        values = {
            "code": row["code"],
            "name": row["name"],
            "name_en": row.get("name_en", ""),
            "level": row["level"],
            "parent_code": row.get("parent_code") or None,
            "kind": row.get("kind") or None,
            "lat": float(row["lat"]) if row.get("lat") else None,
            "lon": float(row["lon"]) if row.get("lon") else None,
        }
        region = known.get(row["code"])
        if region is None:
            session.add(Region(**values))
        else:
            for key, value in values.items():
                setattr(region, key, value)
        session.flush()
    return len(rows)


def districts(session: Session) -> list[Region]:
    """Every district, by code."""
    return list(
        session.scalars(select(Region).where(Region.level == "district").order_by(Region.code))
    )

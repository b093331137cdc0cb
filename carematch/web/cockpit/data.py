"""What the officials' cockpit shows: residents, migrants and source records per district.

Counts come from the identity domain, names from the region tree and shapes from the generated
city's ``districts.geojson``; everything is cut to the official's jurisdiction here, once, so
the page, the JSON endpoint and the map cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from carematch.core.config import get_settings
from carematch.core.regions import districts
from carematch.identity.repository import counts_by_district
from carematch.security.jurisdiction import within
from carematch.web.i18n import localized_name


@dataclass(frozen=True)
class DistrictCounts:
    """One district (区/县) in the cockpit: its names and the three counts."""

    code: str
    name: str
    name_en: str
    persons: int
    migrants: int
    records: int

    def label(self, locale: str) -> str:
        """The district's name in the page's language (English falls back to Chinese)."""
        return localized_name(self.name, self.name_en, locale)

    @property
    def migrant_share(self) -> float:
        """Migrants (流动人口) as a share of residents; 0 for an empty district."""
        return self.migrants / self.persons if self.persons else 0.0


@dataclass(frozen=True)
class Overview:
    """The cockpit's numbers for one jurisdiction (None = the whole installation)."""

    jurisdiction: str | None
    districts: list[DistrictCounts]

    @property
    def loaded(self) -> bool:
        """False when no city has been loaded: no district is known and no resident counted."""
        return bool(self.districts)

    def totals(self) -> dict[str, int]:
        return {
            "persons": sum(d.persons for d in self.districts),
            "migrants": sum(d.migrants for d in self.districts),
            "records": sum(d.records for d in self.districts),
        }

    def as_json(self, locale: str) -> dict[str, Any]:
        """The shape served at /cockpit/data/districts."""
        return {
            "jurisdiction": self.jurisdiction,
            "locale": locale,
            "totals": self.totals(),
            "districts": [{**asdict(d), "label": d.label(locale)} for d in self.districts],
        }


def _visible(code: str, jurisdiction: str | None) -> bool:
    # A district is shown when it lies inside the jurisdiction, or when the jurisdiction lies
    # inside it (a street-level official sees their district's row, counting only their part).
    return within(code, jurisdiction) or bool(jurisdiction and jurisdiction.startswith(code))


def district_overview(session: Session, jurisdiction: str | None) -> Overview:
    """Residents (persons), migrants and source records per district inside a jurisdiction."""
    counts = counts_by_district(session, jurisdiction)
    rows: list[DistrictCounts] = []
    seen: set[str] = set()
    for region in districts(session):
        if not _visible(region.code, jurisdiction):
            continue
        c = counts.get(region.code, {})
        rows.append(
            DistrictCounts(
                code=region.code,
                name=region.name,
                name_en=region.name_en or "",
                persons=c.get("persons", 0),
                migrants=c.get("migrants", 0),
                records=c.get("records", 0),
            )
        )
        seen.add(region.code)
    # Records whose district is missing from the region tree still count; show them by code
    # rather than silently dropping them from the totals.
    for code in sorted(set(counts) - seen):
        c = counts[code]
        rows.append(DistrictCounts(code, code, code, c["persons"], c["migrants"], c["records"]))
    return Overview(jurisdiction, rows)


def geojson_path() -> Path:
    """Where the generated city keeps its district outlines."""
    return get_settings().data_dir / "city" / "districts.geojson"


@lru_cache(maxsize=4)
def _read_geojson(path: str, mtime_ns: int) -> dict[str, Any]:
    # Keyed by modification time so a regenerated city is picked up without a restart.
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def district_shapes(codes: set[str]) -> dict[str, Any] | None:
    """The districts.geojson FeatureCollection cut to the given codes; None if there is none."""
    path = geojson_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    data = _read_geojson(str(path), stat.st_mtime_ns)
    features = [
        f for f in data.get("features", []) if str(f.get("properties", {}).get("code")) in codes
    ]
    return {"type": "FeatureCollection", "features": features}

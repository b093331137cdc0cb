"""Policy proposals (政策建议, R-PL-3): needs that no policy covers, per community, ranked.

The loop demand list → policy list → service list: profiling raises a demand (person, tag,
service) when a demand tag holds; a policy **covers** a demand when the person is eligible for
it and it carries the demanded service. An open demand that no eligible policy of its person
covers is a gap. Gaps are counted per community and demand tag (distinct persons) and ranked
— most persons first, then the tag's priority — into the proposal list officials work from.
Each proposal says which services are uncovered and whether some policy of the library does
carry them (its eligibility leaves these persons out: widen it) or none does (a new policy).

Set-based: the open demands, each person's eligible policies (one compiled query over the
features view, :mod:`carematch.policy.population`) and the policies' services are three
tables joined in DuckDB; no Python loop runs per person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import duckdb
from sqlalchemy.orm import Session

from carematch.core.clock import city_today
from carematch.policy.library import PolicyLibrary
from carematch.policy.population import ELIGIBLE, POLICY_SERVICES, features_in, register_eligibility

GAP_NEW_POLICY = "no_policy"
"""No policy of the library carries the uncovered services: a new policy is needed."""
GAP_ELIGIBILITY = "not_eligible"
"""Some policy carries them, but its eligibility leaves these persons out."""

UNCOVERED_SQL = f"""
WITH uncovered AS (
    SELECT d.person_id, d.tag, d.service, d.community_code
    FROM demands_in d
    WHERE NOT EXISTS (
        SELECT 1 FROM {ELIGIBLE} e JOIN {POLICY_SERVICES} s USING (policy_id)
        WHERE e.person_id = d.person_id AND s.service = d.service
    )
)
SELECT community_code, tag,
       list_sort(list(DISTINCT service)) AS services,
       count(DISTINCT person_id) AS persons
FROM uncovered
WHERE community_code IS NOT NULL
GROUP BY community_code, tag
HAVING count(DISTINCT person_id) >= ?
"""


@dataclass(frozen=True)
class Proposal:
    """One gap: a demand tag in a community whose demands no eligible policy covers."""

    rank: int
    community: str
    tag: str
    label: str
    label_en: str
    demand_type: str
    services: list[str]
    persons: int
    gap: str
    policies: list[str]
    """Policies of the library that carry the uncovered services (empty: none does)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def proposals(
    session: Session,
    *,
    region: str | None = None,
    min_count: int = 1,
    as_of: date | None = None,
    library: PolicyLibrary | None = None,
) -> list[Proposal]:
    """The ranked proposal list for an area (None: the whole city).

    Args:
        region: a region code; communities inside it are counted (the caller checks that it
            lies inside the caller's jurisdiction).
        min_count: leave out gaps with fewer distinct persons.
        as_of: the day eligibility is evaluated (the city's today by default); the library in
            force that day is used unless ``library`` is given.
    """
    from carematch.policy.service import library_on
    from carematch.profiling.service import open_demand_table
    from carematch.profiling.tags import default_library as tag_library

    day = as_of or city_today()
    library = library if library is not None else library_on(session, day)
    demands = open_demand_table(session, region)
    if demands.num_rows == 0:
        return []
    features = features_in(session, day, region)
    with duckdb.connect() as con:
        register_eligibility(con, features, library, day)
        con.register("demands_in", demands)
        rows = con.execute(UNCOVERED_SQL, [max(1, min_count)]).fetchall()
    tags = tag_library().tags
    carriers: dict[str, set[str]] = {}
    for pid, policy in library.items():
        for code in policy.services:
            carriers.setdefault(code, set()).add(pid)

    def priority(tag: str) -> int:
        return tags[tag].priority if tag in tags else 99

    rows.sort(key=lambda r: (-r[3], priority(r[1]), r[0], r[1]))
    out = []
    for rank, (community, tag, services, persons) in enumerate(rows, start=1):
        info = tags.get(tag)
        policies = sorted({pid for code in services for pid in carriers.get(code, ())})
        out.append(
            Proposal(
                rank=rank,
                community=community,
                tag=tag,
                label=info.label_zh if info else tag,
                label_en=info.label_en if info else tag,
                demand_type=info.type if info else "",
                services=list(services),
                persons=int(persons),
                gap=GAP_ELIGIBILITY if policies else GAP_NEW_POLICY,
                policies=policies,
            )
        )
    return out

"""Policies over the whole population in the database, set-based (DuckDB over Arrow).

The proposals, the sandbox and the execution indicators all ask the same first question —
which persons of an area does each policy cover — for every person at once. The features
view (profiling's pipeline, the same one a person's page uses) arrives as one Arrow table;
every policy's rule is compiled once into one ``SELECT`` and unpivoted into
``(person_id, policy_id)`` pairs; nothing loops over persons in Python.

Unit prices for cost estimates also live here: the median price the active providers
registered for a service (the provider registry), else the reference table
``unit_prices.yaml`` (documented in its header).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

import duckdb
import pyarrow as pa
import yaml
from sqlalchemy.orm import Session

from carematch.core.errors import InvalidInput
from carematch.policy.library import PolicyLibrary
from carematch.security.jurisdiction import region_prefix

FEATURES = "pop_features"
ELIGIBLE = "pop_eligible"
POLICY_SERVICES = "policy_services"


_CACHE_KEY = "carematch.policy.population.features"


def features_in(session: Session, as_of: date, region: str | None = None) -> pa.Table:
    """The features view of every person (of the area, when given) on ``as_of``.

    The whole city's view is computed once per session and day and kept in ``session.info``:
    the indicator engine asks for every district and street in one unit of work, and each
    would otherwise recompute the whole pipeline. A session is one request, command or job,
    so the view is as fresh as the unit of work that reads it.
    """
    from carematch.profiling.service import features_for

    cache: dict[date, pa.Table] = session.info.setdefault(_CACHE_KEY, {})
    if as_of not in cache:
        cache.clear()
        cache[as_of] = features_for(session, None, as_of)
    table = cache[as_of]
    if region:
        prefix = region_prefix(region)
        if not prefix.isdigit():
            raise InvalidInput(f"{region!r} is not a region code")
        with duckdb.connect() as con:
            con.register("f", table)
            # Digits only (checked above), so the prefix can stand in the text of the query.
            table = con.sql(
                f"SELECT * FROM f WHERE starts_with(coalesce(community, ''), '{prefix}')"
            ).to_arrow_table()
    return table


def policy_services(library: PolicyLibrary) -> pa.Table:
    """``(policy_id, service)`` for every service every policy carries."""
    pairs = [(pid, code) for pid, policy in library.items() for code in policy.services]
    return pa.table(
        {
            "policy_id": pa.array([p for p, _ in pairs], pa.string()),
            "service": pa.array([s for _, s in pairs], pa.string()),
        }
    )


def register_eligibility(
    con: duckdb.DuckDBPyConnection,
    features: pa.Table,
    library: PolicyLibrary,
    as_of: date,
    *,
    name: str = ELIGIBLE,
) -> None:
    """Create table ``name(person_id, policy_id)``: each person's eligible policies.

    One compiled query for every rule, unpivoted in DuckDB. Also registers the features as
    ``pop_features`` and the library's services as ``policy_services``.
    """
    con.register(FEATURES, features)
    con.register(POLICY_SERVICES, policy_services(library))
    if not len(library) or features.num_rows == 0:
        con.execute(f'CREATE OR REPLACE TABLE "{name}" (person_id VARCHAR, policy_id VARCHAR)')
        return
    query = library.batch_query(FEATURES, "person_id", as_of)
    con.execute(
        f'CREATE OR REPLACE TABLE "{name}" AS '
        "SELECT person_id, policy_id FROM ("
        f"UNPIVOT ({query}) ON COLUMNS(* EXCLUDE (person_id)) "
        "INTO NAME policy_id VALUE hit) WHERE hit"
    )


def eligible_sets(features: pa.Table, library: PolicyLibrary, as_of: date) -> dict[str, set[str]]:
    """Each policy's eligible person ids among the persons of ``features``."""
    out: dict[str, set[str]] = {pid: set() for pid in library}
    with duckdb.connect() as con:
        register_eligibility(con, features, library, as_of)
        for person_id, policy_id in con.execute(f"SELECT * FROM {ELIGIBLE}").fetchall():
            out[policy_id].add(person_id)
    return out


@lru_cache(maxsize=1)
def reference_prices() -> dict[str, float]:
    """The documented reference unit prices (``unit_prices.yaml``), yuan per service."""
    text = resources.files("carematch.policy").joinpath("unit_prices.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text) or {}
    return {str(code): float(price) for code, price in data.items()}


def unit_prices(session: Session) -> tuple[dict[str, float], dict[str, str]]:
    """Each service's unit price and where it came from (``registry`` or ``reference``).

    The registry's figure is the median over active providers that price the service above 0.
    """
    from carematch.providers.service import registry

    offered: dict[str, list[float]] = defaultdict(list)
    for (_, code), offer in registry(session).offers.items():
        if offer.price > 0:
            offered[code].append(offer.price)
    prices = dict(reference_prices())
    sources = dict.fromkeys(prices, "reference")
    for code, values in offered.items():
        prices[code] = round(float(statistics.median(values)), 2)
        sources[code] = "registry"
    return prices, sources


def provider_services(session: Session) -> dict[str, set[str]]:
    """The services each active provider offers."""
    from carematch.providers.service import registry

    out: dict[str, set[str]] = defaultdict(set)
    for provider_id, code in registry(session).offers:
        out[provider_id].add(code)
    return dict(out)

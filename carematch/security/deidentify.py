"""De-identified datasets for analysts and third-party evaluators (去标识化, R-SC-3).

A dataset leaves CareMatch only after four steps, in this order:

1. **Direct identifiers are dropped**: person and record ids, name, ID number, phone, address,
   household id and the exact birth date (:data:`DIRECT_IDENTIFIERS`). No pseudonym replaces
   them, so rows cannot be joined back or across exports.
2. **Dates are coarsened** to the month (``2026-03``), and money to the nearest 1,000 yuan.
3. **Quasi-identifiers are generalised** along their hierarchies
   (:data:`DEFAULT_QUASI_IDENTIFIERS`): age in 5-year bands → 10 → 20 → withheld; community →
   street → district → withheld; sex, hukou, province of origin and occupation → withheld.
   The search walks the lattice of level combinations in order of information lost (Sweeney's
   precision loss: the share of each hierarchy climbed, summed) and stops at the first
   combination where the rows in combinations shared by fewer than k persons are few enough to
   suppress (at most ``max_suppressed`` of the rows, 1 % by default); a combination that fails
   rules out every less general one (Samarati's pruning).
4. **Residual small cells are suppressed** (their rows are left out and counted).

The result reports the k it achieved (the size of the smallest combination), the level of each
quasi-identifier and the rows suppressed. When no generalisation reaches the requested k within
the suppression budget, :func:`deidentify` raises :class:`KAnonymityNotReached` and nothing is
written. Pure: pyarrow only; the export command reads the features view and audits the export.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from carematch.core.errors import Conflict

DEFAULT_K = 5
DEFAULT_MAX_SUPPRESSED = 0.01
WITHHELD = "*"
UNKNOWN = "unknown"
DIRECT_IDENTIFIERS = frozenset(
    {
        "person_id",
        "record_id",
        "name",
        "id_number",
        "phone",
        "address",
        "household_id",
        "birth_date",
        "email",
    }
)
MONEY_COLUMNS = frozenset({"oop_12m", "income_12m"})
MONEY_STEP = 1000

Generaliser = Callable[[pa.Array], pa.Array]


class KAnonymityNotReached(Conflict):
    """The data cannot be released at the requested k: nothing was written."""

    type = "/problems/k-anonymity-not-reached"
    title = "k-anonymity not reached"


def _text(values: pa.Array) -> pa.Array:
    return pc.fill_null(pc.cast(values, pa.string()), UNKNOWN)


def _age_band(width: int) -> Generaliser:
    def band(values: pa.Array) -> pa.Array:
        age = pc.cast(values, pa.int64())
        low = pc.multiply(pc.divide(age, width), width)  # integer division floors for ages >= 0
        high = pc.add(low, width - 1)
        label = pc.binary_join_element_wise(
            pc.cast(low, pa.string()), pc.cast(high, pa.string()), "-"
        )
        return pc.fill_null(label, UNKNOWN)

    return band


def _prefix(length: int) -> Generaliser:
    def cut(values: pa.Array) -> pa.Array:
        return pc.fill_null(pc.utf8_slice_codeunits(_text(values), 0, length), UNKNOWN)

    return cut


def _withheld(values: pa.Array) -> pa.Array:
    return pa.array([WITHHELD] * len(values), pa.string())


@dataclass(frozen=True)
class Hierarchy:
    """How one quasi-identifier widens: named levels, from the most detailed to withheld."""

    column: str
    output: str
    levels: tuple[tuple[str, Generaliser], ...]

    @property
    def top(self) -> int:
        return len(self.levels) - 1


def _as_is(column: str, output: str | None = None) -> Hierarchy:
    return Hierarchy(column, output or column, (("value", _text), ("withheld", _withheld)))


DEFAULT_QUASI_IDENTIFIERS: tuple[Hierarchy, ...] = (
    Hierarchy(
        "age",
        "age_band",
        (
            ("5 years", _age_band(5)),
            ("10 years", _age_band(10)),
            ("20 years", _age_band(20)),
            ("withheld", _withheld),
        ),
    ),
    _as_is("sex"),
    Hierarchy(
        "community",
        "area",
        (
            ("community", _prefix(12)),
            ("street", _prefix(9)),
            ("district", _prefix(6)),
            ("withheld", _withheld),
        ),
    ),
    _as_is("hukou"),
    _as_is("origin_province"),
    _as_is("occupation"),
)


@dataclass
class Deidentified:
    """A de-identified table and what was done to it."""

    table: pa.Table
    k_requested: int
    k_achieved: int
    levels: dict[str, str]
    suppressed: int
    dropped: list[str] = field(default_factory=list)
    coarsened: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The JSON summary the export prints (no values, only counts and levels)."""
        return {
            "rows": self.table.num_rows,
            "k_requested": self.k_requested,
            "k_achieved": self.k_achieved,
            "generalisation": self.levels,
            "suppressed": self.suppressed,
            "dropped": self.dropped,
            "coarsened": self.coarsened,
            "quasi_identifiers": [c for c in self.levels],
        }


def _coarsen(table: pa.Table) -> tuple[pa.Table, list[str]]:
    """Dates to their month, timestamps too, money to the nearest 1,000 yuan."""
    coarsened = []
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
            month = pc.strftime(pc.cast(column, pa.timestamp("s")), format="%Y-%m")
            table = table.set_column(table.schema.get_field_index(name), name, month)
            coarsened.append(name)
        elif name in MONEY_COLUMNS:
            rounded = pc.multiply(
                pc.round(pc.divide(pc.cast(column, pa.float64()), MONEY_STEP)), MONEY_STEP
            )
            table = table.set_column(table.schema.get_field_index(name), name, rounded)
            coarsened.append(name)
    return table, coarsened


def class_sizes(table: pa.Table, columns: Sequence[str]) -> pa.Array:
    """For each row, how many rows share its combination of ``columns``."""
    keyed = table.select(list(columns)).append_column(
        "_row", pa.array(range(table.num_rows), pa.int64())
    )
    counts = keyed.group_by(list(columns)).aggregate([("_row", "count")])
    joined = keyed.join(counts, list(columns)).sort_by("_row")
    return joined.column("_row_count").combine_chunks()


def deidentify(
    table: pa.Table,
    k: int = DEFAULT_K,
    *,
    quasi_identifiers: Sequence[Hierarchy] = DEFAULT_QUASI_IDENTIFIERS,
    max_suppressed: float = DEFAULT_MAX_SUPPRESSED,
    extra_identifiers: Sequence[str] = (),
) -> Deidentified:
    """Drop identifiers, coarsen dates, generalise until every combination has ≥ k rows.

    Args:
        table: one row per person (e.g. the features view).
        k: every combination of the released quasi-identifiers must be shared by at least k
            rows.
        quasi_identifiers: the hierarchies to generalise (those whose column is absent are
            ignored).
        max_suppressed: the largest share of rows that may be left out as small cells.
        extra_identifiers: more columns to drop as direct identifiers.

    Returns:
        The released table (quasi-identifiers generalised, rows sorted by them) and a report.

    Raises:
        KAnonymityNotReached: when even the widest generalisation leaves more small-cell rows
            than may be suppressed, or fewer than k rows in all.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if not 0 <= max_suppressed < 1:
        raise ValueError("max_suppressed is a share of rows in [0, 1)")
    drop = (DIRECT_IDENTIFIERS | set(extra_identifiers)) & set(table.column_names)
    hierarchies = [h for h in quasi_identifiers if h.column in table.column_names]
    if not hierarchies:
        raise ValueError("the table has none of the quasi-identifier columns")
    kept = table.drop_columns(sorted(drop))
    kept, coarsened = _coarsen(kept)
    originals = {h.column: kept.column(h.column).combine_chunks() for h in hierarchies}
    payload = kept.drop_columns([h.column for h in hierarchies])
    total = table.num_rows
    allowed = int(max_suppressed * total)
    if total < k:
        raise KAnonymityNotReached(
            f"only {total} rows: no release can have every combination shared by {k} persons",
            k_requested=k,
        )
    outputs = [h.output for h in hierarchies]
    generalised: dict[tuple[str, int], pa.Array] = {}

    def column(h: Hierarchy, level: int) -> pa.Array:
        key = (h.column, level)
        if key not in generalised:
            generalised[key] = h.levels[level][1](originals[h.column])
        return generalised[key]

    def loss(node: tuple[int, ...]) -> float:
        """Sweeney's precision loss: the share of each hierarchy climbed, summed."""
        return sum(level / h.top for level, h in zip(node, hierarchies, strict=True))

    # Every combination of levels (the generalisation lattice), least loss first. The first
    # loss level with a node that reaches k within the suppression budget wins; among its
    # nodes, the one that suppresses fewest rows. A node that fails rules out every node
    # below it (less general in every quasi-identifier), as k-anonymity only gets harder there.
    nodes = sorted(
        itertools.product(*(range(h.top + 1) for h in hierarchies)), key=lambda n: (loss(n), n)
    )
    failed: list[tuple[int, ...]] = []
    best: tuple[tuple[int, ...], int, pa.Array] | None = None
    for node in nodes:
        if best is not None and loss(node) > loss(best[0]) + 1e-9:
            break
        if any(all(a <= b for a, b in zip(node, bad, strict=True)) for bad in failed):
            continue
        quasi = pa.table(
            {h.output: column(h, lvl) for h, lvl in zip(hierarchies, node, strict=True)}
        )
        node_sizes = class_sizes(quasi, outputs)
        small_rows = pc.sum(pc.less(node_sizes, k)).as_py() or 0
        if small_rows > allowed:
            failed.append(node)
        elif best is None or small_rows < best[1]:
            best = (node, small_rows, node_sizes)
    # Withholding every quasi-identifier leaves one combination of all rows (≥ k), so some
    # node always qualifies.
    assert best is not None
    chosen, _, sizes = best
    level = dict(zip((h.column for h in hierarchies), chosen, strict=True))
    released = payload
    for h in hierarchies:
        released = released.append_column(h.output, column(h, level[h.column]))
    small = pc.less(sizes, k)
    released = released.filter(pc.invert(small))
    sizes = pc.filter(sizes, pc.invert(small))
    achieved = pc.min(sizes).as_py() if released.num_rows else 0
    if released.num_rows == 0 or achieved < k:
        raise KAnonymityNotReached(
            f"the release would have {released.num_rows} rows and k = {achieved}, below {k}",
            k_requested=k,
        )
    released = released.select(outputs + payload.column_names).sort_by(
        [(name, "ascending") for name in outputs]
    )
    return Deidentified(
        table=released,
        k_requested=k,
        k_achieved=int(achieved),
        levels={h.output: h.levels[level[h.column]][0] for h in hierarchies},
        suppressed=total - released.num_rows,
        dropped=sorted(drop),
        coarsened=coarsened,
    )


def flatten_lists(table: pa.Table, separator: str = ";") -> pa.Table:
    """List columns (e.g. conditions) as ``a;b`` text, so the table can be written as CSV."""
    for index, name in enumerate(table.column_names):
        column = table.column(name)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            joined = pc.binary_join(pc.cast(column, pa.list_(pa.string())), separator)
            table = table.set_column(index, name, joined)
    return table


def combination_counts(table: pa.Table, columns: Sequence[str]) -> Mapping[tuple, int]:
    """How many rows hold each combination of ``columns`` (for checks and reports)."""
    counts = table.group_by(list(columns)).aggregate([([], "count_all")]).to_pylist()
    return {tuple(row[c] for c in columns): row["count_all"] for row in counts}

"""Probabilistic record linkage (Fellegi–Sunter, Splink) with Chinese-aware comparisons.

Pure engine: canonical tables in, clusters and scored pairs out; no SQLAlchemy or FastAPI.
DuckDB runs it by default, Spark for provinces that outgrow one machine.

The model compares name (exact, pinyin homophones, swapped order, Jaro–Winkler, surname),
ID number (exact, one substitution or transposition, two different valid numbers), birth date
(exact, day/month swapped, one day off), sex, phone (exact, last 8 digits) and address
(normalised tokens). u comes from random sampling and m from EM, so it trains on any input.
Term-frequency adjustments make a phone or address shared by a household weak evidence.

After scoring, clusters are the connected components of pairs above the link threshold,
with one domain rule: a person has one ID number, so a component holding two different
GB 11643-valid numbers is split around them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from carematch.identity.normalise import prepare_frame

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class LinkageConfig:
    """Thresholds and training knobs.

    Pairs at or above ``link_threshold`` are linked; pairs between ``review_threshold`` and
    ``link_threshold`` that end up in different persons go to human review.
    """

    link_threshold: float = 0.5
    review_threshold: float = 0.2
    max_u_pairs: float = 1e6
    seed: int = 20261122


@dataclass
class LinkageResult:
    """Clusters (every input record once), scored pairs, the review candidates and the model."""

    clusters: pd.DataFrame  # source_dataset, record_id, person_key, unlinkable
    pairs: pd.DataFrame  # unique_id_l/_r, match_probability, match_weight, level_*/weight_*
    review: pd.DataFrame  # same columns as pairs
    model: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)
    prepared: pd.DataFrame | None = None  # the comparison columns of every input record


def _levels_name() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_py"),
            cll.ExactMatchLevel("name_py").configure(
                tf_adjustment_column="name_py", tf_adjustment_weight=0.6
            ),
            cll.ExactMatchLevel("name_sorted"),
            cll.JaroWinklerLevel("name_py", 0.92),
            cll.And(cll.ExactMatchLevel("name_first"), cll.JaroWinklerLevel("name_last", 0.88)),
            cll.And(cll.ExactMatchLevel("name_last"), cll.JaroWinklerLevel("name_first", 0.88)),
            cll.ExactMatchLevel("name_first"),
            cll.ExactMatchLevel("name_last"),
            cll.ElseLevel(),
        ],
        comparison_description="name: exact, same pinyin (homophones), swapped order, similar",
    )


def _levels_id() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="id_number",
        comparison_levels=[
            cll.NullLevel("id18"),
            cll.ExactMatchLevel("id18"),
            cll.DamerauLevenshteinLevel("id18", 1),
            {
                "sql_condition": "id_valid_l AND id_valid_r",
                "label_for_charts": "two different valid ID numbers",
                # Domain knowledge, not learned: one person holds one ID number, and a typo
                # yields another valid number only 1 time in 11 (the check digit). EM trained
                # on household-heavy blocks would otherwise learn this level as weak evidence.
                "m_probability": 0.001,
                "fix_m_probability": True,
            },
            cll.ElseLevel(),
        ],
        comparison_description="ID number: exact, one typo, two different valid numbers",
    )


def _levels_dob() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    swapped = (
        "substr(dob_l, 1, 4) = substr(dob_r, 1, 4) AND substr(dob_l, 6, 2) = substr(dob_r, 9, 2)"
        " AND substr(dob_l, 9, 2) = substr(dob_r, 6, 2)"
    )
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            {"sql_condition": swapped, "label_for_charts": "day and month swapped"},
            {
                "sql_condition": "abs(dob_days_l - dob_days_r) <= 1",
                "label_for_charts": "one day apart",
            },
            cll.DamerauLevenshteinLevel("dob", 1),
            {
                "sql_condition": "substr(dob_l, 1, 7) = substr(dob_r, 1, 7)",
                "label_for_charts": "same year and month",
            },
            cll.ElseLevel(),
        ],
        comparison_description="birth date: exact, swapped day/month, one day off",
    )


def _levels_sex() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="sex",
        comparison_levels=[cll.NullLevel("sex"), cll.ExactMatchLevel("sex"), cll.ElseLevel()],
    )


def _levels_phone() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phone8"),
            cll.ExactMatchLevel("phone").configure(tf_adjustment_column="phone"),
            cll.ExactMatchLevel("phone8").configure(tf_adjustment_column="phone8"),
            cll.ElseLevel(),
        ],
        comparison_description="phone: exact (+86 and spaces removed), last 8 digits",
    )


def _levels_address() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.NullLevel("road"),
            cll.ExactMatchLevel("address_key").configure(tf_adjustment_column="address_key"),
            cll.And(cll.ExactMatchLevel("road"), cll.ExactMatchLevel("building")),
            cll.ExactMatchLevel("road").configure(tf_adjustment_column="road"),
            cll.ExactMatchLevel("road_tokens"),
            cll.ArrayIntersectLevel("address_tokens", 4),
            cll.JaroWinklerLevel("road", 0.9),
            cll.ArrayIntersectLevel("address_tokens", 2),
            cll.ExactMatchLevel("district"),
            cll.ElseLevel(),
        ],
        comparison_description="address: same unit, same building, same road and number",
    )


# (columns it needs, how to build it): a comparison is used only when its column has data,
# so the same engine runs on inputs that lack phones or ID numbers altogether.
COMPARISONS: tuple[tuple[str, Any], ...] = (
    ("name_py", _levels_name),
    ("id18", _levels_id),
    ("dob", _levels_dob),
    ("sex", _levels_sex),
    ("phone8", _levels_phone),
    ("road", _levels_address),
)
# Candidate blocking rules, most specific first. A rule is used only when its columns have data
# and its blocks stay small enough (see select_blocking), which keeps comparisons near-linear
# on any input while each realistic variant still meets its twin under some rule.
BLOCKING: tuple[tuple[str, ...], ...] = (
    ("id18",),
    ("name_py", "dob"),
    ("name_sorted", "dob"),
    ("name_first", "dob"),
    ("name_last", "dob"),
    ("name_first", "name_last"),
    ("dob", "id_head"),
    ("dob", "id_tail"),
    ("dob", "road_head"),
    ("name_first", "road_head"),
    ("name_last", "road_head"),
    ("name_last", "id_tail"),
    ("name_first", "id_head"),
    ("name_sorted", "road_head"),
    ("name_sorted", "id_head"),
    ("road_head", "id_head"),
    ("road_head", "id_tail"),
    ("phone", "surname_py"),
    ("phone8", "dob"),
    ("name_py", "phone8"),
    ("name_py", "address_key"),
)
# Keys a new record is looked up by when it is linked online (a subset of BLOCKING that
# never explodes: each pins a person-specific value).
ONLINE_KEYS: tuple[tuple[str, ...], ...] = (
    ("id18",),
    ("name_py", "dob"),
    ("name_sorted", "dob"),
    ("name_first", "dob"),
    ("name_last", "dob"),
    ("phone", "surname_py"),
    ("phone8", "dob"),
    ("name_py", "phone8"),
    ("name_py", "address_key"),
)
# Columns whose term frequencies the model uses (see the comparisons' tf adjustments).
TF_COLUMNS = ("name_py", "phone", "phone8", "address_key", "road")
MIN_RULE_BUDGET = 2_000_000
RULE_BUDGET_PER_RECORD = 10
TOTAL_BUDGET_PER_RECORD = 40


# EM sessions: each fixes what it blocks on and learns m for the other comparisons. The first
# two are person-specific; phone and address blocks are full of household members, so they
# are used only when the input lacks ID numbers or names with birth dates.
TRAINING_BLOCKS: tuple[tuple[str, ...], ...] = (("id18",), ("name_py", "dob"))
FALLBACK_TRAINING_BLOCKS: tuple[tuple[str, ...], ...] = (("phone8", "surname_py"), ("address_key",))


def available_columns(data: pd.DataFrame) -> set[str]:
    """Comparison columns that hold at least one value."""
    return {c for c in data.columns if data[c].notna().any()}


def comparisons_for(data: pd.DataFrame, columns: tuple[str, ...]) -> int:
    """How many pairs a blocking rule on ``columns`` generates (exact, from block sizes)."""
    keys = data[list(columns)].dropna()
    if keys.empty:
        return 0
    sizes = keys.groupby(list(columns), sort=False).size()
    return int((sizes * (sizes - 1) // 2).sum())


def select_blocking(data: pd.DataFrame, available: set[str]) -> list[tuple[str, ...]]:
    """The candidate rules whose columns have data and whose blocks fit the budget."""
    budget = max(MIN_RULE_BUDGET, RULE_BUDGET_PER_RECORD * len(data))
    total_budget = max(4 * MIN_RULE_BUDGET, TOTAL_BUDGET_PER_RECORD * len(data))
    chosen = []
    total = 0
    for cols in BLOCKING:
        if not set(cols) <= available:
            continue
        count = comparisons_for(data, cols)
        # Rules overlap, so the sum over-counts: a conservative cap on the work.
        if count <= budget and total + count <= total_budget:
            chosen.append(cols)
            total += count
    return chosen


def blocking_rules(chosen: list[tuple[str, ...]]) -> list[Any]:
    """Splink blocking rules for the chosen column sets."""
    from splink import block_on

    return [block_on(*cols) for cols in chosen]


def build_settings(available: set[str], chosen: list[tuple[str, ...]]) -> Any:
    """Splink settings for a dedupe over the union of every source."""
    from splink import SettingsCreator

    comparisons = [make() for column, make in COMPARISONS if column in available]
    if len(comparisons) < 2:
        raise ValueError(
            "linkage needs at least two of name, id_number, birth_date, sex, phone, address"
        )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking_rules(chosen),
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
        additional_columns_to_retain=["source_dataset", "record_id"],
    )


def _db_api(engine: str, spark: Any = None) -> Any:
    if engine == "duckdb":
        from splink import DuckDBAPI

        return DuckDBAPI()
    if engine == "spark":
        from carematch.identity.spark import splink_api

        return splink_api(spark)
    raise ValueError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")


def _train(linker: Any, config: LinkageConfig, available: set[str]) -> list[str]:
    """Estimate λ, u and m; returns the EM sessions that ran."""
    from splink import block_on
    from splink.internals.exceptions import EMTrainingException

    deterministic = [
        block_on(*cols)
        for cols in (("id18",), ("name_py", "dob", "phone8"), ("name_py", "dob"))
        if set(cols) <= available
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=config.max_u_pairs, seed=config.seed)
    sessions: list[str] = []
    for cols in (*TRAINING_BLOCKS, *FALLBACK_TRAINING_BLOCKS):
        if not set(cols) <= available or (cols in FALLBACK_TRAINING_BLOCKS and len(sessions) >= 2):
            continue
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*cols), estimate_without_term_frequencies=True
            )
        except EMTrainingException:
            continue  # this input has no pairs agreeing on these columns
        sessions.append("+".join(cols))
    if not sessions:
        raise ValueError("no training pairs: the sources share no name, ID, phone or address")
    return sessions


def prepare(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The union of every source's comparison columns."""
    if not frames:
        raise ValueError("no input tables")
    parts = [prepare_frame(frame, source) for source, frame in frames.items()]
    return pd.concat(parts, ignore_index=True)


def link_frames(
    frames: Mapping[str, pd.DataFrame],
    *,
    engine: str = "duckdb",
    model: dict[str, Any] | None = None,
    config: LinkageConfig | None = None,
    spark: Any = None,
    must_link: list[tuple[str, str]] | None = None,
    cannot_link: list[tuple[str, str]] | None = None,
) -> LinkageResult:
    """Link canonical tables (one per source) into persons.

    Args:
        frames: source name → table with ``record_id`` and any of name, id_number, sex,
            birth_date, phone, address.
        engine: "duckdb" or "spark".
        model: a saved model (from a previous result) to reuse instead of training.
        config: thresholds and training knobs.
        must_link: pairs of unique ids (``source + "\\x1f" + record_id``) a reviewer linked.
        cannot_link: pairs a reviewer separated; their groups are never joined.

    Returns:
        Clusters with every input record exactly once; records with no identifying field are
        their own cluster and flagged ``unlinkable``.
    """
    from splink import Linker

    # Splink narrates every step on its loggers; our callers print their own summary.
    logging.getLogger("splink").setLevel(logging.ERROR)
    config = config or LinkageConfig()
    data = prepare(frames)
    duplicated = data["unique_id"].duplicated()
    if duplicated.any():
        first = data.loc[duplicated, "unique_id"].iloc[0].replace("\x1f", ":")
        raise ValueError(f"record_id is not unique within its source: {first}")
    linkable = data[data["identifying"]].drop(columns=["identifying"])
    stats: dict[str, Any] = {"records": len(data), "unlinkable": int((~data["identifying"]).sum())}

    pairs = pd.DataFrame(
        columns=["unique_id_l", "unique_id_r", "match_probability", "match_weight"]
    )
    if len(linkable) >= 2:
        db_api = _db_api(engine, spark)
        table = db_api.register(linkable.reset_index(drop=True), dataset_display_name="records")
        available = available_columns(linkable)
        chosen = select_blocking(linkable, available)
        stats["blocking"] = ["+".join(c) for c in chosen]
        if model is not None:
            # A saved model's SQL is in the dialect of the engine that trained it.
            from carematch.identity.spark import model_for_dialect

            model = model_for_dialect(model, db_api.sql_dialect.sql_dialect_str)
        settings = model if model is not None else build_settings(available, chosen)
        linker = Linker(table, settings, log_level=logging.WARNING)
        trained = model is None
        if trained:
            stats["em_sessions"] = _train(linker, config, available)
        scored = linker.inference.predict(threshold_match_probability=config.review_threshold)
        model = linker.misc.save_model_to_json()
        pairs = _pairs_frame(scored.as_pandas_dataframe(), model)
    stats["pairs_scored"] = len(pairs)
    clusters = cluster(
        data, pairs, config.link_threshold, must_link=must_link, cannot_link=cannot_link
    )
    review = _review_candidates(pairs, clusters, config)
    stats["persons"] = int(clusters["person_key"].nunique())
    stats["review"] = len(review)
    return LinkageResult(clusters, pairs, review, model or {}, stats, data)


NULL_LABEL = "missing on one side"


def _level_labels(model: dict[str, Any]) -> dict[str, list[tuple[float, str]]]:
    """Per comparison, each non-null level's match weight log2(m/u) and its label."""
    import math

    out: dict[str, list[tuple[float, str]]] = {}
    for comparison in model.get("comparisons", []):
        levels = []
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                levels.append((0.0, NULL_LABEL))
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            if m and u:
                levels.append((math.log2(m / u), level.get("label_for_charts", "")))
        out[comparison["output_column_name"]] = levels
    return out


def _pairs_frame(predictions: pd.DataFrame, model: dict[str, Any]) -> pd.DataFrame:
    """Scored pairs with their evidence: per comparison, the level reached and its weight.

    Splink returns each comparison's match weight (``mw_<name>``, plus ``mw_tf_adj_<name>``
    for term-frequency adjustments); the level is the one whose log2(m/u) it equals.
    Evidence is kept as columns (``level_<name>``, ``weight_<name>``) and turned into a dict
    only for the pairs that are stored (:func:`evidence_of`).
    """
    import numpy as np

    out = predictions[["unique_id_l", "unique_id_r", "match_probability", "match_weight"]].copy()
    labels = _level_labels(model)
    names = [c for c in labels if f"mw_{c}" in predictions.columns and labels[c]]
    for c in names:
        w = predictions[f"mw_{c}"].to_numpy(dtype=float)
        level_weights = np.array([lv[0] for lv in labels[c]])
        nearest = np.abs(w[:, None] - level_weights[None, :]).argmin(axis=1)
        # A weight of exactly zero is the null level; any other weight belongs to a level
        # with data, so the null level must never be the "nearest" one for it.
        is_null = np.array([lv[1] == NULL_LABEL for lv in labels[c]])
        if is_null.any() and not is_null.all():
            masked = np.where(is_null[None, :], np.inf, np.abs(w[:, None] - level_weights[None, :]))
            nearest = np.where(np.abs(w) < 1e-9, is_null.argmax(), masked.argmin(axis=1))
        out[f"level_{c}"] = pd.Categorical.from_codes(nearest, [lv[1] for lv in labels[c]])
        tf_col = f"mw_tf_adj_{c}"
        tf = predictions[tf_col].to_numpy(dtype=float) if tf_col in predictions else 0.0
        out[f"weight_{c}"] = np.round(w + tf, 3)
    out.attrs["comparisons"] = names
    return out.reset_index(drop=True)


def evidence_of(pairs: pd.DataFrame, index: int) -> dict[str, dict[str, Any]]:
    """The evidence of one scored pair: comparison → {level, weight}."""
    row = pairs.iloc[index]
    return {
        c: {"level": str(row[f"level_{c}"]), "weight": float(row[f"weight_{c}"])}
        for c in pairs.attrs.get("comparisons", [])
    }


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent.setdefault(x, x)
        if parent != x:
            parent = self.parent[x] = self.find(parent)
        return parent

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller id becomes the root so that results never depend on edge order.
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


def cluster(
    data: pd.DataFrame,
    pairs: pd.DataFrame,
    threshold: float,
    *,
    must_link: list[tuple[str, str]] | None = None,
    cannot_link: list[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Connected components of linked pairs, never joining two valid ID numbers.

    Reviewers' decisions are constraints: ``must_link`` pairs are joined first, and two
    groups containing a ``cannot_link`` pair are never joined.
    """
    uf = _UnionFind()
    for uid in data["unique_id"]:
        uf.find(uid)
    valid_id = dict(zip(data["unique_id"], data["id18"].where(data["id_valid"], None), strict=True))
    ids_of: dict[str, set[str]] = {
        uid: {v} for uid, v in valid_id.items() if isinstance(v, str) and v
    }
    apart: dict[str, set[str]] = defaultdict(set)
    for a, b in cannot_link or ():
        apart[a].add(b)
        apart[b].add(a)
    members: dict[str, set[str]] = {}

    def group(root: str) -> set[str]:
        return members.get(root, {root})

    def blocked(ra: str, rb: str) -> bool:
        ga, gb = group(ra), group(rb)
        small, other = (ga, gb) if len(ga) <= len(gb) else (gb, ga)
        return any(apart[x] & other for x in small if x in apart)

    def join(ra: str, rb: str) -> None:
        merged = group(ra) | group(rb)
        ids = ids_of.get(ra, set()) | ids_of.get(rb, set())
        uf.union(ra, rb)
        root = uf.find(ra)
        members[root] = merged
        ids_of[root] = ids

    for a, b in must_link or ():
        if a in uf.parent and b in uf.parent and uf.find(a) != uf.find(b):
            join(uf.find(a), uf.find(b))
    strong = pairs[pairs["match_probability"] >= threshold]
    # Strongest first; ties broken by ids so the result never depends on the engine's row order.
    strong = strong.assign(_p=-strong["match_probability"].round(12)).sort_values(
        ["_p", "unique_id_l", "unique_id_r"], kind="stable"
    )
    conflicts = 0
    for left, right in zip(strong["unique_id_l"], strong["unique_id_r"], strict=True):
        ra, rb = uf.find(left), uf.find(right)
        if ra == rb:
            continue
        ida, idb = ids_of.get(ra, set()), ids_of.get(rb, set())
        if (ida and idb and ida != idb) or (apart and blocked(ra, rb)):
            conflicts += 1
            continue
        join(ra, rb)
    roots = data["unique_id"].map(uf.find)
    keys = {root: person_key(root) for root in roots.unique()}
    out = pd.DataFrame(
        {
            "source_dataset": data["source_dataset"],
            "record_id": data["record_id"],
            "unique_id": data["unique_id"],
            "person_key": roots.map(keys),
            "unlinkable": ~data["identifying"],
        }
    )
    out.attrs["conflicts_refused"] = conflicts
    return out


def person_key(root_unique_id: str) -> str:
    """A stable person key from the cluster's smallest record id (same input, same key)."""
    return "P" + hashlib.sha256(root_unique_id.encode()).hexdigest()[:20]


def _review_candidates(
    pairs: pd.DataFrame, clusters: pd.DataFrame, config: LinkageConfig
) -> pd.DataFrame:
    """Unsure pairs whose records ended up in different persons."""
    unsure = pairs[
        (pairs["match_probability"] >= config.review_threshold)
        & (pairs["match_probability"] < config.link_threshold)
    ]
    key = dict(zip(clusters["unique_id"], clusters["person_key"], strict=True))
    different = [
        key[a] != key[b] for a, b in zip(unsure["unique_id_l"], unsure["unique_id_r"], strict=True)
    ]
    return unsure[different].reset_index(drop=True)


def pairwise_scores(predicted: Mapping[str, str], truth: Mapping[str, str]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering against the true one.

    Both map record → cluster; only records present in both count. Pairs are counted through
    the contingency table, so this is linear in the number of records.
    """
    common = [r for r in predicted if r in truth]
    joint: dict[tuple[str, str], int] = defaultdict(int)
    by_pred: dict[str, int] = defaultdict(int)
    by_true: dict[str, int] = defaultdict(int)
    for r in common:
        joint[(predicted[r], truth[r])] += 1
        by_pred[predicted[r]] += 1
        by_true[truth[r]] += 1

    def pairs(counts: Any) -> int:
        return sum(n * (n - 1) // 2 for n in counts)

    tp = pairs(joint.values())
    pp = pairs(by_pred.values())
    tt = pairs(by_true.values())
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_pairs": tt,
        "predicted_pairs": pp,
        "true_positive_pairs": tp,
    }


def model_json(model: dict[str, Any]) -> str:
    """The model as canonical JSON (for storing a version)."""
    return json.dumps(model, sort_keys=True, ensure_ascii=False)


def record_keys(row: Mapping[str, Any]) -> list[str]:
    """The online blocking keys of one prepared record (plain strings; hash before storing)."""
    keys = []
    for cols in ONLINE_KEYS:
        values = [row.get(c) for c in cols]
        if all(isinstance(v, str) and v for v in values):
            keys.append("+".join(cols) + "=" + "\x1f".join(values))  # type: ignore[arg-type]
    return keys


def term_frequencies(data: pd.DataFrame, minimum: int = 2) -> dict[str, dict[str, float]]:
    """Column → value → relative frequency, for values seen at least ``minimum`` times."""
    out: dict[str, dict[str, float]] = {}
    for column in TF_COLUMNS:
        if column not in data:
            continue
        values = data[column].dropna()
        counts = values.value_counts()
        total = max(len(values), 1)
        out[column] = {v: c / total for v, c in counts[counts >= minimum].items()}
    return out


def score_candidates(
    record: Mapping[str, Any], candidates: pd.DataFrame, model: dict[str, Any]
) -> pd.DataFrame:
    """Score one prepared record against prepared candidates with a saved model (DuckDB).

    The same comparisons and weights as the batch job (Splink's compare_records), so online
    and batch links agree. Term-frequency columns (``tf_<column>``) must be filled.

    The first call for a model goes through Splink, which builds the scoring SQL and caches
    it; later calls run that one statement directly on a private DuckDB connection over the
    two registered frames. Splink's own path materialises both inputs and the result as
    tables (five statements a call), which is most of an online link's time.
    """
    from splink.internals.realtime import _sql_cache, compare_records

    key = _cache_key(model)
    sql = _sql_cache.get(key, _ONLINE_UID)
    if sql is None:
        logging.getLogger("splink").setLevel(logging.ERROR)
        scored = compare_records(
            dict(record), candidates, model, _online_db(), sql_cache_key=key
        ).as_pandas_dataframe()
        return _pairs_frame(scored, model)
    con = _online_connection()
    left, right = (f"__splink__compare_records_{side}_{_ONLINE_UID}" for side in ("left", "right"))
    con.register(left, pd.DataFrame([dict(record)]))
    con.register(right, candidates)
    try:
        scored = con.execute(sql).df()
    finally:
        con.unregister(left)
        con.unregister(right)
    return _pairs_frame(scored, model)


_ONLINE_DB: Any = None
_ONLINE_CON: Any = None
_ONLINE_UID = "carematch_online"
_CACHE_KEYS: dict[int, tuple[dict[str, Any], str]] = {}


def _cache_key(model: dict[str, Any]) -> str:
    """Splink's SQL cache key for a model, hashed once per model object."""
    cached = _CACHE_KEYS.get(id(model))
    if cached is None or cached[0] is not model:
        digest = hashlib.sha256(model_json(model).encode()).hexdigest()[:16]
        cached = (model, f"carematch-online-{digest}")
        _CACHE_KEYS[id(model)] = cached
    return cached[1]


def _online_connection() -> Any:
    """A private DuckDB connection for the direct scoring path."""
    global _ONLINE_CON
    if _ONLINE_CON is None:
        import duckdb

        _ONLINE_CON = duckdb.connect()
    return _ONLINE_CON


def _online_db() -> Any:
    """One in-process DuckDB for online scoring (tables are per call; SQL is cached)."""
    global _ONLINE_DB
    if _ONLINE_DB is None:
        from splink import DuckDBAPI

        _ONLINE_DB = DuckDBAPI()
    return _ONLINE_DB

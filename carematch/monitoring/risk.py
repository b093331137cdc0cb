"""High-risk identification (高危人群识别, R-MN-2): who is likely to have a condition pair.

A pure engine (no SQLAlchemy, no FastAPI). A logistic regression over features the platform
holds for everyone (the feature dictionary's names: age, sex, hukou, occupation, insurance,
household status, disability, living alone, and the latest blood pressure and glucose when
measured) predicts whether a person has both conditions of a combination
(hypertension + diabetes, …). Logistic regression, because its calibration is good without a
separate step and each person's score splits exactly into per-feature contributions:
after one-hot encoding, imputing and standardising, contribution_j = coefficient_j × z_j, and
the contributions plus the intercept are the person's log-odds.

Training data is the synthetic city (``carematch generate``), whose ``truth/persons.csv`` holds
every resident's true conditions: :func:`city_training_table` joins it with the readings the
clinics and devices recorded (through the EHR record ids of ``truth/records.csv``).
:func:`train` holds out a stratified share and reports AUC, the Brier score and reliability
bins on it, plus the AUC of the same model on demographics alone, measured in the same run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

COMBINATIONS: dict[str, tuple[str, ...]] = {
    "hypertension+diabetes": ("hypertension", "diabetes"),
    "hypertension+hyperlipidemia": ("hypertension", "hyperlipidemia"),
    "diabetes+hyperlipidemia": ("diabetes", "hyperlipidemia"),
}
"""The condition pairs a model is trained for (the key names the model)."""

CATEGORICAL = ("sex", "hukou", "occupation", "insurance", "household_status")
NUMERIC = ("age", "disability_level", "sbp", "dbp", "glucose")
BOOLEAN = ("lives_alone",)
MEASURED = ("sbp", "dbp", "glucose")
FEATURES = (*CATEGORICAL, *NUMERIC, *BOOLEAN)
"""The features the model reads, by their feature-dictionary names."""
BINS = 10


@dataclass(frozen=True)
class ReliabilityBin:
    """Held-out persons whose predicted risk fell in [low, high): how many, mean prediction,
    observed share with the combination."""

    low: float
    high: float
    count: int
    mean_predicted: float | None
    observed: float | None


@dataclass(frozen=True)
class RiskReport:
    """Held-out figures of a trained model."""

    combination: str
    train: int
    test: int
    positives_test: int
    auc: float
    brier: float
    brier_baseline: float
    calibration_error: float
    mean_predicted: float
    observed_rate: float
    auc_demographics_only: float
    bins: list[ReliabilityBin] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "combination": self.combination,
            "train": self.train,
            "test": self.test,
            "positives_test": self.positives_test,
            "auc": round(self.auc, 4),
            "brier": round(self.brier, 5),
            "brier_baseline": round(self.brier_baseline, 5),
            "calibration_error": round(self.calibration_error, 5),
            "mean_predicted": round(self.mean_predicted, 5),
            "observed_rate": round(self.observed_rate, 5),
            "auc_demographics_only": round(self.auc_demographics_only, 4),
            "bins": [
                {
                    "low": b.low,
                    "high": b.high,
                    "count": b.count,
                    "mean_predicted": None
                    if b.mean_predicted is None
                    else round(b.mean_predicted, 4),
                    "observed": None if b.observed is None else round(b.observed, 4),
                }
                for b in self.bins
            ],
        }


@dataclass
class RiskModel:
    """A fitted model for one combination: the pipeline and the names of its inputs."""

    combination: str
    pipeline: Any
    feature_names: list[str]
    report: RiskReport | None = None


@dataclass(frozen=True)
class Contribution:
    """One feature's share of a person's log-odds (``value`` as the person has it)."""

    feature: str
    value: Any
    contribution: float


@dataclass(frozen=True)
class Scored:
    """A person's predicted risk and the features that raise it most."""

    person_id: str
    risk: float
    contributions: list[Contribution]


def _frame(table: pa.Table) -> Any:
    """The model's input frame: the features, typed, in a fixed order."""
    import pandas as pd

    columns: dict[str, Any] = {}
    n = table.num_rows
    for name in FEATURES:
        values = table.column(name).to_pylist() if name in table.column_names else [None] * n
        if name in CATEGORICAL:
            columns[name] = pd.Series(
                [("unknown" if v is None else str(v)) for v in values], dtype=object
            )
        elif name in BOOLEAN:
            columns[name] = pd.Series(
                [1.0 if v in (True, "true", "True", 1) else 0.0 for v in values], dtype=float
            )
        else:
            columns[name] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype(
                float
            )
    return pd.DataFrame(columns)


def _pipeline(categorical: Sequence[str], numeric: Sequence[str], seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformers: list[tuple[str, Any, list[str]]] = [
        (
            "cat",
            OneHotEncoder(handle_unknown="ignore", sparse_output=False, min_frequency=5),
            list(categorical),
        ),
        ("num", SimpleImputer(strategy="median", add_indicator=True), list(numeric)),
    ]
    return Pipeline(
        [
            ("encode", ColumnTransformer(transformers, verbose_feature_names_out=False)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=2000, C=0.5, random_state=seed)),
        ]
    )


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = BINS) -> list[ReliabilityBin]:
    """Equal-width bins of predicted risk: count, mean prediction and observed share in each."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        out.append(
            ReliabilityBin(
                low=float(edges[b]),
                high=float(edges[b + 1]),
                count=count,
                mean_predicted=float(p[mask].mean()) if count else None,
                observed=float(y[mask].mean()) if count else None,
            )
        )
    return out


def calibration_error(bins: Sequence[ReliabilityBin]) -> float:
    """Expected calibration error: the count-weighted mean |mean prediction − observed|."""
    total = sum(b.count for b in bins)
    if not total:
        return math.nan
    return (
        sum(b.count * abs((b.mean_predicted or 0.0) - (b.observed or 0.0)) for b in bins if b.count)
        / total
    )


def labels(conditions: Sequence[str | None], combination: str) -> np.ndarray:
    """1 where the condition list (``a;b;c``) holds every condition of the combination."""
    if combination not in COMBINATIONS:
        raise KeyError(combination)
    wanted = set(COMBINATIONS[combination])
    return np.array([int(wanted <= set((c or "").split(";"))) for c in conditions], dtype=np.int64)


def train(
    table: pa.Table, combination: str, *, seed: int = 0, test_share: float = 0.3
) -> RiskModel:
    """Fit the model on a stratified split of ``table`` and report on the held-out part.

    Args:
        table: the :data:`FEATURES` and ``conditions`` (``a;b`` as in truth/persons.csv), one
            row per person.
        combination: a key of :data:`COMBINATIONS`.

    Raises:
        KeyError: unknown combination. ValueError: too few persons with (or without) it.
    """
    from sklearn.model_selection import train_test_split

    y = labels(table.column("conditions").to_pylist(), combination)
    if y.sum() < 10 or (len(y) - y.sum()) < 10:
        raise ValueError(
            f"{combination}: {int(y.sum())} of {len(y)} persons have it; need at least 10 "
            "with and 10 without (generate a larger city)"
        )
    x = _frame(table)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_share, random_state=seed, stratify=y
    )
    pipeline = _pipeline(CATEGORICAL, [*NUMERIC, *BOOLEAN], seed).fit(x_train, y_train)
    p = pipeline.predict_proba(x_test)[:, 1]
    demographic = [n for n in NUMERIC if n not in MEASURED]
    baseline = _pipeline(CATEGORICAL, [*demographic, *BOOLEAN], seed).fit(x_train, y_train)
    p_demo = baseline.predict_proba(x_test)[:, 1]
    bins = reliability(y_test, p)
    rate = float(y_train.mean())
    report = RiskReport(
        combination=combination,
        train=len(y_train),
        test=len(y_test),
        positives_test=int(y_test.sum()),
        auc=_auc(y_test, p),
        brier=float(np.mean((p - y_test) ** 2)),
        brier_baseline=float(np.mean((rate - y_test) ** 2)),
        calibration_error=calibration_error(bins),
        mean_predicted=float(p.mean()),
        observed_rate=float(y_test.mean()),
        auc_demographics_only=_auc(y_test, p_demo),
        bins=bins,
    )
    names = list(pipeline.named_steps["encode"].get_feature_names_out())
    return RiskModel(combination, pipeline, names, report)


def score(model: RiskModel, table: pa.Table, top_features: int = 3) -> list[Scored]:
    """Each person's risk and the ``top_features`` features that raise it most.

    ``table`` has ``person_id`` and the :data:`FEATURES` (missing ones count as unknown).
    """
    x = _frame(table)
    pipeline = model.pipeline
    z = pipeline.named_steps["scale"].transform(pipeline.named_steps["encode"].transform(x))
    coef = pipeline.named_steps["model"].coef_[0]
    risk = pipeline.predict_proba(x)[:, 1]
    parts = z * coef
    ids = table.column("person_id").to_pylist()
    out = []
    for i, person in enumerate(ids):
        order = np.argsort(-parts[i])[:top_features]
        out.append(
            Scored(
                person_id=str(person),
                risk=float(risk[i]),
                contributions=[
                    Contribution(
                        feature=model.feature_names[j],
                        value=_shown(model.feature_names[j], x.iloc[i]),
                        contribution=round(float(parts[i, j]), 4),
                    )
                    for j in order
                    if parts[i, j] > 0
                ],
            )
        )
    return out


def _shown(name: str, row: Any) -> Any:
    """The person's value behind an encoded feature name (``occupation_delivery`` → 'delivery',
    ``missingindicator_glucose`` → 'measured' or 'not measured')."""
    if name.startswith("missingindicator_"):
        # The indicator's term counts either way: being measured (for a glucose reading,
        # mostly diabetics have one) can raise the risk as much as not being measured.
        measured = row.get(name.removeprefix("missingindicator_"))
        missing = measured is None or (isinstance(measured, float) and math.isnan(measured))
        return "not measured" if missing else "measured"
    for feature in CATEGORICAL:
        if name.startswith(f"{feature}_"):
            return row[feature]
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value) if isinstance(value, (int, float, np.number)) else value


def city_training_table(city: Path) -> pa.Table:
    """One row per resident of a generated city: the features the platform could see and the
    true conditions (``truth/persons.csv``), the latest readings joined by EHR record id.

    Raises:
        FileNotFoundError: the folder is not a generated city.
    """
    import duckdb
    import pyarrow.csv as pacsv

    def read(path: Path) -> pa.Table:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found (is this a `carematch generate` folder?)")
        names = path.open(encoding="utf-8").readline().strip().split(",")
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
        )

    persons = read(city / "truth" / "persons.csv")
    records = read(city / "truth" / "records.csv")
    readings = read(city / "readings.csv")
    con = duckdb.connect()
    try:
        con.register("persons", persons)
        con.register("records", records)
        con.register("readings", readings)
        return con.sql(
            """
            WITH ehr AS (SELECT record_id, person_id FROM records WHERE source = 'ehr'),
            r AS (
                SELECT e.person_id, rd.kind, rd.measured_at, TRY_CAST(rd.sbp AS DOUBLE) AS sbp,
                       TRY_CAST(rd.dbp AS DOUBLE) AS dbp, TRY_CAST(rd.glucose AS DOUBLE) AS glucose
                FROM readings rd JOIN ehr e ON rd.ehr_record_id = e.record_id
            ),
            bp AS (
                SELECT person_id, arg_max(sbp, measured_at) AS sbp, arg_max(dbp, measured_at) AS dbp
                FROM r WHERE kind = 'bp' GROUP BY person_id
            ),
            gl AS (
                SELECT person_id, arg_max(glucose, measured_at) AS glucose
                FROM r WHERE kind = 'glucose' GROUP BY person_id
            )
            SELECT p.person_id, TRY_CAST(p.age AS INTEGER) AS age, p.sex, p.hukou, p.occupation,
                   p.insurance_type AS insurance, p.household_status,
                   TRY_CAST(p.disability_level AS INTEGER) AS disability_level,
                   p.lives_alone = 'true' AS lives_alone, bp.sbp, bp.dbp, gl.glucose,
                   p.conditions, p.community_code
            FROM persons p LEFT JOIN bp USING (person_id) LEFT JOIN gl USING (person_id)
            ORDER BY p.person_id
            """
        ).to_arrow_table()
    finally:
        con.close()


def known_combination(conditions: Mapping[str, Sequence[str]], combination: str) -> set[str]:
    """Persons whose recorded conditions hold the whole combination already."""
    wanted = set(COMBINATIONS[combination])
    return {person for person, held in conditions.items() if wanted <= set(held)}

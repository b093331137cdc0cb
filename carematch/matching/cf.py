"""Collaborative filtering over past service use (协同过滤, R-MT-2).

Learns from who used which provider for which service what a person is likely to use next, and
hands the matching ranking a score in [0, 1] per candidate. Pure: plain values in, plain values
out; numpy, scipy and ``implicit`` only.

**Persons.** Any stable person id. In the generated city that is ``service_use.csv``'s
``ehr_record_id``: the generator writes each person's first EHR record id on every one of their
visits, so one id is one person there; in the app the linked ``Person`` id plays that role.

**Items.** A provider × service pair (:func:`service_item`, ``"PRV0010|chronic_followup"``), not
the provider alone. The matching asks "which provider for this demand's service", and people
choose a provider per service (the nearest one offering it, so the clinic someone uses for
general outpatient care is not the one they use for vaccination): a provider item would blur
the two and score a provider high for a service the person never goes there for. Any other id
scheme works too; the engine never parses ids, except :func:`service_of` where a caller asks
it to rank within a service.

**Confidence.** Implicit feedback (Hu, Koren & Volinsky 2008): every visit is evidence that the
person uses the item; what a rating adds is how gladly. For person u and item i,

    c_ui = 1 + α · Σ_visits w(rating),   w(r) = (r + 1) / 4 for a rating r in 1–5, w = 1 unrated,

so a 3★ visit counts as an unrated one, a 1★ visit half, a 5★ visit one and a half, and a
pair never used has confidence 1 with preference 0. Ratings never make a visit negative
evidence: someone who rated a clinic 1★ still used it, and may have no other within reach.

**Model.** ``implicit``'s alternating least squares on the CPU, seeded (initial factors come
from ``ALSParams.seed``) with ``num_threads`` pinned (default 1): each user's or item's update
is independent of the others in its half-step, so the result is the same on every run.
``implicit`` warns when BLAS runs its own thread pool under its threads; the fit runs inside
``threadpoolctl.threadpool_limits(1, "blas")``, which limits BLAS only while the fit runs and
restores it after, so no environment variable changes and other code keeps its BLAS threads.
(``threadpoolctl`` is a dependency of ``implicit`` and of scikit-learn, not declared by us.)

**Scores.** ``scores(person, items)`` is the model's preference u·v, clipped at 0 and divided by
the person's largest preference over every item the model knows, so the person's favourite
item scores 1 whatever candidates are asked about, and a score does not move when the
candidate list changes. A cold-start person (no visit in the training data) gets the
popularity scores instead: visits to the item divided by visits to the most used item. An item
nobody used in the training data scores 0 for everyone (no evidence either way).

**Popularity baseline.** Items ranked by their number of training visits, the same for every
person. Ranked within a service (``group_of=service_of``) it is per-service popularity: the
providers most used for that service, the honest "what most people do" answer.

**Offline evaluation.** :func:`leave_last_out` holds out each person's last visit (by date; on
the same date the one given later in the input, so the answer never depends on a sort's whim)
and trains on the rest. A person with a single visit is not evaluated (there is no history to
predict from, and both models would give the same popularity answer) and that visit stays in
the training data, where it is nobody's test answer. Hit-rate@k is the share of held-out visits
whose item is among the person's top k. Items the person already used are **not** excluded by
default: returning to one's own clinic is the commonest next visit (continuity of care), and
the ranking should score that provider high, not hide it; ``exclude_seen=True`` measures
discovery of new items only. Whatever the options, CF and the baseline are scored by the same
rule on the same held-out visits.

**Hyper-parameters.** :func:`evaluate` picks the ALS factors and α from a small grid on a
validation split made from the training part only (each person's second-to-last visit, the
last one of the training data), never from the test visits; regularisation and iterations are
fixed (the grid showed them to matter little).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from carematch.matching.errors import ServiceUseRejected

ITEM_SEPARATOR = "|"
RATINGS = range(1, 6)
_CHUNK = 2048
"""Held-out visits scored at once: bounds the (visits × items) matrix to a few MB."""


def service_item(provider_id: str, service_code: str) -> str:
    """The item id of a provider × service pair, e.g. ``"PRV0010|chronic_followup"``."""
    if ITEM_SEPARATOR in provider_id or not provider_id or not service_code:
        raise ServiceUseRejected(
            f"cannot make an item of provider {provider_id!r} and service {service_code!r}: "
            f"both must be non-empty and the provider id must not contain {ITEM_SEPARATOR!r}"
        )
    return f"{provider_id}{ITEM_SEPARATOR}{service_code}"


def service_of(item: str) -> str:
    """The service code of a provider × service item: the group a within-service ranking uses."""
    return item.rpartition(ITEM_SEPARATOR)[2]


def rating_weight(rating: np.ndarray) -> np.ndarray:
    """Weight of each visit in the confidence: ``(r + 1) / 4`` for a rating r, 1 when unrated."""
    r = np.asarray(rating, dtype=np.float64)
    return np.where(r > 0, (r + 1.0) / 4.0, 1.0)


@dataclass(frozen=True, eq=False)
class Interactions:
    """Past service use, one element per visit; persons and items index sorted id tuples.

    Subsets (:meth:`subset`) keep the full id tuples, so a model fitted on a training split
    and the held-out visits of the same split share their indices.
    """

    persons: tuple[str, ...]
    items: tuple[str, ...]
    person: np.ndarray
    """Index into ``persons`` of each visit (int64)."""
    item: np.ndarray
    """Index into ``items`` of each visit (int64)."""
    date: np.ndarray
    """Day of each visit (datetime64[D])."""
    rating: np.ndarray
    """Satisfaction of each visit, 1–5, 0 when not rated (int8)."""

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]]) -> Interactions:
        """Build from ``(person, item, date[, rating])`` rows; a bad row is named in the error.

        ``date`` is a ``datetime.date`` or an ISO 8601 date string; ``rating`` is 1–5 (int, an
        integral float or a digit string) or ``None`` / ``""`` / NaN when the visit was not
        rated. Rows are numbered from 1 in the order given.
        """
        persons: list[Any] = []
        items: list[Any] = []
        dates: list[Any] = []
        ratings: list[Any] = []
        for n, row in enumerate(rows, start=1):
            if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) < 3:
                raise ServiceUseRejected(
                    f"row {n}: expected (person, item, date[, rating]), got {row!r}", row=n
                )
            if len(row) > 4:
                raise ServiceUseRejected(
                    f"row {n}: expected at most 4 fields (person, item, date, rating), "
                    f"got {len(row)}",
                    row=n,
                )
            persons.append(row[0])
            items.append(row[1])
            dates.append(row[2])
            ratings.append(row[3] if len(row) == 4 else None)
        return cls.from_columns(persons, items, dates, ratings)

    @classmethod
    def from_columns(
        cls,
        person: Sequence[Any],
        item: Sequence[Any],
        date: Sequence[Any],
        rating: Sequence[Any] | None = None,
    ) -> Interactions:
        """Build from parallel columns (the shape a CSV or Arrow reader hands over).

        Validates like :meth:`from_rows`; the error names the first bad row (from 1).
        """
        n = len(person)
        lengths = {"person": n, "item": len(item), "date": len(date)}
        if rating is not None:
            lengths["rating"] = len(rating)
        if len(set(lengths.values())) != 1:
            raise ServiceUseRejected(f"columns differ in length: {lengths}")
        if n == 0:
            raise ServiceUseRejected("no visits: collaborative filtering needs at least one")
        person_ids = _ids(person, "person id")
        item_ids = _ids(item, "item id")
        days = _dates(date)
        stars = _ratings(rating) if rating is not None else np.zeros(n, dtype=np.int8)
        persons, person_index = np.unique(person_ids, return_inverse=True)
        items, item_index = np.unique(item_ids, return_inverse=True)
        return cls(
            persons=tuple(str(p) for p in persons),
            items=tuple(str(i) for i in items),
            person=person_index.astype(np.int64).ravel(),
            item=item_index.astype(np.int64).ravel(),
            date=days,
            rating=stars,
        )

    def __len__(self) -> int:
        return int(self.person.size)

    def subset(self, keep: np.ndarray) -> Interactions:
        """The visits where ``keep`` is true (a boolean mask), with the same id tuples."""
        return Interactions(
            persons=self.persons,
            items=self.items,
            person=self.person[keep],
            item=self.item[keep],
            date=self.date[keep],
            rating=self.rating[keep],
        )

    def confidence(self, alpha: float) -> sp.csr_matrix:
        """Persons × items confidence ``1 + α · Σ w(rating)`` on used pairs (see the module)."""
        evidence = sp.coo_matrix(
            (rating_weight(self.rating), (self.person, self.item)),
            shape=(len(self.persons), len(self.items)),
        ).tocsr()
        evidence.sum_duplicates()
        evidence.data = (1.0 + alpha * evidence.data).astype(np.float32)
        return evidence.astype(np.float32)

    def visits_per_item(self) -> np.ndarray:
        """Number of visits to each item (float64, aligned with ``items``)."""
        return np.bincount(self.item, minlength=len(self.items)).astype(np.float64)

    def visits_per_person(self) -> np.ndarray:
        """Number of visits by each person (int64, aligned with ``persons``)."""
        return np.bincount(self.person, minlength=len(self.persons))


def _ids(values: Sequence[Any], what: str) -> np.ndarray:
    for n, value in enumerate(values, start=1):
        if not isinstance(value, str) or not value.strip():
            raise ServiceUseRejected(
                f"row {n}: {what} must be non-empty text, got {value!r}", row=n, field=what
            )
    return np.array(values, dtype=str)


def _dates(values: Sequence[Any]) -> np.ndarray:
    # Few distinct days (two years is 730) among many visits: parse each distinct value once.
    parsed: dict[Any, np.datetime64] = {}
    out = np.empty(len(values), dtype="datetime64[D]")
    for n, value in enumerate(values, start=1):
        key = (type(value), value)
        day = parsed.get(key)
        if day is None:
            day = _date(value)
            if day is None:
                raise ServiceUseRejected(
                    f"row {n}: date must be a date or an ISO date (YYYY-MM-DD), got {value!r}",
                    row=n,
                    field="date",
                )
            parsed[key] = day
        out[n - 1] = day
    return out


def _date(value: Any) -> np.datetime64 | None:
    if isinstance(value, datetime):
        return np.datetime64(value.date(), "D")
    if isinstance(value, date):
        return np.datetime64(value, "D")
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else value.astype("datetime64[D]")
    if isinstance(value, str):
        try:
            return np.datetime64(date.fromisoformat(value.strip()), "D")
        except ValueError:
            return None
    return None


def _ratings(values: Sequence[Any]) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int8)
    for n, value in enumerate(values, start=1):
        stars = _rating(value)
        if stars is None:
            raise ServiceUseRejected(
                f"row {n}: rating must be a whole number from 1 to 5 or empty, got {value!r}",
                row=n,
                field="rating",
            )
        out[n - 1] = stars
    return out


def _rating(value: Any) -> int | None:
    """1–5 for a rating, 0 for "not rated", None for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, str):
        value = value.strip()
        return int(value) if value.isdigit() and int(value) in RATINGS else None
    if isinstance(value, int | np.integer):
        return int(value) if int(value) in RATINGS else None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return 0
        return int(value) if value.is_integer() and int(value) in RATINGS else None
    return None


@dataclass(frozen=True)
class ALSParams:
    """Hyper-parameters of the ALS model; the defaults are the middle of the tuning grid."""

    factors: int = 16
    regularization: float = 0.1
    alpha: float = 4.0
    """Weight of the evidence in the confidence ``1 + α · Σ w(rating)``."""
    iterations: int = 15
    seed: int = 7
    num_threads: int = 1

    def __post_init__(self) -> None:
        checks = {
            "factors": _whole(self.factors),
            "regularization": self.regularization >= 0,
            "alpha": self.alpha > 0,
            "iterations": _whole(self.iterations),
            "num_threads": _whole(self.num_threads),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ServiceUseRejected(
                f"ALS parameters out of range: {', '.join(bad)} (factors, iterations and "
                "num_threads are whole numbers ≥ 1, alpha > 0, regularization ≥ 0)",
                parameters=bad,
            )


def _whole(value: Any) -> bool:
    """A whole number ≥ 1 (bool excluded: True is an int to Python, not a count to us)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


DEFAULT_GRID: tuple[ALSParams, ...] = tuple(
    ALSParams(factors=f, alpha=a) for f in (8, 16, 32, 64) for a in (1.0, 4.0, 16.0)
)
"""Grid :func:`tune` searches: latent dimensions × weight of the evidence."""


class Recommendation(NamedTuple):
    """One recommended item and its score in [0, 1]."""

    item: str
    score: float


class _Ranker:
    """What CF and the baseline share: ids, the training visits, ranking and scoring rules."""

    def __init__(self, train: Interactions) -> None:
        self.persons = train.persons
        self.items = train.items
        self._person_index = {p: i for i, p in enumerate(train.persons)}
        self._item_index = {item: i for i, item in enumerate(train.items)}
        self._visits = train.visits_per_item()
        self._active = train.visits_per_person() > 0
        self._known = self._visits > 0
        self._seen = sp.coo_matrix(
            (np.ones(len(train), dtype=np.int8), (train.person, train.item)),
            shape=(len(train.persons), len(train.items)),
        ).tocsr()
        top = self._visits.max() if self._visits.size else 0.0
        self._popularity = self._visits / top if top > 0 else self._visits

    def _preference(self, rows: np.ndarray) -> np.ndarray:
        """Raw preference (higher is better) of each person row for every item."""
        raise NotImplementedError

    def _normalised(self, rows: np.ndarray) -> np.ndarray:
        """Scores in [0, 1] of each person row for every item (see the module docstring)."""
        raise NotImplementedError

    def _row(self, person: str) -> int:
        """Index of a person with training visits, or -1 for a cold-start person."""
        row = self._person_index.get(person, -1)
        return row if row >= 0 and self._active[row] else -1

    def scores(self, person: str, candidate_items: Sequence[str]) -> np.ndarray:
        """Score in [0, 1] of each candidate item for this person, in the candidates' order.

        For blending into the matching ranking; a cold-start person gets popularity scores and
        an item absent from the training data scores 0.
        """
        if isinstance(candidate_items, str):
            raise ServiceUseRejected("candidate_items must be a list of item ids, not one string")
        all_scores = self._normalised(np.array([self._row(person)]))[0]
        index = np.array([self._item_index.get(i, -1) for i in candidate_items], dtype=np.int64)
        out = np.where(index >= 0, all_scores[np.maximum(index, 0)], 0.0)
        return np.clip(out, 0.0, 1.0)

    def recommend(
        self,
        person: str,
        k: int = 5,
        candidates: Sequence[str] | None = None,
        exclude_seen: bool = False,
    ) -> list[Recommendation]:
        """The person's top ``k`` items, best first, each with its score in [0, 1].

        Only items used by someone in the training data can be recommended; ``candidates``
        narrows the choice further (e.g. the providers offering a demand's service), and
        ``exclude_seen`` drops items the person already used. Ties go to the smaller item id.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ServiceUseRejected(f"k must be a whole number ≥ 1, got {k!r}")
        if isinstance(candidates, str):
            raise ServiceUseRejected("candidates must be a list of item ids, not one string")
        row = np.array([self._row(person)])
        allowed = self._known.copy()
        if candidates is not None:
            wanted = np.zeros_like(allowed)
            index = [self._item_index[i] for i in candidates if i in self._item_index]
            wanted[index] = True
            allowed &= wanted
        if exclude_seen and row[0] >= 0:
            allowed[self._seen[row[0]].indices] = False
        preference = np.where(allowed, self._preference(row)[0], -np.inf)
        order = np.argsort(-preference, kind="stable")[:k]
        order = order[np.isfinite(preference[order])]
        normalised = self._normalised(row)[0]
        return [Recommendation(self.items[i], float(normalised[i])) for i in order]


class PopularityBaseline(_Ranker):
    """Most-used items first, the same for everyone: the baseline CF has to beat."""

    @classmethod
    def fit(cls, train: Interactions) -> PopularityBaseline:
        """Count the training visits per item."""
        return cls(train)

    def _preference(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._visits, (rows.size, self._visits.size))

    def _normalised(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._popularity, (rows.size, self._popularity.size))


class CollaborativeFilter(_Ranker):
    """Implicit-feedback ALS over persons × items; cold-start persons fall back to popularity."""

    def __init__(
        self,
        train: Interactions,
        params: ALSParams,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
    ) -> None:
        super().__init__(train)
        self.params = params
        self.user_factors = user_factors
        self.item_factors = item_factors

    @classmethod
    def fit(cls, train: Interactions, params: ALSParams | None = None) -> CollaborativeFilter:
        """Factorise the training confidence matrix; deterministic for a given ``params.seed``."""
        params = params or ALSParams()
        confidence = train.confidence(params.alpha)
        # BLAS threads under implicit's own threads oversubscribe the cores (implicit warns);
        # the limit holds only inside this block.
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=params.factors,
                regularization=params.regularization,
                alpha=1.0,  # the confidence already carries α (see Interactions.confidence)
                use_gpu=False,
                iterations=params.iterations,
                num_threads=params.num_threads,
                random_state=params.seed,
            )
            model.fit(confidence, show_progress=False)
        return cls(
            train,
            params,
            np.asarray(model.user_factors, dtype=np.float64),
            np.asarray(model.item_factors, dtype=np.float64),
        )

    def _preference(self, rows: np.ndarray) -> np.ndarray:
        # A person without training visits has only the random-start factors: popularity then.
        warm = (rows >= 0) & self._active[np.maximum(rows, 0)]
        out = np.broadcast_to(self._popularity, (rows.size, self._popularity.size)).copy()
        if warm.any():
            out[warm] = self.user_factors[rows[warm]] @ self.item_factors.T
        return out

    def _normalised(self, rows: np.ndarray) -> np.ndarray:
        preference = np.where(self._known, np.maximum(self._preference(rows), 0.0), 0.0)
        top = preference.max(axis=1, initial=0.0)
        # A warm person whose every preference is ≤ 0 has no usable signal: popularity then.
        cold = (rows < 0) | (top <= 0)
        safe = np.where(top > 0, top, 1.0)
        return np.where(cold[:, None], self._popularity[None, :], preference / safe[:, None])


Ranker = PopularityBaseline | CollaborativeFilter


@dataclass(frozen=True, eq=False)
class HoldOut:
    """A leave-last-out split: each person's last visit held out, every other visit to train on."""

    train: Interactions
    person: np.ndarray
    """Person index (into ``train.persons``) of each held-out visit."""
    item: np.ndarray
    """Item index (into ``train.items``) of each held-out visit."""
    visit: np.ndarray
    """Position of each held-out visit in the interactions that were split."""

    def __len__(self) -> int:
        return int(self.person.size)


def leave_last_out(interactions: Interactions) -> HoldOut:
    """Hold out the last visit of every person with at least two; train on all the rest.

    Last by date; on the same date, the visit given later in the input.
    """
    position = np.arange(len(interactions))
    order = np.lexsort((position, interactions.date, interactions.person))
    person_sorted = interactions.person[order]
    is_last = np.ones(order.size, dtype=bool)
    is_last[:-1] = person_sorted[1:] != person_sorted[:-1]
    several = interactions.visits_per_person()[person_sorted] >= 2
    held = np.sort(order[is_last & several])
    keep = np.ones(len(interactions), dtype=bool)
    keep[held] = False
    return HoldOut(
        train=interactions.subset(keep),
        person=interactions.person[held],
        item=interactions.item[held],
        visit=held,
    )


def hit_rate(
    model: Ranker,
    hold_out: HoldOut,
    k: int = 5,
    *,
    exclude_seen: bool = False,
    group_of: Callable[[str], str] | None = None,
) -> float:
    """Share of held-out visits whose item is in the person's top ``k`` (by the model).

    ``group_of`` ranks each visit among the items of its own group only (e.g. ``service_of``:
    among the providers used for the service the held-out visit was for, as the matching asks
    once a demand's service is known). ``exclude_seen`` drops items the person used in the
    training data, so such a held-out item is a miss. The model must be fitted on
    ``hold_out.train``.
    """
    if (
        model.items != hold_out.train.items
        or model.persons != hold_out.train.persons
        or not np.array_equal(model._visits, hold_out.train.visits_per_item())
    ):
        raise ServiceUseRejected("the model was not fitted on this split's training visits")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ServiceUseRejected(f"k must be a whole number ≥ 1, got {k!r}")
    if len(hold_out) == 0:
        raise ServiceUseRejected("no held-out visits: every person has a single visit")
    groups = None
    if group_of is not None:
        _, groups = np.unique(np.array([group_of(i) for i in model.items]), return_inverse=True)
    columns = np.arange(len(model.items))
    hits = 0
    for start in range(0, len(hold_out), _CHUNK):
        rows = hold_out.person[start : start + _CHUNK]
        target = hold_out.item[start : start + _CHUNK]
        allowed = np.broadcast_to(model._known, (rows.size, columns.size)).copy()
        if groups is not None:
            allowed &= groups[None, :] == groups[target][:, None]
        if exclude_seen:
            allowed &= model._seen[rows].toarray() == 0
        preference = np.where(allowed, model._preference(rows), -np.inf)
        mine = preference[np.arange(rows.size), target]
        # Rank as recommend() does: strictly better items, then equal ones with a smaller id.
        ahead = (preference > mine[:, None]).sum(axis=1) + (
            (preference == mine[:, None]) & (columns[None, :] < target[:, None])
        ).sum(axis=1)
        hits += int((np.isfinite(mine) & (ahead < k)).sum())
    return hits / len(hold_out)


@dataclass(frozen=True)
class Tuning:
    """Validation hit-rate of each grid point, and the winner."""

    best: ALSParams
    results: tuple[tuple[ALSParams, float], ...]
    validation_visits: int


def tune(
    train: Interactions,
    *,
    k: int = 5,
    group_of: Callable[[str], str] | None = None,
    grid: Sequence[ALSParams] = DEFAULT_GRID,
) -> Tuning:
    """Pick ALS hyper-parameters on a validation split of the training visits only.

    The validation answer is each person's last training visit, i.e. the second-to-last
    overall, so the test visits never influence the choice. Ties go to the earlier grid point
    (the grid lists smaller models first). With no validation visit the first grid point wins.
    """
    if not grid:
        raise ServiceUseRejected("the tuning grid is empty")
    validation = leave_last_out(train)
    if len(validation) == 0:
        return Tuning(best=grid[0], results=(), validation_visits=0)
    results = tuple(
        (
            params,
            hit_rate(
                CollaborativeFilter.fit(validation.train, params),
                validation,
                k,
                group_of=group_of,
            ),
        )
        for params in grid
    )
    best = max(results, key=lambda r: r[1])[0]
    return Tuning(best=best, results=results, validation_visits=len(validation))


@dataclass(frozen=True, eq=False)
class Evaluation:
    """CF against the popularity baseline on the same held-out visits."""

    hold_out: HoldOut
    cf: CollaborativeFilter
    popularity: PopularityBaseline
    tuning: Tuning | None
    """None when the parameters were given rather than tuned."""
    fit_s: float
    """Seconds to fit the final CF model on the training visits."""
    hit_rate_cf: float
    hit_rate_popularity: float


def evaluate(
    interactions: Interactions,
    *,
    k: int = 5,
    group_of: Callable[[str], str] | None = None,
    params: ALSParams | None = None,
    grid: Sequence[ALSParams] = DEFAULT_GRID,
) -> Evaluation:
    """Leave-last-out hit-rate@k of CF and of the popularity baseline, in the same run.

    Without ``params`` the ALS hyper-parameters are tuned on the training part (:func:`tune`).
    """
    hold_out = leave_last_out(interactions)
    if len(hold_out) == 0:
        raise ServiceUseRejected("no person has two visits: nothing to hold out and predict")
    tuning = None
    if params is None:
        tuning = tune(hold_out.train, k=k, group_of=group_of, grid=grid)
        params = tuning.best
    start = time.perf_counter()
    cf = CollaborativeFilter.fit(hold_out.train, params)
    fit_s = time.perf_counter() - start
    popularity = PopularityBaseline.fit(hold_out.train)
    return Evaluation(
        hold_out=hold_out,
        cf=cf,
        popularity=popularity,
        tuning=tuning,
        fit_s=fit_s,
        hit_rate_cf=hit_rate(cf, hold_out, k, group_of=group_of),
        hit_rate_popularity=hit_rate(popularity, hold_out, k, group_of=group_of),
    )

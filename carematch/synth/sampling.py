"""Random streams and exact-quota sampling shared by every generator stage."""

from __future__ import annotations

import zlib

import numpy as np

# One named stream per stage: adding draws to one stage never shifts another stage's numbers,
# so a change to (say) the noise model leaves the population of a given seed untouched.
_STREAMS = (
    "households",
    "people",
    "health",
    "screens",
    "readings",
    "vaccination",
    "providers",
    "claims",
    "service_use",
    "extracts",
    "noise",
)


def stream(seed: int, name: str) -> np.random.Generator:
    """The random generator of one named stage for a city seed (PCG64, fully reproducible)."""
    # Sub-streams (e.g. "noise:police") get a stable key from their name, never from hash().
    key = _STREAMS.index(name) if name in _STREAMS else 1000 + zlib.crc32(name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, key])))


def quota(
    rng: np.random.Generator,
    candidates: np.ndarray,
    share: float,
    weights: np.ndarray | None = None,
    count: int | None = None,
) -> np.ndarray:
    """Pick exactly ``round(share * len(candidates))`` of the candidates, without replacement.

    Exact counts, not independent coin flips, so that the demo city's published figures hold
    at every size. With ``weights`` the draw favours heavier candidates
    (Efraimidis-Spirakis keys), which lets a quota follow age or risk while staying exact.

    Args:
        rng: the stage's generator.
        candidates: indices to choose from.
        share: the fraction to pick (ignored when ``count`` is given).
        weights: optional positive weight per candidate.
        count: an explicit number to pick instead of ``share``.

    Returns:
        The chosen indices, sorted ascending.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    k = round(share * candidates.size) if count is None else int(count)
    k = max(0, min(k, candidates.size))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    u = rng.random(candidates.size)
    if weights is None:
        keys = u
    else:
        w = np.asarray(weights, dtype=np.float64)
        keys = np.log(np.maximum(u, 1e-300)) / np.maximum(w, 1e-12)
    chosen = np.argpartition(-keys, k - 1)[:k]
    return np.sort(candidates[chosen])


def choose_by_group(
    rng: np.random.Generator, group: np.ndarray, table: np.ndarray, values: np.ndarray | None = None
) -> np.ndarray:
    """Draw one category per row from the probability row of its group.

    Args:
        rng: the stage's generator.
        group: the row of ``table`` to use for each element.
        table: (groups, categories) probabilities; rows need not be normalised.
        values: what to return for each category (defaults to the category index).
    """
    table = np.asarray(table, dtype=np.float64)
    cumulative = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(group))[:, None]
    index = (u >= cumulative[group]).sum(axis=1)
    index = np.minimum(index, table.shape[1] - 1)
    return index if values is None else np.asarray(values)[index]


def group_first(keys: np.ndarray) -> np.ndarray:
    """Start offsets of runs of equal values in a sorted key array."""
    keys = np.asarray(keys)
    if keys.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))

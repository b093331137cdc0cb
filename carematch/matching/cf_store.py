"""The app's collaborative-filtering model (协同过滤, R-MT-2): trained from visits, stored, scored.

:mod:`carematch.matching.cf` is the pure engine; this module connects it to the installation.

**Training** (:func:`train`, run by ``carematch match cf-train`` on a schedule) reads every
service record with its rating, if any, as one visit of a person to a provider × service item
(:func:`~carematch.matching.cf.service_item`), and fits the engine. When some person has two
visits it first measures hit-rate@5 on each person's last visit against the per-service
popularity baseline (:func:`~carematch.matching.cf.evaluate`, which also picks factors and α on
a validation split of the training part); the stored model is then refitted on every visit with
those parameters, so today's visit counts tomorrow.

**Storage.** ``DATA_DIR/models/cf-<UTC timestamp>.npz`` holds what scoring needs and nothing it
does not: the person and item ids, the factors, and the distinct (person, item) pairs with their
visit counts (popularity and "is this person warm" come from them). No dates, ratings or
service details leave the database. Arrays only, read back with ``allow_pickle=False``, so a
planted file cannot run code. ``DATA_DIR/models/cf.json`` names the current file; both are
written to a temporary file and renamed into place, so a reader sees the old model or the new
one, never half of either. The newest :data:`KEEP` model files are kept (the current one among
them: a rollback is an edit of the manifest), older ones are deleted.

**Scoring** (:func:`current_model`, :func:`scores_for`) happens per request. The model is loaded
once per process and kept; each call costs one ``stat`` of the manifest, and a new manifest
(another mtime, size or inode: a retrain renames a new file over it) loads the new model. A
missing manifest means "no model yet": no CF, silently. A manifest or model file that cannot be
read means no CF with a warning in the log (once per manifest version), never a failed request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from carematch.booking.models import Rating, ServiceRecord
from carematch.core.clock import utcnow
from carematch.core.config import get_settings
from carematch.matching.cf import (
    ALSParams,
    CollaborativeFilter,
    Interactions,
    evaluate,
    service_item,
    service_of,
)
from carematch.matching.errors import ServiceUseRejected
from carematch.providers.hours import to_city_time

log = logging.getLogger(__name__)

MODELS_DIR = "models"
MANIFEST = "cf.json"
FORMAT = 1
"""Version of the stored layout; a file of another version is refused (no CF, a warning)."""
KEEP = 3
"""Model files kept, newest first: the current one and two to roll back to."""
K = 5
"""Hit-rate@k the training reports: the five providers a recommendation shows."""


# --- training ---------------------------------------------------------------------------------


def service_use(session: Session) -> list[tuple[str, str, datetime, int | None]]:
    """Every service record as ``(person, provider|service item, city-time visit, rating)``.

    Ordered by visit time and record id, so visits on the same day reach the engine in the same
    order on every run (its leave-last-out split breaks same-day ties by input order).
    """
    rows = session.execute(
        select(
            ServiceRecord.person_id,
            ServiceRecord.provider_id,
            ServiceRecord.service,
            ServiceRecord.performed_at,
            Rating.score,
        )
        .outerjoin(Rating, Rating.service_record_id == ServiceRecord.id)
        .order_by(ServiceRecord.performed_at, ServiceRecord.id)
    )
    out: list[tuple[str, str, datetime, int | None]] = []
    for person, provider, service, performed_at, score in rows:
        # SQLite hands back naive datetimes; the app stores UTC.
        at = performed_at if performed_at.tzinfo else performed_at.replace(tzinfo=UTC)
        out.append((person, service_item(provider, service), to_city_time(at), score))
    return out


@dataclass(frozen=True)
class TrainingSummary:
    """What one training run saw and wrote (the CLI prints it as one JSON line)."""

    persons: int
    items: int
    visits: int
    rated: int
    evaluated_visits: int
    """Held-out last visits the hit rates are measured on (0: nobody has two visits)."""
    hit_rate_cf: float | None
    hit_rate_popularity: float | None
    params: dict[str, Any]
    model: str
    sha256: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data, hit rates rounded to four places."""
        out = asdict(self)
        for key in ("hit_rate_cf", "hit_rate_popularity"):
            if out[key] is not None:
                out[key] = round(out[key], 4)
        return out


def train(
    session: Session,
    *,
    params: ALSParams | None = None,
    data_dir: Path | None = None,
    keep: int = KEEP,
) -> TrainingSummary | None:
    """Fit the model on every service record, store it and make it current; None without visits.

    Args:
        params: the ALS parameters; None tunes factors and α on a validation split when some
            person has three visits or more, else uses the engine's defaults.
        data_dir: the installation's data directory (default: the configured one).
        keep: model files to keep, newest first (at least 1: the new one).
    """
    started = time.perf_counter()
    rows = service_use(session)
    if not rows:
        return None
    interactions = Interactions.from_rows(rows)
    evaluated = 0
    hit_cf = hit_popularity = None
    try:
        evaluation = evaluate(interactions, k=K, group_of=service_of, params=params)
    except ServiceUseRejected:
        evaluation = None  # nobody has two visits: nothing to hold out
    if evaluation is not None:
        evaluated = len(evaluation.hold_out)
        hit_cf, hit_popularity = evaluation.hit_rate_cf, evaluation.hit_rate_popularity
        if params is None and evaluation.tuning is not None and evaluation.tuning.results:
            params = evaluation.tuning.best
    model = CollaborativeFilter.fit(interactions, params or ALSParams())
    path, digest = save(model, interactions, data_dir=data_dir, keep=keep)
    return TrainingSummary(
        persons=len(interactions.persons),
        items=len(interactions.items),
        visits=len(interactions),
        rated=int(np.count_nonzero(interactions.rating)),
        evaluated_visits=evaluated,
        hit_rate_cf=hit_cf,
        hit_rate_popularity=hit_popularity,
        params=asdict(model.params),
        model=str(path),
        sha256=digest,
        seconds=round(time.perf_counter() - started, 3),
    )


def save(
    model: CollaborativeFilter,
    interactions: Interactions,
    *,
    data_dir: Path | None = None,
    keep: int = KEEP,
) -> tuple[Path, str]:
    """Store a model fitted on ``interactions`` and make it current; its path and content hash.

    The hash covers what is stored (not the file's bytes), so equal models have equal hashes.
    """
    return _write_model(_arrays(model, interactions), _models_dir(data_dir), keep=max(1, keep))


def _models_dir(data_dir: Path | None) -> Path:
    return (data_dir or get_settings().data_dir) / MODELS_DIR


def _arrays(model: CollaborativeFilter, interactions: Interactions) -> dict[str, np.ndarray]:
    """What scoring needs: ids, factors, and the distinct used pairs with their visit counts."""
    pair, visits = np.unique(
        interactions.person * len(interactions.items) + interactions.item, return_counts=True
    )
    return {
        "format": np.array(FORMAT, dtype=np.int64),
        "params": np.array(json.dumps(asdict(model.params), sort_keys=True)),
        "persons": np.array(interactions.persons, dtype=str),
        "items": np.array(interactions.items, dtype=str),
        "pair_person": (pair // len(interactions.items)).astype(np.int64),
        "pair_item": (pair % len(interactions.items)).astype(np.int64),
        "pair_visits": visits.astype(np.int64),
        "user_factors": np.ascontiguousarray(model.user_factors, dtype=np.float64),
        "item_factors": np.ascontiguousarray(model.item_factors, dtype=np.float64),
    }


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    """A hash of the model's content (names, dtypes, shapes, bytes): equal models, equal hash.

    The file's own bytes differ between runs (the zip entries carry the time of writing).
    """
    h = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{value.dtype.str}:{value.shape};".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _write_model(arrays: dict[str, Any], directory: Path, *, keep: int) -> tuple[Path, str]:
    """Write the model file, then the manifest naming it (each atomically); prune old files."""
    directory.mkdir(parents=True, exist_ok=True)
    now = utcnow()
    # Microseconds: two runs in the same second must not overwrite each other's file.
    name = f"cf-{now.strftime('%Y%m%dT%H%M%S%fZ')}.npz"
    digest = _digest(arrays)
    path = directory / name
    with _atomic(path) as handle:
        np.savez_compressed(handle, **arrays)
    manifest = {
        "format": FORMAT,
        "model": name,
        "sha256": digest,
        "trained_at": now.isoformat(),
        "persons": int(arrays["persons"].size),
        "items": int(arrays["items"].size),
        "visits": int(arrays["pair_visits"].sum()),
    }
    with _atomic(directory / MANIFEST) as handle:
        handle.write(json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    _prune(directory, keep=keep, current=name)
    return path, digest


class _atomic:
    """A binary file written under a temporary name, synced, then renamed over ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Any:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        self.tmp = Path(tmp)
        self.handle = os.fdopen(fd, "wb")
        return self.handle

    def __exit__(self, kind: object, *_: object) -> None:
        try:
            if kind is None:
                self.handle.flush()
                os.fsync(self.handle.fileno())
            self.handle.close()
            if kind is None:
                os.replace(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)


def _prune(directory: Path, *, keep: int, current: str) -> None:
    """Delete all but the newest ``keep`` model files; never the current one."""
    models = sorted(p.name for p in directory.glob("cf-*.npz"))
    for name in models[:-keep]:
        if name != current:
            (directory / name).unlink(missing_ok=True)


# --- scoring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredModel:
    """The current model as loaded: the engine object and the manifest that named it."""

    model: CollaborativeFilter
    manifest: dict[str, Any]

    def scores(self, person_id: str, service: str, provider_ids: Iterable[str]) -> dict[str, float]:
        """CF score in [0, 1] of each provider for this person and service (see the engine).

        A provider nobody used for the service scores 0; a person without visits gets the
        providers' popularity (the engine's cold start).
        """
        providers = list(provider_ids)
        items = [service_item(pid, service) for pid in providers]
        values = self.model.scores(person_id, items)
        return {pid: float(v) for pid, v in zip(providers, values, strict=True)}


def load(directory: Path) -> StoredModel | None:
    """Read the current model named by the manifest; None when there is no manifest.

    Raises:
        ValueError, OSError, KeyError: a manifest or model file that cannot be used.
    """
    try:
        manifest = json.loads((directory / MANIFEST).read_bytes())
    except FileNotFoundError:
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{MANIFEST} is not a format-{FORMAT} manifest")
    name = manifest.get("model")
    # Only a file name in this directory: a manifest must not point the app elsewhere.
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".npz"):
        raise ValueError(f"{MANIFEST} names no model file in {directory}")
    with np.load(directory / name, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    if int(arrays["format"]) != FORMAT:
        raise ValueError(f"{name} is not a format-{FORMAT} model")
    if _digest(arrays) != manifest.get("sha256"):
        raise ValueError(f"{name} does not match the manifest's checksum")
    return StoredModel(_model(arrays), manifest)


def _model(arrays: Mapping[str, np.ndarray]) -> CollaborativeFilter:
    """The engine object from stored arrays: visits rebuilt from the pair counts."""
    persons = tuple(str(p) for p in arrays["persons"])
    items = tuple(str(i) for i in arrays["items"])
    person = np.repeat(arrays["pair_person"], arrays["pair_visits"])
    item = np.repeat(arrays["pair_item"], arrays["pair_visits"])
    if person.size and (person.max() >= len(persons) or item.max() >= len(items)):
        raise ValueError("model pairs point outside its id lists")
    user_factors, item_factors = arrays["user_factors"], arrays["item_factors"]
    if user_factors.shape[0] != len(persons) or item_factors.shape[0] != len(items):
        raise ValueError("model factors do not match its id lists")
    # Dates and ratings only shape the fit (the confidence); scoring never reads them.
    visits = Interactions(
        persons=persons,
        items=items,
        person=person.astype(np.int64),
        item=item.astype(np.int64),
        date=np.zeros(person.size, dtype="datetime64[D]"),
        rating=np.zeros(person.size, dtype=np.int8),
    )
    params = ALSParams(**json.loads(str(arrays["params"])))
    return CollaborativeFilter(visits, params, user_factors, item_factors)


_lock = threading.Lock()
_loaded: dict[Path, tuple[tuple[int, int, int], StoredModel | None]] = {}


def current_model(data_dir: Path | None = None) -> StoredModel | None:
    """The installation's current model, loaded once per process and per manifest version.

    None when no model was trained, or when the stored one cannot be read (then a warning is
    logged once for that manifest version and the app ranks without CF).
    """
    # absolute(), not resolve(): no symlink walk on the per-request path.
    directory = _models_dir(data_dir).absolute()
    try:
        stat = (directory / MANIFEST).stat()
    except OSError:
        return None  # not trained yet (or the directory is unreadable: no CF either way)
    version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    cached = _loaded.get(directory)
    if cached is not None and cached[0] == version:
        return cached[1]
    with _lock:
        cached = _loaded.get(directory)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            stored = load(directory)
        except Exception as exc:
            # Any unreadable model (truncated, foreign, tampered) means "rank without CF".
            log.warning(
                "collaborative filtering off: cannot load the model in %s: %s", directory, exc
            )
            stored = None
        _loaded[directory] = (version, stored)
        return stored


def scores_for(
    person_id: str, service: str, provider_ids: Sequence[str], *, data_dir: Path | None = None
) -> dict[str, float] | None:
    """CF scores of the candidate providers for a person's service; None without a usable model.

    A failure while scoring (which a sound model never gives) also means no CF, with a warning:
    the ranking without CF is still a good answer, a failed request is not.
    """
    stored = current_model(data_dir)
    if stored is None:
        return None
    try:
        return stored.scores(person_id, service, provider_ids)
    except Exception as exc:
        log.warning("collaborative filtering off for this request: %s", exc)
        return None

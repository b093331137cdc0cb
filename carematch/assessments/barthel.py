"""The Barthel index (巴氏指数): check a set of answers, add them up, grade the total.

A pure engine: the items, their allowed scores and the cut points come from ``barthel.yaml``
beside this module, so a province that grades differently edits data, not code. The file is
checked when it loads (every total 0..max falls in exactly one band, and a higher total never
gives a higher level), so a typo stops the service rather than mis-grading people.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class ScaleFileError(ValueError):
    """The scale file is malformed (a deployment error, raised at load)."""


@dataclass(frozen=True)
class Option:
    """One allowed answer of an item: its score and what it means."""

    score: int
    zh: str
    en: str


@dataclass(frozen=True)
class Item:
    """One Barthel item (feeding, bathing, …) with its allowed answers, highest first."""

    code: str
    zh: str
    en: str
    options: tuple[Option, ...]

    @property
    def scores(self) -> tuple[int, ...]:
        return tuple(o.score for o in self.options)


@dataclass(frozen=True)
class Band:
    """Totals ``low..high`` (inclusive) grade as ``level``."""

    level: int
    low: int
    high: int
    zh: str
    en: str


@dataclass(frozen=True)
class Scale:
    """The whole instrument: its items (in form order) and the grading of the total."""

    instrument: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]

    @property
    def max_total(self) -> int:
        return sum(max(item.scores) for item in self.items)

    def problems(self, answers: Mapping[str, Any]) -> list[str]:
        """Everything wrong with a set of answers (empty when they can be scored).

        An unknown item, a missing item and a score the item does not allow are each named,
        so that the form or the API caller can fix them all at once.
        """
        known = {item.code: item for item in self.items}
        found = []
        for code in sorted(set(answers) - set(known)):
            found.append(f"unknown item {code!r}")
        for item in self.items:
            if item.code not in answers:
                found.append(f"missing item {item.code!r}")
                continue
            score = answers[item.code]
            # bool is an int in Python: True must not pass as a score of 1.
            if isinstance(score, bool) or not isinstance(score, int) or score not in item.scores:
                allowed = "/".join(str(s) for s in sorted(item.scores))
                found.append(f"item {item.code!r}: score {score!r} is not one of {allowed}")
        return found

    def total(self, answers: Mapping[str, int]) -> int:
        """The Barthel total of checked answers (0 … :attr:`max_total`)."""
        return sum(answers[item.code] for item in self.items)

    def band(self, total: int) -> Band:
        """The band a total falls in."""
        for band in self.bands:
            if band.low <= total <= band.high:
                return band
        raise ValueError(f"total {total} is outside 0..{self.max_total}")

    def level(self, total: int) -> int:
        """``disability_level`` for a total: 0 independent … 4 total dependence."""
        return self.band(total).level


def _label(data: Any, where: str) -> tuple[str, str]:
    if not isinstance(data, dict) or not data.get("zh") or not data.get("en"):
        raise ScaleFileError(f"{where}: needs a label with zh and en")
    return str(data["zh"]), str(data["en"])


def parse_scale(data: Any) -> Scale:
    """A scale from the file's parsed YAML, checked.

    Raises:
        ScaleFileError: a missing label, a score that is not a non-negative integer, duplicate
            scores, bands that leave a total uncovered or cover one twice, or a level that rises
            with the total.
    """
    if not isinstance(data, dict) or not isinstance(data.get("items"), dict):
        raise ScaleFileError("expected a mapping with `items`")
    items = []
    for code, spec in data["items"].items():
        zh, en = _label(spec.get("label") if isinstance(spec, dict) else None, f"item {code}")
        options = []
        for raw in spec.get("scores") or []:
            score = raw.get("score") if isinstance(raw, dict) else None
            if isinstance(score, bool) or not isinstance(score, int) or score < 0:
                raise ScaleFileError(f"item {code}: score {score!r} is not a whole number >= 0")
            options.append(Option(score, *_label(raw, f"item {code} score {score}")))
        scores = [o.score for o in options]
        if not scores or len(set(scores)) != len(scores):
            raise ScaleFileError(f"item {code}: needs distinct scores")
        items.append(Item(str(code), zh, en, tuple(options)))
    bands = []
    for raw in data.get("levels") or []:
        try:
            band = Band(int(raw["level"]), int(raw["min"]), int(raw["max"]), *_label(raw, "level"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ScaleFileError(f"level {raw!r}: needs level, min, max, zh and en") from exc
        bands.append(band)
    scale = Scale(str(data.get("instrument") or "barthel"), tuple(items), tuple(bands))
    for total in range(scale.max_total + 1):
        hits = [b for b in bands if b.low <= total <= b.high]
        if len(hits) != 1:
            raise ScaleFileError(f"total {total} falls in {len(hits)} bands, not exactly one")
    ordered = sorted(bands, key=lambda b: b.low)
    if any(a.level < b.level for a, b in itertools.pairwise(ordered)):
        raise ScaleFileError("a higher total must never give a higher disability level")
    return scale


def load_scale(path: Path) -> Scale:
    """Read and check a scale file."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScaleFileError(f"{path}: cannot read the scale: {exc}") from exc
    return parse_scale(data)


@lru_cache(maxsize=1)
def barthel() -> Scale:
    """The Barthel scale shipped with the package."""
    path = resources.files("carematch.assessments").joinpath("barthel.yaml")
    return load_scale(Path(str(path)))

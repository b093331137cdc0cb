"""The needs a questionnaire or a home visit can report (``needs.yaml`` beside this module).

One list for both channels, so either way a need reaches the same profile feature
(``need_<code>``, see :func:`feature_name`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Need:
    """One reportable need: a stable code and its labels."""

    code: str
    zh: str
    en: str

    def label(self, locale: str) -> str:
        return self.en if locale == "en" else self.zh


def feature_name(code: str) -> str:
    """The boolean profile feature a need sets (``home_help`` → ``need_home_help``)."""
    return f"need_{code}"


@lru_cache(maxsize=1)
def need_catalogue() -> dict[str, Need]:
    """Every reportable need, in the file's order."""
    text = resources.files("carematch.assessments").joinpath("needs.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return {
        str(code): Need(str(code), str(spec["zh"]), str(spec["en"]))
        for code, spec in data["needs"].items()
    }


def unknown_needs(codes: Iterable[str]) -> list[str]:
    """The codes that are not in the catalogue (sorted)."""
    known = need_catalogue()
    return sorted({c for c in codes if c not in known})


def normalise(codes: Iterable[str]) -> list[str]:
    """Known codes, each once, in catalogue order (how they are stored)."""
    chosen = set(codes)
    return [code for code in need_catalogue() if code in chosen]

"""The feature dictionary: the names a rule may use, their types, and the codes ``has()`` knows.

The rule engine knows no feature by name; every caller hands it a dictionary (CareMatch's own is
``carematch/profiling/feature_dictionary.yaml``). A feature is also a column of the table the
compiled SQL runs over, so its name must be a plain identifier that is neither a Python keyword
nor one of the language's own words.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from carematch.rules.errors import DictionaryError

FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
"""Lower-case identifiers: valid in Python (so rules parse) and in SQL without surprises."""

RESERVED_NAMES = frozenset({"has", "days_since"})
"""The language's functions; a feature of that name could never be referred to."""


class FeatureType(StrEnum):
    """The type of a feature's values (and of its column)."""

    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    DATE = "date"


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature a rule may name: ``age``, ``hukou``, ``last_followup`` …

    ``values`` makes a ``str`` feature an enumeration: a rule comparing it with any other
    literal is refused at load time (``hukou == 'migrnt'``). ``nullable`` says whether the
    feature may be unknown (NULL, ``None``) for a person.
    """

    name: str
    type: FeatureType
    values: tuple[str, ...] | None = None
    nullable: bool = True
    description: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_number(self) -> bool:
        """Whether the feature is ``int`` or ``float``."""
        return self.type in (FeatureType.INT, FeatureType.FLOAT)


class FeatureDictionary(Mapping[str, Feature]):
    """The features rules may use (by name) and the condition codes ``has()`` accepts.

    It is a read-only mapping from feature name to :class:`Feature`.
    """

    def __init__(
        self,
        features: Mapping[str, Feature] | list[Feature],
        conditions: Mapping[str, Mapping[str, str]] | list[str] | tuple[str, ...] = (),
    ) -> None:
        items = list(features.values()) if isinstance(features, Mapping) else list(features)
        by_name: dict[str, Feature] = {}
        for feature in items:
            _check_feature(feature)
            if feature.name in by_name:
                raise DictionaryError(f"feature {feature.name!r} is defined twice")
            by_name[feature.name] = feature
        codes: dict[str, Mapping[str, str]] = (
            {code: dict(text) for code, text in conditions.items()}
            if isinstance(conditions, Mapping)
            else {code: {} for code in conditions}
        )
        for code in codes:
            if not isinstance(code, str) or not code:
                raise DictionaryError(f"condition code {code!r} must be a non-empty string")
        self._features = MappingProxyType(by_name)
        self._conditions = MappingProxyType(codes)

    @property
    def conditions(self) -> Mapping[str, Mapping[str, str]]:
        """Condition (and tag) codes usable in ``has('code')``, with their descriptions."""
        return self._conditions

    def __getitem__(self, name: str) -> Feature:
        return self._features[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def __len__(self) -> int:
        return len(self._features)

    def __repr__(self) -> str:
        return f"FeatureDictionary({len(self)} features, {len(self._conditions)} conditions)"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FeatureDictionary:
        """Build a dictionary from its YAML shape (``features:`` and ``conditions:``).

        Each feature is ``name: {type, values?, nullable?, description?}``; ``conditions`` is a
        mapping of code to description or a plain list of codes.
        """
        if not isinstance(data, Mapping):
            raise DictionaryError("a feature dictionary is a mapping with 'features'")
        raw_features = data.get("features")
        if not isinstance(raw_features, Mapping) or not raw_features:
            raise DictionaryError("'features' must be a non-empty mapping of name to definition")
        features = [_feature_from(name, spec) for name, spec in raw_features.items()]
        raw_conditions = data.get("conditions") or {}
        if isinstance(raw_conditions, Mapping):
            conditions: dict[str, Mapping[str, str]] = {}
            for code, text in raw_conditions.items():
                if text is not None and not isinstance(text, Mapping):
                    raise DictionaryError(f"condition {code!r}: description must be a mapping")
                conditions[str(code)] = {str(k): str(v) for k, v in (text or {}).items()}
            return cls(features, conditions)
        if isinstance(raw_conditions, list):
            return cls(features, [str(code) for code in raw_conditions])
        raise DictionaryError("'conditions' must be a mapping or a list of codes")

    @classmethod
    def from_yaml(cls, source: str | Path) -> FeatureDictionary:
        """Load a dictionary from a YAML file (a :class:`~pathlib.Path`) or YAML text (a str)."""
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DictionaryError(f"the feature dictionary is not valid YAML: {exc}") from exc
        return cls.from_mapping(data)


def _check_feature(feature: Feature) -> None:
    name = feature.name
    if not isinstance(name, str) or not FEATURE_NAME.match(name):
        raise DictionaryError(
            f"feature name {name!r} must be lower-case letters, digits and '_', "
            "starting with a letter"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in RESERVED_NAMES:
        raise DictionaryError(f"feature name {name!r} is reserved")
    if not isinstance(feature.type, FeatureType):
        raise DictionaryError(f"feature {name!r}: unknown type {feature.type!r}")
    if feature.values is not None:
        if feature.type is not FeatureType.STR:
            raise DictionaryError(f"feature {name!r}: only a str feature can list its values")
        if not feature.values or not all(isinstance(v, str) for v in feature.values):
            raise DictionaryError(f"feature {name!r}: 'values' must be a non-empty list of str")
        if len(set(feature.values)) != len(feature.values):
            raise DictionaryError(f"feature {name!r}: 'values' lists a value twice")


def _feature_from(name: Any, spec: Any) -> Feature:
    if not isinstance(spec, Mapping):
        raise DictionaryError(f"feature {name!r}: the definition must be a mapping")
    unknown = set(spec) - {"type", "values", "nullable", "description"}
    if unknown:
        raise DictionaryError(f"feature {name!r}: unknown keys {sorted(unknown)}")
    try:
        kind = FeatureType(str(spec.get("type")))
    except ValueError:
        allowed = ", ".join(t.value for t in FeatureType)
        raise DictionaryError(
            f"feature {name!r}: type must be one of {allowed}, got {spec.get('type')!r}"
        ) from None
    values = spec.get("values")
    if values is not None and not isinstance(values, list):
        raise DictionaryError(f"feature {name!r}: 'values' must be a list")
    nullable = spec.get("nullable", True)
    if not isinstance(nullable, bool):
        raise DictionaryError(f"feature {name!r}: 'nullable' must be true or false")
    description = spec.get("description") or {}
    if not isinstance(description, Mapping):
        raise DictionaryError(f"feature {name!r}: 'description' must be a mapping")
    return Feature(
        name=str(name),
        type=kind,
        values=tuple(values) if values is not None else None,
        nullable=nullable,
        description={str(k): str(v) for k, v in description.items()},
    )

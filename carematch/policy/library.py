"""The policy library (政策库): policies with who is eligible, the benefit and the services.

A library is a YAML list of policies in the format of ``carematch/data/policies.yaml`` (its
header describes every field). It is checked as a whole when it is loaded, so a mistake in a
file is found when the file is read, not when a resident asks which policies apply:

- every eligibility rule parses and type-checks with the rule language against the feature
  dictionary (a rule naming an unknown feature or condition would otherwise match no one);
- every service exists in the service catalogue (a policy must be carried out by something a
  resident can book);
- every benefit is well formed (kind from the list, rate in 0..1, amounts non-negative);
- ids are unique across every file loaded together.

Every problem is reported at once as ``policy <id>, field <field>: <problem>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from carematch.policy.errors import LibraryProblem, PolicyLibraryError
from carematch.providers.catalogue import service_catalogue
from carematch.rules import FeatureDictionary, Rule, RuleError, RuleSet, load_rule

BENEFIT_KINDS = ("free_service", "reimbursement", "subsidy", "relief", "points")
"""The kinds of benefit, as the library's header lists them."""

DEMAND_TYPES = (
    "basic_medical",
    "public_health",
    "health_management",
    "special_groups",
    "mental_health",
)
"""The five demand types (基本医疗, 公共卫生, 健康管理, 特殊群体, 心理健康)."""

STAGES = ("basic_insurance", "critical_illness", "medical_assistance", "temporary_relief")
"""The stages of a medical bill's settlement, in the order benefits stack (一站式结算):
basic medical insurance (基本医保), critical-illness insurance (大病保险), medical assistance by
tier (医疗救助), temporary relief (临时救助). A policy names its stage with ``stage``."""

REQUIRED_FIELDS = ("id", "title", "department", "eligibility", "benefit", "services")
OPTIONAL_FIELDS = ("title_en", "demand_types", "clauses", "stage")
BENEFIT_FIELDS = ("kind", "rate", "amount", "cap", "quantity", "deductible")
POLICY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
"""Policy ids: ASCII letters, digits and ``_ . : -``; they name result columns and URLs."""


@dataclass(frozen=True)
class Benefit:
    """What a policy gives: a kind and, where it applies, a rate, an amount, a cap, a count.

    ``rate`` is the share of the eligible cost paid (0..1); ``amount`` a fixed sum in yuan;
    ``cap`` the most paid per year in yuan; ``quantity`` the number of services per year;
    ``deductible`` the part of a year's eligible cost paid before the benefit starts (起付线).
    """

    kind: str
    rate: float | None = None
    amount: float | None = None
    cap: float | None = None
    quantity: int | None = None
    deductible: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The benefit as the library writes it (fields that do not apply left out)."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in ("rate", "amount", "cap", "quantity", "deductible"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class Policy:
    """One checked policy of the library."""

    id: str
    title: str
    title_en: str
    department: str
    demand_types: tuple[str, ...]
    rule: Rule = field(repr=False, compare=False)
    benefit: Benefit
    services: tuple[str, ...]
    clauses: tuple[str, ...]
    source: str = ""
    stage: str | None = None
    """Where the policy pays in a bill's settlement (one of :data:`STAGES`), if it does."""

    @property
    def eligibility(self) -> str:
        """The eligibility rule's text."""
        return self.rule.text

    def as_dict(self) -> dict[str, Any]:
        """The policy in the library's own format (what a version row stores)."""
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "title_en": self.title_en,
            "department": self.department,
            "demand_types": list(self.demand_types),
            "eligibility": self.eligibility,
            "benefit": self.benefit.as_dict(),
            "services": list(self.services),
            "clauses": list(self.clauses),
        }
        if self.stage is not None:
            out["stage"] = self.stage
        return out


class PolicyLibrary(Mapping[str, Policy]):
    """Checked policies by id, in file order, with their rules as one :class:`RuleSet`."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._policies: dict[str, Policy] = {}
        for policy in policies:
            if policy.id in self._policies:
                raise PolicyLibraryError(
                    [LibraryProblem(policy.id, "id", "the id is used twice", policy.source)]
                )
            self._policies[policy.id] = policy
        self.rules = RuleSet(p.rule for p in self._policies.values())
        self._queries: dict[tuple[str, date], str] = {}

    def batch_query(self, table: str, key: str, as_of: date) -> str:
        """One DuckDB query computing every rule for every row of ``table`` (compiled once)."""
        cache_key = (f"{table}\0{key}", as_of)
        if cache_key not in self._queries:
            self._queries[cache_key] = self.rules.to_select(
                table, "duckdb", keys=[key], evaluation_date=as_of
            )
        return self._queries[cache_key]

    def __getitem__(self, policy_id: str) -> Policy:
        return self._policies[policy_id]

    def __iter__(self) -> Any:
        return iter(self._policies)

    def __len__(self) -> int:
        return len(self._policies)

    def __repr__(self) -> str:
        return f"PolicyLibrary({len(self)} policies)"

    def replaced(self, policies: Iterable[Policy]) -> PolicyLibrary:
        """This library with some policies replaced (same id) or added (new id)."""
        merged = dict(self._policies)
        for policy in policies:
            merged[policy.id] = policy
        return PolicyLibrary(merged.values())


def feature_dictionary() -> FeatureDictionary:
    """The feature dictionary eligibility rules are checked against (profiling's)."""
    from carematch.profiling.tags import feature_dictionary as shipped

    return shipped()


def check_policy(
    entry: Any,
    dictionary: FeatureDictionary,
    catalogue: Iterable[str],
    *,
    label: str,
    source: str = "",
) -> tuple[Policy | None, list[LibraryProblem]]:
    """Check one library entry; return the policy (None if it is bad) and its problems.

    Args:
        entry: the parsed YAML mapping of one policy.
        dictionary: the features and condition codes eligibility rules may name.
        catalogue: the service codes that exist.
        label: how to name the policy if it has no usable id (``#3`` for the third entry).
        source: the file it came from, prefixed to every message.
    """
    problems: list[LibraryProblem] = []

    def bad(policy_id: str, name: str, reason: str) -> None:
        problems.append(LibraryProblem(policy_id, name, reason, source))

    if not isinstance(entry, Mapping):
        bad(label, "(entry)", "each policy is a mapping with id, title, eligibility, benefit, …")
        return None, problems
    raw_id = entry.get("id")
    if isinstance(raw_id, str) and POLICY_ID.match(raw_id):
        pid = raw_id
    else:
        pid = label
        bad(label, "id", f"must be 1–64 ASCII letters, digits or _ . : - (got {raw_id!r})")
    for name in REQUIRED_FIELDS:
        if name not in entry:
            bad(pid, name, "missing")
    for name in entry:
        if name not in REQUIRED_FIELDS and name not in OPTIONAL_FIELDS:
            known = ", ".join(REQUIRED_FIELDS + OPTIONAL_FIELDS)
            bad(pid, str(name), f"unknown field (the fields are {known})")

    title = _text(entry, "title", pid, bad, required=True)
    title_en = _text(entry, "title_en", pid, bad, required=False)
    department = _text(entry, "department", pid, bad, required=True)
    demand_types = _strings(entry, "demand_types", pid, bad)
    for kind in demand_types:
        if kind not in DEMAND_TYPES:
            bad(pid, "demand_types", f"{kind!r} is not a demand type ({', '.join(DEMAND_TYPES)})")
    clauses = _strings(entry, "clauses", pid, bad)
    if any(not c.strip() for c in clauses):
        bad(pid, "clauses", "a clause is empty")
    stage = entry.get("stage")
    if stage is not None and stage not in STAGES:
        bad(pid, "stage", f"must be one of {', '.join(STAGES)} (got {stage!r})")

    services = _strings(entry, "services", pid, bad) if "services" in entry else ()
    known_services = set(catalogue)
    for code in services:
        if code not in known_services:
            bad(pid, "services", f"unknown service {code!r} (not in the service catalogue)")
    if len(set(services)) != len(services):
        bad(pid, "services", "a service is listed twice")

    benefit = _benefit(entry.get("benefit"), pid, bad) if "benefit" in entry else None

    rule: Rule | None = None
    if "eligibility" in entry:
        text = entry["eligibility"]
        if not isinstance(text, str) or not text.strip():
            bad(pid, "eligibility", 'must be a rule\'s text ("True" for everyone)')
        else:
            try:
                rule = load_rule(text, dictionary, pid)
            except RuleError as exc:
                bad(
                    pid,
                    "eligibility",
                    f"line {exc.line}, column {exc.column}: {exc.reason}",
                )
    if problems or rule is None or benefit is None or title is None or department is None:
        return None, problems
    policy = Policy(
        id=pid,
        title=title,
        title_en=title_en or title,
        department=department,
        demand_types=demand_types,
        rule=rule,
        benefit=benefit,
        services=services,
        clauses=clauses,
        source=source,
        stage=None if stage is None else str(stage),
    )
    return policy, problems


def _text(entry: Mapping[str, Any], name: str, pid: str, bad: Any, *, required: bool) -> str | None:
    value = entry.get(name)
    if value is None:
        return None  # a missing required field is reported once, above
    if not isinstance(value, str) or not value.strip():
        bad(pid, name, "must be non-empty text")
        return None
    return value.strip()


def _strings(entry: Mapping[str, Any], name: str, pid: str, bad: Any) -> tuple[str, ...]:
    value = entry.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad(pid, name, "must be a list of strings")
        return ()
    return tuple(value)


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _benefit(raw: Any, pid: str, bad: Any) -> Benefit | None:
    """Check a benefit mapping; report each bad part as ``benefit.<part>``."""
    if not isinstance(raw, Mapping):
        bad(pid, "benefit", "must be a mapping {kind, rate?, amount?, cap?, quantity?}")
        return None
    ok = True
    for name in raw:
        if name not in BENEFIT_FIELDS:
            bad(
                pid,
                f"benefit.{name}",
                f"unknown field (the fields are {', '.join(BENEFIT_FIELDS)})",
            )
            ok = False
    kind = raw.get("kind")
    if kind not in BENEFIT_KINDS:
        bad(pid, "benefit.kind", f"must be one of {', '.join(BENEFIT_KINDS)} (got {kind!r})")
        ok = False
    rate = raw.get("rate")
    if rate is not None and (not _number(rate) or not 0 <= float(rate) <= 1):
        bad(pid, "benefit.rate", f"must be a share between 0 and 1 (got {rate!r})")
        ok = False
    for name in ("amount", "cap", "deductible"):
        value = raw.get(name)
        if value is not None and (not _number(value) or float(value) < 0):
            bad(pid, f"benefit.{name}", f"must be a non-negative number of yuan (got {value!r})")
            ok = False
    quantity = raw.get("quantity")
    if quantity is not None and (
        not _number(quantity) or float(quantity) < 0 or not float(quantity).is_integer()
    ):
        bad(pid, "benefit.quantity", f"must be a non-negative whole number (got {quantity!r})")
        ok = False
    if not ok:
        return None
    return Benefit(
        kind=str(kind),
        rate=None if rate is None else float(rate),
        amount=None if raw.get("amount") is None else float(raw["amount"]),
        cap=None if raw.get("cap") is None else float(raw["cap"]),
        quantity=None if quantity is None else int(quantity),
        deductible=None if raw.get("deductible") is None else float(raw["deductible"]),
    )


def _entries(text: str, source: str) -> list[Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyLibraryError(
            [LibraryProblem("(file)", "(yaml)", f"{where}not valid YAML: {problem}", source)]
        ) from None
    if isinstance(data, Mapping) and "policies" in data:
        data = data["policies"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise PolicyLibraryError(
            [LibraryProblem("(file)", "(yaml)", "a library is a list of policies", source)]
        )
    return data


def parse_library(
    texts: Sequence[tuple[str, str]],
    dictionary: FeatureDictionary | None = None,
    catalogue: Iterable[str] | None = None,
) -> PolicyLibrary:
    """Check library texts ``(source name, YAML)`` together; every problem is reported.

    Raises:
        PolicyLibraryError: any policy of any file is bad, or an id is used twice.
    """
    dictionary = dictionary or feature_dictionary()
    codes = list(catalogue) if catalogue is not None else list(service_catalogue())
    problems: list[LibraryProblem] = []
    policies: list[Policy] = []
    seen: dict[str, str] = {}
    for source, text in texts:
        entries = _entries(text, source)
        for number, entry in enumerate(entries, start=1):
            policy, found = check_policy(
                entry, dictionary, codes, label=f"#{number}", source=source
            )
            problems.extend(found)
            if policy is None:
                continue
            if policy.id in seen:
                where = seen[policy.id] or "this file"
                problems.append(
                    LibraryProblem(
                        policy.id, "id", f"the id is used twice (also in {where})", source
                    )
                )
                continue
            seen[policy.id] = source
            policies.append(policy)
    if problems:
        raise PolicyLibraryError(problems)
    return PolicyLibrary(policies)


def load_library(
    paths: Sequence[Path] = (),
    *,
    include_default: bool = False,
    dictionary: FeatureDictionary | None = None,
) -> PolicyLibrary:
    """Load and check library files (and, if asked, the packaged demo library first).

    Raises:
        PolicyLibraryError: a file cannot be read, or any policy in any file is bad.
    """
    texts: list[tuple[str, str]] = []
    if include_default:
        texts.append(("policies.yaml (packaged)", _packaged_text()))
    for path in paths:
        try:
            texts.append((str(path), path.read_text(encoding="utf-8-sig")))
        except (OSError, UnicodeDecodeError) as exc:
            reason = f"cannot read the file: {getattr(exc, 'strerror', None) or exc}"
            raise PolicyLibraryError(
                [LibraryProblem("(file)", "(file)", reason, str(path))]
            ) from None
    return parse_library(texts, dictionary)


def _packaged_text(name: str = "policies.yaml") -> str:
    return resources.files("carematch.data").joinpath(name).read_text("utf-8")


@lru_cache(maxsize=1)
def default_library() -> PolicyLibrary:
    """The demo city's library shipped with the package (checked once per process)."""
    return parse_library([("policies.yaml (packaged)", _packaged_text())])


INSURANCE_FILE = "policies_insurance.yaml"
"""The supplemental library of the demo city's insurance parameters (basic medical insurance,
critical-illness insurance by group) that the shared ``policies.yaml`` leaves to clause text."""


@lru_cache(maxsize=1)
def benefit_library() -> PolicyLibrary:
    """The packaged library together with the insurance supplement: what benefit stacking reads.

    Kept apart from :func:`default_library` (eligibility's), so that adding settlement
    parameters does not change which policies a resident is told about.
    """
    return parse_library(
        [
            ("policies.yaml (packaged)", _packaged_text()),
            (f"{INSURANCE_FILE} (packaged)", _packaged_text(INSURANCE_FILE)),
        ]
    )

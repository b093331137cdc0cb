"""Rule expression language (CRE): parse, check, compile to SQL, evaluate. No domain knowledge.

One language for demand tags, demand groups, policy eligibility, alert conditions and
vaccination pre-screening: a whitelisted subset of Python expressions over named features,
checked against a :class:`FeatureDictionary` when loaded, compiled to SQL (DuckDB, Spark,
PostgreSQL) for every person at once, and evaluated directly for one person, with the same
answers. See docs/rules.md.

Examples:
    >>> from pathlib import Path
    >>> from carematch.rules import FeatureDictionary, load_rule
    >>> features = FeatureDictionary.from_yaml(Path("carematch/profiling/feature_dictionary.yaml"))
    >>> rule = load_rule("hukou == 'migrant' and has('hypertension')", features, "chronic")
    >>> rule.evaluate({"hukou": "migrant"}, conditions={"hypertension"})
    True
    >>> rule.explain({"hukou": "local"}, conditions={"hypertension"})
    {'hukou': 'local'}
    >>> print(rule.to_sql("postgres"))
    COALESCE(("hukou" = 'migrant') AND COALESCE('hypertension' = ANY("conditions"), FALSE), FALSE)
"""

from carematch.rules.compile import DIALECTS
from carematch.rules.dictionary import Feature, FeatureDictionary, FeatureType
from carematch.rules.errors import DictionaryError, RuleError, RuleInputError, RuleSetError
from carematch.rules.evaluate import Outcome
from carematch.rules.parse import MAX_DEPTH, MAX_RULE_LENGTH
from carematch.rules.rule import Rule, RuleSet, load_rule, load_rules

__all__ = [
    "DIALECTS",
    "MAX_DEPTH",
    "MAX_RULE_LENGTH",
    "DictionaryError",
    "Feature",
    "FeatureDictionary",
    "FeatureType",
    "Outcome",
    "Rule",
    "RuleError",
    "RuleInputError",
    "RuleSet",
    "RuleSetError",
    "load_rule",
    "load_rules",
]

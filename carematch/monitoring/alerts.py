"""Alert rules over daily readings: N consecutive out-of-range days ⇒ one alert per episode.

A pure engine (no SQLAlchemy, no FastAPI): Arrow tables in, Arrow tables out, the work done
as named SQL steps in one DuckDB connection, so a million readings take about a second and no
Python runs per row.

The day of a reading is the calendar date written in its timestamp (the local time of the
device or clinic that took it): ``2026-03-01T23:59:00+08:00`` and ``2026-03-01T23:59:00Z``
both fall on 1 March, and a naive timestamp is local already. A day is *high* for a rule when
any reading that day meets the rule's condition; a day with readings but none high, or a day
without readings, breaks a streak. The alert is dated on the ``consecutive_days``-th high day
of a streak; the same streak never alerts again, however long it runs.

Examples:
    >>> import pyarrow as pa
    >>> rules = load_alert_rules()
    >>> raw = pa.table({
    ...     "person_id": ["P1", "P1", "P1", "P1"],
    ...     "measured_at": ["2026-03-03T08:00", "2026-03-01T08:00", "2026-03-02T21:00",
    ...                     "2026-03-04T08:00"],
    ...     "sbp": ["150", "145", "120", "141"],
    ...     "dbp": ["80", "95", "91", "85"],
    ... })
    >>> checked = check_readings(raw)
    >>> find_alerts(checked.readings, rules).to_pylist()[0]["alert_date"]
    datetime.date(2026, 3, 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from carematch.rules import FeatureDictionary, Rule, RuleError, load_rule

RULES_PATH = Path(__file__).with_name("rules.yaml")
READING_COLUMNS = ("person_id", "measured_at", "sbp", "dbp")
"""The columns of a readings file (the ``carematch monitoring alerts`` contract)."""

# Plausible values (mmHg): anything outside is a typing or device error, not a reading.
SBP_RANGE = (40.0, 300.0)
DBP_RANGE = (20.0, 200.0)
MAX_PERSON_ID = 64

# An ISO 8601 date-time as devices write it: date, optional time (T or space), optional
# seconds and fraction, optional offset (Z, ±HH:MM or ±HHMM). A bare date is a day too.
ISO_DATETIME = (
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?"
    r"(?:[Zz]|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?$"
)

ALERTS_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("rule", pa.string()),
        ("alert_date", pa.date32()),
        ("streak_start", pa.date32()),
        ("streak_end", pa.date32()),
    ]
)
"""What :func:`find_alerts` returns: one row per alert episode, sorted by person and date.

``streak_start``/``streak_end`` are the first and last high days of the streak the alert
belongs to (as far as the readings go): storage uses them to recognise an episode it already
holds when late readings move the third day.
"""


class AlertRuleError(ValueError):
    """The alert rule file cannot be used (shape, condition or parameters)."""


@dataclass(frozen=True)
class AlertRule:
    """One alert rule: a reading condition held for ``consecutive_days`` days running."""

    id: str
    condition: Rule
    consecutive_days: int
    followup_days: int
    description: Mapping[str, str] = field(default_factory=dict)

    @property
    def condition_text(self) -> str:
        """The condition as written in the rule file."""
        return self.condition.text


@dataclass(frozen=True)
class CheckedReadings:
    """Readings that passed the checks and the rows that did not, with their reasons.

    ``readings`` has ``row`` (1-based data row), ``person_id``, ``measured_at`` (as written),
    ``day`` (date32), ``sbp`` and ``dbp`` (float64). ``rejected`` has ``row``, ``reason`` and
    the four raw values.
    """

    readings: pa.Table
    rejected: pa.Table


def load_alert_rules(source: str | Path | Mapping[str, Any] | None = None) -> list[AlertRule]:
    """Load the alert rules (the default set in ``rules.yaml`` when ``source`` is None).

    Raises:
        AlertRuleError: the file's shape, a condition, or a parameter is wrong.
    """
    if source is None:
        source = RULES_PATH
    if isinstance(source, Path):
        data: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    elif isinstance(source, str):
        data = yaml.safe_load(source)
    else:
        data = source
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        raise AlertRuleError("an alert rule file is a mapping with 'features' and 'rules'")
    try:
        features = FeatureDictionary.from_mapping({"features": data.get("features")})
    except Exception as exc:  # the dictionary's own error says what is wrong
        raise AlertRuleError(f"features: {exc}") from exc
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for entry in data["rules"]:
        if not isinstance(entry, Mapping):
            raise AlertRuleError("each rule is a mapping with id, condition, consecutive_days")
        rule_id = entry.get("id")
        if not isinstance(rule_id, str) or not rule_id or len(rule_id) > 32:
            raise AlertRuleError(f"rule id {rule_id!r}: 1 to 32 characters")
        if rule_id in seen:
            raise AlertRuleError(f"rule {rule_id!r} is defined twice")
        seen.add(rule_id)
        days = entry.get("consecutive_days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366:
            raise AlertRuleError(f"rule {rule_id!r}: consecutive_days must be 1..366")
        followup = entry.get("followup_days", 3)
        if not isinstance(followup, int) or isinstance(followup, bool) or not 0 <= followup <= 90:
            raise AlertRuleError(f"rule {rule_id!r}: followup_days must be 0..90")
        try:
            condition = load_rule(str(entry.get("condition", "")), features, rule_id)
        except RuleError as exc:
            raise AlertRuleError(f"rule {rule_id!r}: {exc.detail}") from exc
        description = entry.get("description") or {}
        rules.append(
            AlertRule(
                id=rule_id,
                condition=condition,
                consecutive_days=days,
                followup_days=followup,
                description={str(k): str(v) for k, v in dict(description).items()},
            )
        )
    if not rules:
        raise AlertRuleError("the rule file holds no rules")
    return rules


def _connect() -> Any:
    import duckdb

    return duckdb.connect()


def check_readings(raw: pa.Table) -> CheckedReadings:
    """Check raw readings (every column a string, as read from a file) and type them.

    A row is rejected, with its reason, when the person is missing or longer than 64
    characters, ``measured_at`` is not an ISO date-time (or names a day that does not exist),
    or ``sbp``/``dbp`` is not a number in its plausible range (40-300 / 20-200 mmHg).
    """
    missing = [name for name in READING_COLUMNS if name not in raw.column_names]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    table = pa.table(
        {
            "row": pa.array(np.arange(1, raw.num_rows + 1, dtype=np.int64)),
            **{name: raw.column(name).cast(pa.string()) for name in READING_COLUMNS},
        }
    )
    con = _connect()
    try:
        con.register("raw", table)
        # One pass; DuckDB keeps the input's order for a plain projection, and Arrow splits the
        # result (two queries over a temporary table cost twice the scan).
        checked = con.sql(
            f"""
            WITH t AS (
                SELECT row, person_id, measured_at, sbp, dbp,
                       trim(person_id) AS pid, trim(measured_at) AS ts,
                       TRY_CAST(trim(sbp) AS DOUBLE) AS s, TRY_CAST(trim(dbp) AS DOUBLE) AS d
                FROM raw
            ), v AS (
                SELECT *,
                       CASE WHEN regexp_full_match(coalesce(ts, ''), '{ISO_DATETIME}')
                            THEN TRY_CAST(substr(ts, 1, 10) AS DATE) END AS day
                FROM t
            )
            SELECT row, pid, ts, day, s, d, person_id, measured_at, sbp, dbp,
                CASE
                    WHEN pid IS NULL OR pid = '' THEN 'person_id is empty'
                    WHEN length(pid) > {MAX_PERSON_ID} THEN 'person_id is longer than 64'
                    WHEN day IS NULL THEN 'measured_at is not an ISO date-time'
                    WHEN s IS NULL OR isnan(s) THEN 'sbp is not a number'
                    WHEN d IS NULL OR isnan(d) THEN 'dbp is not a number'
                    WHEN s < {SBP_RANGE[0]} OR s > {SBP_RANGE[1]}
                        THEN 'sbp is outside {SBP_RANGE[0]:.0f}-{SBP_RANGE[1]:.0f} mmHg'
                    WHEN d < {DBP_RANGE[0]} OR d > {DBP_RANGE[1]}
                        THEN 'dbp is outside {DBP_RANGE[0]:.0f}-{DBP_RANGE[1]:.0f} mmHg'
                END AS reason
            FROM v
            """
        ).to_arrow_table()
    finally:
        con.close()
    good = pc.is_null(checked.column("reason"))
    readings = checked.filter(good).select(["row", "pid", "ts", "day", "s", "d"])
    readings = readings.rename_columns(["row", "person_id", "measured_at", "day", "sbp", "dbp"])
    rejected = checked.filter(pc.invert(good)).select(
        ["row", "reason", "person_id", "measured_at", "sbp", "dbp"]
    )
    return CheckedReadings(readings=readings, rejected=rejected)


def _rule_steps(rule: AlertRule) -> str:
    """The SQL that finds one rule's alert episodes over the table ``readings``."""
    condition = rule.condition.to_sql("duckdb")
    k = rule.consecutive_days
    rule_id = rule.id.replace("'", "''")
    return f"""
        WITH person_day AS (          -- each day with readings: high when any reading meets it
            SELECT person_id, day, bool_or({condition}) AS high
            FROM readings GROUP BY person_id, day
        ), high_day AS (              -- consecutive high days share day − rank (gaps and
            SELECT person_id, day,    -- islands): a normal or a missing day breaks the island
                (day - DATE '2000-01-01')
                - row_number() OVER (PARTITION BY person_id ORDER BY day) AS island
            FROM person_day WHERE high
        ), streak AS (
            SELECT person_id, min(day) AS streak_start, max(day) AS streak_end
            FROM high_day GROUP BY person_id, island HAVING count(*) >= {k}
        )
        SELECT person_id, '{rule_id}' AS rule,
               CAST(streak_start + {k - 1} AS DATE) AS alert_date, streak_start, streak_end
        FROM streak
    """


def find_alerts(readings: pa.Table, rules: Sequence[AlertRule]) -> pa.Table:
    """Every alert episode the rules find in the readings (see :data:`ALERTS_SCHEMA`).

    Args:
        readings: ``person_id`` (string), ``day`` (date32: the local calendar day) and the
            values the rules name (``sbp``, ``dbp``; a missing value column counts as not
            measured); in any order, several a day allowed.
        rules: from :func:`load_alert_rules`.

    Returns:
        One row per episode, sorted by ``person_id``, ``alert_date`` and ``rule``.
    """
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "person_id": readings.column("person_id").cast(pa.string()),
        "day": readings.column("day").cast(pa.date32()),
    }
    for name in ("sbp", "dbp", "glucose"):
        if name in readings.column_names:
            columns[name] = readings.column(name).cast(pa.float64())
        else:
            columns[name] = pa.nulls(readings.num_rows, pa.float64())
    if not rules:
        return ALERTS_SCHEMA.empty_table()
    con = _connect()
    try:
        con.register("readings", pa.table(columns))
        union = " UNION ALL ".join(f"({_rule_steps(rule)})" for rule in rules)
        result = con.sql(
            f"""
            SELECT person_id, rule, alert_date, streak_start, streak_end FROM ({union})
            ORDER BY person_id, alert_date, rule
            """
        ).to_arrow_table()
    finally:
        con.close()
    return result.cast(ALERTS_SCHEMA)


def alert_rows(alerts: pa.Table) -> list[tuple[str, str, date]]:
    """``(person_id, rule, alert_date)`` for each alert, in the table's order."""
    return list(
        zip(
            alerts.column("person_id").to_pylist(),
            alerts.column("rule").to_pylist(),
            alerts.column("alert_date").to_pylist(),
            strict=True,
        )
    )

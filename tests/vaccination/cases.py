"""The hand-worked forecast cases (tests/vaccination/data/cases.jsonl), shared by the tests.

Each line is a CLI input case plus what a person worked out from the schedule header's rules:
``why`` (the reasoning), ``expect`` (the contract entry of each series the case is about; a
case about every series lists all nine), ``expect_invalid`` (the whole invalid list) and,
where given, ``expect_overdue`` (the ``doses_overdue`` count).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).parent / "data" / "cases.jsonl"


def load_cases() -> list[dict[str, Any]]:
    """Every hand-worked case, in file order."""
    with CASES_FILE.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]

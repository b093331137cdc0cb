"""Logs never carry ID numbers, phones or names."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from carematch.core.logging import configure_logging, get_logger, scrub


def test_identifier_keys_are_masked_and_digits_scrubbed(capsys):
    configure_logging("INFO")
    get_logger("test").info(
        "lookup",
        name="张伟",
        phone="13800138000",
        id_number="11010519491231002X",
        note="called +86 139 0013 9000 about 44990119800229041X and 110105491231002",
        count=3,
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    event = json.loads(line)
    assert event["name"] == event["phone"] == event["id_number"] == "[redacted]"
    assert event["count"] == 3
    for secret in ("张伟", "13800138000", "1390013", "44990119800229041X", "110105491231002"):
        assert secret not in line


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True), st.from_regex(r"\d{17}[\dX]", fullmatch=True))
def test_scrub_removes_any_phone_or_id(phone: str, id_number: str):
    text = f"a {phone} b {id_number} c"
    cleaned = scrub(text)
    assert phone not in cleaned and id_number not in cleaned
    assert cleaned.startswith("a ") and cleaned.endswith(" c")

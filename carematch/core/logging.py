"""Structured JSON logs on stderr with personal identifiers redacted.

Logs never contain ID numbers, phones or names: keys that name such fields are masked, and any
string value is scrubbed of digit runs that look like an ID number or a phone.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SENSITIVE_KEYS = frozenset(
    {"name", "id_number", "phone", "address", "guardian_name", "password", "token", "raw"}
)
# 15/18-digit ID numbers (last may be X) and mainland phones (+86 optional, 11 digits).
_ID_RE = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)|(?<!\d)\d{15}(?!\d)")
_PHONE_RE = re.compile(r"(?:\+?86[\s-]?)?(?<!\d)1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)")


def scrub(text: str) -> str:
    """Replace ID-number-like and phone-like digit runs with a mask."""
    return _PHONE_RE.sub("[phone]", _ID_RE.sub("[id]", text))


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if key in SENSITIVE_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(value, str):
            event_dict[key] = scrub(value)
    return event_dict


def _stderr_logger(*_: Any) -> structlog.PrintLogger:
    # sys.stderr as it is at the time of the call, not at configure time: a command runner
    # (or a test's captured output) may have replaced and closed the one seen then.
    return structlog.PrintLogger(file=sys.stderr)


def configure_logging(level: str = "INFO") -> None:
    """Route stdlib and structlog output to stderr as JSON lines, redacted."""
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            _redact,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger bound to a component name."""
    return structlog.get_logger(component=name)

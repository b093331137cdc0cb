"""Identifiers: random ids for new rows, deterministic ids where reruns must agree."""

from __future__ import annotations

import hashlib
import uuid


def new_id() -> str:
    """A random 32-hex id for a new row."""
    return uuid.uuid4().hex


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic id from its parts, so that rerunning a job yields the same ids."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]
    return f"{prefix}{digest}"

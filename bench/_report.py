"""Shared by benchmarks: run a child process with peak-memory accounting, update the doc."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MiB) of that child alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def update_doc(section: str, result: dict, table: str) -> None:
    """Replace the section's block in docs/benchmarks.md (or append it)."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = (
        DOC.read_text()
        if DOC.exists()
        else "# Benchmarks\n\nEach benchmark prints one JSON line and rewrites its section.\n"
    )
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    block = f"{begin}\n{table}\n\nRaw: `{json.dumps(result, sort_keys=True)}`\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    )
    DOC.write_text(text)

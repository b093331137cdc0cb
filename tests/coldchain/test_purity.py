"""The cold-chain engines stay pure: no database, no web framework behind them."""

from __future__ import annotations

import subprocess
import sys


def test_the_engines_import_neither_sqlalchemy_nor_fastapi() -> None:
    code = (
        "import sys, carematch.coldchain, carematch.coldchain.merkle, "
        "carematch.coldchain.checkpoint, carematch.coldchain.telemetry\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'sqlalchemy', 'fastapi'})\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

"""`carematch report …`: periodic reports, starting with the demand white paper (需求白皮书)."""

from __future__ import annotations

import typer

report_app = typer.Typer(help="Reports (报告)", no_args_is_help=True)

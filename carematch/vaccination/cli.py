"""`carematch vaccination …`: schedule forecasting and certificates."""

from __future__ import annotations

import typer

vaccination_app = typer.Typer(help="Vaccination (预防接种)", no_args_is_help=True)

"""`carematch match …`: allocation of demands to providers under capacity."""

from __future__ import annotations

import typer

match_app = typer.Typer(help="Matching (供需对接)", no_args_is_help=True)

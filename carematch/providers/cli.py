"""`carematch providers …`: the provider registry and service map."""

from __future__ import annotations

import typer

providers_app = typer.Typer(help="Providers and the service map (服务地图)", no_args_is_help=True)

"""`carematch booking …`: slots and bookings."""

from __future__ import annotations

import typer

booking_app = typer.Typer(help="Slots and bookings (预约)", no_args_is_help=True)

"""`carematch worker`: deliver the notification outbox."""

from __future__ import annotations

import typer

worker_app = typer.Typer(help="Deliver due reminders and notifications (通知发送)")

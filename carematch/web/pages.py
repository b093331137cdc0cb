"""Web pages; filled in by the web shell."""

from __future__ import annotations

from fastapi import FastAPI


def mount_web(app: FastAPI) -> None:
    """Attach the web routes and static files to the app."""
    return None

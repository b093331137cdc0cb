"""The feedback API under /api/v1; every route declares its authorisation (security.authz)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["feedback"])

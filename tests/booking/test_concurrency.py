"""Acceptance (issue 5): 300 simultaneous bookings for one slot of 5 places, against a running
server — uvicorn with 4 workers on PostgreSQL, and with one worker on SQLite — give exactly
5 × 201 and 295 × 409, never a 5xx.

Each request comes from a different resident booking for themselves, so every one of them is a
separate principal, a separate person and a separate transaction racing for the same row.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from carematch.booking.models import Booking, Slot
from carematch.core.clock import utcnow
from carematch.core.db import dispose_engines, session_scope
from carematch.core.ids import new_id
from carematch.security.models import User
from carematch.security.tokens import issue_token
from tests.booking.conftest import add_persons, add_provider, add_slot
from tests.booking.live import live_server
from tests.fixtures.env import installation

pytestmark = pytest.mark.slow

REQUESTS, CAPACITY = 300, 5


def seed_residents(count: int) -> tuple[str, list[tuple[str, str]]]:
    """A slot of CAPACITY places tomorrow, and ``count`` residents, each linked to a person.

    Users are inserted directly with an unusable password hash and given tokens directly:
    signing in is not what this test measures, and 300 argon2 hashes would take most of it.
    """
    with session_scope() as session:
        add_provider(session, "PRVRACE", "449901001001")
        slot = add_slot(session, "PRVRACE", capacity=CAPACITY, start=utcnow() + timedelta(days=1))
        persons = add_persons(session, count)
        users = [
            {
                "id": new_id(),
                "username": f"race{i:03d}",
                "password_hash": "!",
                "role": "resident",
                "person_id": person,
                "active": True,
                "created_at": utcnow(),
            }
            for i, person in enumerate(persons)
        ]
        session.execute(insert(User), users)
    tokens = [issue_token(u["id"], "resident", None)[0] for u in users]
    return slot, list(zip(persons, tokens, strict=True))


async def burst(url: str, slot_id: str, residents: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """Every resident books the slot at once; (status, problem type) per request."""
    limits = httpx.Limits(max_connections=len(residents), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        go = asyncio.Event()

        async def one(person: str, token: str) -> tuple[int, str]:
            await go.wait()
            try:
                response = await client.post(
                    "/api/v1/bookings",
                    json={"slot_id": slot_id, "person_id": person},
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                return 0, type(exc).__name__
            kind = response.json().get("type", "") if response.status_code >= 400 else ""
            return response.status_code, kind

        tasks = [asyncio.create_task(one(person, token)) for person, token in residents]
        await asyncio.sleep(0)
        go.set()
        return await asyncio.gather(*tasks)


def _run(coroutine: Any) -> Any:
    """asyncio.run on a thread of its own: the browser tests' Playwright keeps an event loop
    running on this process's main thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.mark.parametrize(("backend", "workers"), [("postgres", 4), ("sqlite", 1)])
def test_300_simultaneous_bookings_for_5_places_give_5_created_and_295_conflicts(
    backend: str, workers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with installation(tmp_path, backend, monkeypatch) as inst:
        slot_id, residents = seed_residents(REQUESTS)
        dispose_engines()  # the server owns the database now; keep no idle connections here
        with live_server(inst.data_dir, inst.database_url, workers) as url:
            results = _run(burst(url, slot_id, residents))
        statuses = Counter(status for status, _ in results)
        assert statuses == {201: CAPACITY, 409: REQUESTS - CAPACITY}, statuses
        assert {kind for status, kind in results if status == 409} == {"/problems/slot-full"}
        with session_scope() as session:
            slot = session.get(Slot, slot_id)
            held = session.scalar(
                select(func.count()).select_from(Booking).where(Booking.slot_id == slot_id)
            )
        assert slot is not None and slot.booked == held == CAPACITY

"""Benchmark: the booking API under load — locust, headless, 100 users for 60 s, on PostgreSQL.

Builds a fresh PostgreSQL database (from ``--database-url``, else the throwaway server of
``.ci/start-postgres.sh``), migrated to head, with 10 providers, 200 slots of the next 14 days
(1,000 places each, so no request meets a full slot), 20,000 persons and one district official,
and serves it with ``uvicorn --workers 4`` exactly as ``carematch serve`` would serve the app.

Two locust runs of the same shape (users, spawn rate, think time, duration), one after the other:

1. **baseline**: every user calls ``GET /healthz`` (the stack — uvicorn, FastAPI, a pooled
   connection, ``SELECT 1`` — with no booking logic);
2. **booking**: every user, as the official at a clinic desk, books persons into slots
   (``POST /api/v1/bookings``, weight 4: each pair of person and slot once, so each must be a
   201), lists free slots (``GET /api/v1/slots``, weight 3), lists bookings (``GET
   /api/v1/bookings`` by person or by day, weight 2) and cancels one of its own bookings
   (``DELETE /api/v1/bookings/{id}``, weight 1).

Every non-2xx answer counts as an error. Afterwards the database is checked: no slot holds more
bookings than its capacity and every slot's ``booked`` equals its live bookings.

Prints one JSON line and rewrites the "booking" section of docs/benchmarks.md.

Usage: python bench/bench_booking.py [--database-url URL] [--users 100] [--seconds 60]
       [--workers 4] [--think 0.5-1.5] [--no-doc]
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import sys
import threading
from pathlib import Path

# --- the locust side: imported by locust (never by `python bench/bench_booking.py`, because
# locust patches the standard library with gevent on import) ----------------------------------

PLAN_ENV = "CAREMATCH_BENCH_BOOKING_PLAN"

if __name__ != "__main__":
    from locust import HttpUser, between, task

    _plan: dict = (
        json.loads(Path(os.environ[PLAN_ENV]).read_text()) if PLAN_ENV in os.environ else {}
    )
    _pairs = itertools.count()
    _pairs_lock = threading.Lock()
    _think = tuple(_plan.get("think", (0.5, 1.5)))

    def _next_pair() -> tuple[str, str]:
        """A (person, slot) pair never used before: person i mod P, slot (i + i div P) mod S.

        For one person the slots step by P + 1, coprime with S, so no pair repeats before P × S.
        """
        with _pairs_lock:
            i = next(_pairs)
        persons, slots = _plan["persons"], _plan["slots"]
        return persons[i % len(persons)], slots[(i + i // len(persons)) % len(slots)]

    class HealthUser(HttpUser):
        """The baseline: the health check only."""

        wait_time = between(*_think)

        @task
        def healthz(self) -> None:
            self.client.get("/healthz")

    class BookingUser(HttpUser):
        """A clinic desk: books, lists slots and bookings, cancels now and then."""

        wait_time = between(*_think)

        def on_start(self) -> None:
            self.client.headers["Authorization"] = f"Bearer {_plan['token']}"
            self.mine: list[str] = []

        @task(4)
        def book(self) -> None:
            person, slot = _next_pair()
            with self.client.post(
                "/api/v1/bookings",
                json={"slot_id": slot, "person_id": person},
                name="POST /api/v1/bookings",
                catch_response=True,
            ) as response:
                if response.status_code == 201:
                    self.mine.append(response.json()["id"])
                    response.success()
                else:
                    response.failure(f"{response.status_code}: {response.text[:200]}")

        @task(3)
        def list_slots(self) -> None:
            self.client.get(
                "/api/v1/slots",
                params={
                    "service": random.choice(_plan["services"]),
                    "available": "true",
                    "limit": 20,
                    "offset": random.randrange(0, 80),
                },
                name="GET /api/v1/slots",
            )

        @task(2)
        def list_bookings(self) -> None:
            if random.random() < 0.5:
                params = {"person_id": random.choice(_plan["persons"]), "limit": 20}
            else:
                day = random.choice(_plan["days"])
                params = {"from": f"{day}T00:00:00", "to": f"{day}T23:59:59", "limit": 20}
            self.client.get("/api/v1/bookings", params=params, name="GET /api/v1/bookings")

        @task(1)
        def cancel(self) -> None:
            if not self.mine:
                return
            booking = self.mine.pop(random.randrange(len(self.mine)))
            self.client.delete(f"/api/v1/bookings/{booking}", name="DELETE /api/v1/bookings/{id}")


# --- the benchmark: build, serve, load, check, report ---------------------------------------

DISTRICT = "449901"
TARGET_P95_MS = 200
SERVICES = ("vaccination_adult", "chronic_followup")


def _postgres_url(given: str | None) -> str:
    import subprocess

    if given:
        return given
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        ["bash", str(root / ".ci" / "start-postgres.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().split("=", 1)[1]


def _build(url: str, data_dir: Path, slots: int, persons: int) -> dict:
    """Migrate the fresh database, add providers, slots, persons and an official."""
    from datetime import timedelta
    from decimal import Decimal

    from sqlalchemy import insert

    from carematch.booking.service import create_slot
    from carematch.core.clock import utcnow
    from carematch.core.config import get_settings
    from carematch.core.db import dispose_engines, session_scope
    from carematch.core.ids import new_id
    from carematch.core.migrate import upgrade
    from carematch.identity.models import Person
    from carematch.providers.hours import CITY_TZ
    from carematch.providers.models import Provider, ProviderService
    from carematch.security.authz import Principal
    from carematch.security.models import User
    from carematch.security.tokens import issue_token

    os.environ.update(
        CAREMATCH_DATA_DIR=str(data_dir), CAREMATCH_DATABASE_URL=url, CAREMATCH_ENV="test"
    )
    get_settings.cache_clear()
    dispose_engines()
    upgrade()
    rng = random.Random(7)
    admin = Principal("bench", "bench", "admin", None)
    now = utcnow()
    slot_ids: list[str] = []
    with session_scope() as session:
        providers = [f"PB{i:03d}" for i in range(10)]
        for i, pid in enumerate(providers):
            session.add(
                Provider(
                    id=pid,
                    name=f"社区卫生服务中心{i}",
                    kind="community_health_centre",
                    region_code=f"{DISTRICT}{i % 5 + 1:03d}001",
                    lat=23.1,
                    lon=113.3,
                )
            )
            session.flush()
            for code in SERVICES:
                session.add(
                    ProviderService(
                        provider_id=pid, service_code=code, daily_capacity=200, price=Decimal(0)
                    )
                )
        session.flush()
        first = (
            (now + timedelta(days=1))
            .astimezone(CITY_TZ)
            .replace(hour=8, minute=0, second=0, microsecond=0)
        )
        for n in range(slots):
            start = first + timedelta(days=n % 14, minutes=30 * (n // 14 % 16))
            slot = create_slot(
                session,
                admin,
                provider_id=providers[n % len(providers)],
                service=SERVICES[n % len(SERVICES)],
                start=start,
                end=start + timedelta(minutes=30),
                capacity=1000,
                now=now,
            )
            slot_ids.append(slot.id)
        person_ids = [f"PB{new_id()[:20]}" for _ in range(persons)]
        session.execute(
            insert(Person),
            [
                {
                    "id": pid,
                    "community_code": f"{DISTRICT}{rng.randrange(1, 6):03d}001",
                    "record_count": 0,
                }
                for pid in person_ids
            ],
        )
        official = {
            "id": new_id(),
            "username": "bench_official",
            "password_hash": "!",
            "role": "official",
            "region_code": DISTRICT,
            "active": True,
            "created_at": now,
        }
        session.execute(insert(User), [official])
    token, _ = issue_token(official["id"], "official", DISTRICT)
    days = sorted({(first + timedelta(days=d)).date().isoformat() for d in range(14)})
    dispose_engines()
    return {
        "token": token,
        "slots": slot_ids,
        "persons": person_ids,
        "services": list(SERVICES),
        "days": days,
    }


def _serve(data_dir: Path, url: str, workers: int):  # type: ignore[no-untyped-def]
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "CAREMATCH_DATA_DIR": str(data_dir),
        "CAREMATCH_DATABASE_URL": url,
        "CAREMATCH_ENV": "test",
    }
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "carematch.api.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log",
        ],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                # Give every worker time to import the app before the load starts.
                time.sleep(2 * workers)
                return server, base
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("server did not start")


def _locust(user: str, base: str, plan: Path, args, prefix: Path) -> dict:  # type: ignore[no-untyped-def]
    """Run locust headless for one user class; return the aggregated and per-request stats."""
    import csv
    import subprocess

    env = {**os.environ, PLAN_ENV: str(plan)}
    subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", str(Path(__file__).resolve()), "--headless",
            "-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds}s",
            "--host", base, "--csv", str(prefix), "--only-summary", "--stop-timeout", "10",
            "--loglevel", "WARNING", user,
        ],
        env=env,
        check=False,  # locust exits 1 when a request failed; the failures are in the stats
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    with Path(f"{prefix}_stats.csv").open() as handle:
        rows = list(csv.DictReader(handle))

    def stats(row: dict) -> dict:
        return {
            "requests": int(row["Request Count"]),
            "errors": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1),
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
            "p99_ms": float(row["99%"]),
        }

    total = next(r for r in rows if r["Name"] == "Aggregated")
    per = {r["Name"]: stats(r) for r in rows if r["Name"] != "Aggregated"}
    with Path(f"{prefix}_failures.csv").open() as handle:
        failures = list(csv.DictReader(handle))
    return {
        "all": stats(total),
        "by_request": per,
        "failures": [
            f"{f['Method']} {f['Name']}: {f['Error'][:120]} × {f['Occurrences']}" for f in failures
        ],
    }


def _check(url: str, data_dir: Path) -> dict:
    """The invariants after the load: no slot over capacity, ``booked`` = live bookings."""
    from sqlalchemy import func, select

    from carematch.booking.models import HOLDING_STATUSES, Booking, Slot
    from carematch.core.db import dispose_engines, session_scope

    with session_scope() as session:
        over = session.scalar(
            select(func.count()).select_from(Slot).where(Slot.booked > Slot.capacity)
        )
        live = dict(
            session.execute(
                select(Booking.slot_id, func.count())
                .where(Booking.status.in_(HOLDING_STATUSES))
                .group_by(Booking.slot_id)
            ).all()
        )
        slots = dict(session.execute(select(Slot.id, Slot.booked)).all())
        bookings = session.scalar(select(func.count()).select_from(Booking)) or 0
    dispose_engines()
    mismatched = sum(1 for sid, booked in slots.items() if booked != live.get(sid, 0))
    return {"slots_over_capacity": over or 0, "slots_miscounted": mismatched, "bookings": bookings}


def main() -> None:
    import argparse
    import os as _os
    import tempfile
    import uuid
    from datetime import date

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import machine, update_doc

    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", help="a PostgreSQL server (default: .ci/start-postgres.sh)"
    )
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--think", default="0.5-1.5", help="seconds between a user's requests")
    parser.add_argument("--slots", type=int, default=200)
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    if math.gcd(args.persons + 1, args.slots) != 1:
        # Each (person, slot) pair must be booked once: see _next_pair.
        parser.error("--persons + 1 and --slots must have no common factor")
    think = tuple(float(x) for x in args.think.split("-"))
    load_before = _os.getloadavg()[0]

    server_url = make_url(_postgres_url(args.database_url)).set(drivername="postgresql+psycopg")
    name = f"cm_bench_booking_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server_url.set(database=name).render_as_string(hide_password=False)
    server = None
    try:
        with tempfile.TemporaryDirectory(prefix="cm-bench-booking-") as tmp:
            data_dir = Path(tmp) / "data"
            plan = _build(url, data_dir, args.slots, args.persons)
            plan["think"] = think
            plan_path = Path(tmp) / "plan.json"
            plan_path.write_text(json.dumps(plan))
            server, base = _serve(data_dir, url, args.workers)
            baseline = _locust("HealthUser", base, plan_path, args, Path(tmp) / "health")
            booking = _locust("BookingUser", base, plan_path, args, Path(tmp) / "booking")
            server.terminate()
            server.wait(timeout=30)
            server = None
            checked = _check(url, data_dir)
    finally:
        if server is not None:
            server.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    result = {
        "bench": "booking",
        "date": date.today().isoformat(),
        "machine": machine(),
        "users": args.users,
        "seconds": args.seconds,
        "workers": args.workers,
        "think_s": list(think),
        "slots": args.slots,
        "persons": args.persons,
        "booking": booking["all"],
        "booking_by_request": booking["by_request"],
        "booking_failures": booking["failures"],
        "baseline_healthz": baseline["all"],
        "baseline_failures": baseline["failures"],
        **checked,
        "target_p95_ms": TARGET_P95_MS,
        "within_target": booking["all"]["p95_ms"] < TARGET_P95_MS and booking["all"]["errors"] == 0,
        "load_1min_before": round(load_before, 1),
        "load_1min_after": round(_os.getloadavg()[0], 1),
    }
    print(json.dumps(result, ensure_ascii=False))
    if not args.no_doc:
        update_doc("booking", result, render(result))


def render(result: dict) -> str:
    """The docs/benchmarks.md section of one result."""
    b, h = result["booking"], result["baseline_healthz"]
    think = result["think_s"]
    verdict = (
        "met"
        if result["within_target"]
        else f"**missed** (p95 {b['p95_ms']:g} ms, {b['errors']} errors)"
    )
    before = result.get("load_1min_before")
    load = (
        f"1-minute load average {before} before and {result['load_1min_after']} after the run "
        "(other work shared the machine)"
        if before is not None
        else f"1-minute load average after the run: {result['load_1min_after']}"
    )
    lines = [
        f"### Booking API under load ({result['date']}, {result['machine']})",
        "",
        f"locust headless, {result['users']} users for {result['seconds']} s each run, each "
        f"user waiting {think[0]:g}–{think[1]:g} s between requests (all users start within "
        f"the first second); uvicorn with {result['workers']} workers on PostgreSQL, on the same "
        f"machine as locust and the database. {result['slots']} slots, "
        f"{result['persons']:,} persons.",
        "",
        "| run | requests | throughput | p50 | p95 | p99 | errors |",
        "|---|---|---|---|---|---|---|",
        f"| **booking mix** (all requests) | {b['requests']:,} | {b['rps']} req/s | "
        f"{b['p50_ms']:g} ms | **{b['p95_ms']:g} ms** | {b['p99_ms']:g} ms | {b['errors']} |",
    ]
    for request, s in sorted(result["booking_by_request"].items()):
        lines.append(
            f"| · {request} | {s['requests']:,} | {s['rps']} req/s | {s['p50_ms']:g} ms | "
            f"{s['p95_ms']:g} ms | {s['p99_ms']:g} ms | {s['errors']} |"
        )
    lines += [
        f"| baseline: `GET /healthz`, same users and think time | {h['requests']:,} | "
        f"{h['rps']} req/s | {h['p50_ms']:g} ms | {h['p95_ms']:g} ms | {h['p99_ms']:g} ms | "
        f"{h['errors']} |",
        "",
        f"Target (issue 5): p95 under {result['target_p95_ms']} ms with zero errors — {verdict}. "
        f"{load}.",
        "",
        f"After the run: {result['bookings']:,} bookings; slots over capacity: "
        f"{result['slots_over_capacity']}; slots whose count differs from their live bookings: "
        f"{result['slots_miscounted']}.",
        "",
        "`python bench/bench_booking.py [--database-url postgresql+psycopg://…] "
        "[--users 100] [--seconds 60] [--think 0.5-1.5]` (not in `make bench`; needs PostgreSQL).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Benchmark: the booking API under load — locust, headless, 100 users for 60 s, on PostgreSQL.

Builds a fresh PostgreSQL database (from ``--database-url``, else the throwaway server of
``.ci/start-postgres.sh``), migrated to head, with 10 providers, 200 slots of the next 14 days
(1,000 places each, so no request meets a full slot), 20,000 persons and one district official,
and serves it with ``carematch serve`` itself (its defaults: two worker processes per core, at
most 4, unless ``--workers`` is given), so the bench measures what production runs.

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

The load client is locust's ``FastHttpUser`` (geventhttpclient), not the ``requests``-based
``HttpUser``: locust shares the machine with the server and the database, and the lighter client
leaves more of it to what is measured. The CPU seconds the server processes and locust spent in
each run are reported too (per request, they are steadier than latencies on a shared machine).

Prints one JSON line and rewrites the "booking" section of docs/benchmarks.md.

Usage: python bench/bench_booking.py [--database-url URL] [--users 100] [--seconds 60]
       [--workers N] [--think 0.5-1.5] [--no-doc]
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
from typing import Any

# --- the locust side: imported by locust (never by `python bench/bench_booking.py`, because
# locust patches the standard library with gevent on import) ----------------------------------

PLAN_ENV = "CAREMATCH_BENCH_BOOKING_PLAN"
TIMES_ENV = "CAREMATCH_BENCH_BOOKING_TIMES"
# Latencies are also given without the first seconds of a run: all users start at once, so the
# first requests meet a queue that the steady state never builds (reported beside, not instead).
SETTLE_S = 10

if __name__ != "__main__":
    import time

    from locust import FastHttpUser, between, events, task

    _plan: dict = (
        json.loads(Path(os.environ[PLAN_ENV]).read_text()) if PLAN_ENV in os.environ else {}
    )
    _pairs = itertools.count()
    _pairs_lock = threading.Lock()
    _think = tuple(_plan.get("think", (0.5, 1.5)))
    _times: list[tuple[float, float, bool]] = []

    @events.request.add_listener
    def _record(response_time: float, exception: Any = None, **_: Any) -> None:
        """Every request's end time, latency (ms) and failure, for the settled percentiles."""
        _times.append((time.time(), response_time, exception is not None))

    @events.quitting.add_listener
    def _write_times(**_: Any) -> None:
        if TIMES_ENV in os.environ:
            Path(os.environ[TIMES_ENV]).write_text(json.dumps(_times))

    def _next_pair() -> tuple[str, str]:
        """A (person, slot) pair never used before: person i mod P, slot (i + i div P) mod S.

        For one person the slots step by P + 1, coprime with S, so no pair repeats before P × S.
        """
        with _pairs_lock:
            i = next(_pairs)
        persons, slots = _plan["persons"], _plan["slots"]
        return persons[i % len(persons)], slots[(i + i // len(persons)) % len(slots)]

    class HealthUser(FastHttpUser):
        """The baseline: the health check only."""

        wait_time = between(*_think)

        @task
        def healthz(self) -> None:
            self.client.get("/healthz")

    class BookingUser(FastHttpUser):
        """A clinic desk: books, lists slots and bookings, cancels now and then."""

        wait_time = between(*_think)

        def on_start(self) -> None:
            self.client.auth_header = f"Bearer {_plan['token']}"
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
    token, _ = issue_token(str(official["id"]), "official", DISTRICT)
    days = sorted({(first + timedelta(days=d)).date().isoformat() for d in range(14)})
    dispose_engines()
    return {
        "token": token,
        "slots": slot_ids,
        "persons": person_ids,
        "services": list(SERVICES),
        "days": days,
    }


def _serve(data_dir: Path, url: str, workers: int) -> tuple[Any, str]:
    """Start ``carematch serve`` on a free port; return the process and its base URL."""
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
    command = [
        sys.executable, "-c", "from carematch.cli import app; app()",
        "serve", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    command += ["--workers", str(workers)]
    server = subprocess.Popen(command, env=env)
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


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process and its living children have used so far."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _locust(user: str, base: str, plan: Path, args: Any, prefix: Path, server_pid: int) -> dict:
    """Run locust headless for one user class; return the aggregated and per-request stats,
    and the CPU seconds the server and locust spent meanwhile."""
    import csv
    import resource
    import subprocess

    times_path = Path(f"{prefix}_times.json")
    env = {**os.environ, PLAN_ENV: str(plan), TIMES_ENV: str(times_path)}
    server_before = _cpu_seconds(server_pid)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
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
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = _cpu_seconds(server_pid) - server_before
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
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
    count = max(int(total["Request Count"]), 1)
    return {
        "all": stats(total),
        "settled": _settled(json.loads(times_path.read_text())),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / count, 2),
        "locust_cpu_ms_per_request": round(client_cpu * 1000 / count, 2),
        "by_request": per,
        "failures": [
            f"{f['Method']} {f['Name']}: {f['Error'][:120]} × {f['Occurrences']}" for f in failures
        ],
    }


def _settled(times: list[list[float]]) -> dict:
    """Exact latency percentiles (nearest rank) of the requests that started SETTLE_S seconds
    or more after the first one."""
    starts = [(end - ms / 1000, ms, failed) for end, ms, failed in times]
    first = min((start for start, _, _ in starts), default=0.0)
    kept = sorted(ms for start, ms, _ in starts if start >= first + SETTLE_S)
    errors = sum(1 for start, _, failed in starts if failed and start >= first + SETTLE_S)

    def rank(q: float) -> float:
        return round(kept[max(math.ceil(q * len(kept)) - 1, 0)], 1) if kept else 0.0

    return {
        "after_s": SETTLE_S,
        "requests": len(kept),
        "errors": errors,
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
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
    parser.add_argument("--workers", type=int, help="server processes (default: carematch serve's)")
    parser.add_argument("--think", default="0.5-1.5", help="seconds between a user's requests")
    parser.add_argument("--slots", type=int, default=200)
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    if math.gcd(args.persons + 1, args.slots) != 1:
        # Each (person, slot) pair must be booked once: see _next_pair.
        parser.error("--persons + 1 and --slots must have no common factor")
    think = tuple(float(x) for x in args.think.split("-"))
    from carematch.cli import default_workers

    workers = args.workers or default_workers()
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
            server, base = _serve(data_dir, url, workers)
            baseline = _locust(
                "HealthUser", base, plan_path, args, Path(tmp) / "health", server.pid
            )
            booking = _locust(
                "BookingUser", base, plan_path, args, Path(tmp) / "booking", server.pid
            )
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
        "workers": workers,
        "client": "locust FastHttpUser",
        "think_s": list(think),
        "slots": args.slots,
        "persons": args.persons,
        "booking": booking["all"],
        "booking_by_request": booking["by_request"],
        "booking_settled": booking["settled"],
        "booking_failures": booking["failures"],
        "booking_cpu_ms_per_request": {
            "server": booking["server_cpu_ms_per_request"],
            "locust": booking["locust_cpu_ms_per_request"],
        },
        "baseline_healthz": baseline["all"],
        "baseline_cpu_ms_per_request": {
            "server": baseline["server_cpu_ms_per_request"],
            "locust": baseline["locust_cpu_ms_per_request"],
        },
        "baseline_settled": baseline["settled"],
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


def _latencies(settled: dict) -> str:
    return (
        f"{settled['requests']:,} requests, p50 {settled['p50_ms']:g} ms, p95 "
        f"{settled['p95_ms']:g} ms, p99 {settled['p99_ms']:g} ms, {settled['errors']} errors"
    )


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
        + ("(other work shared the machine)" if before >= 1 else "(a quiet machine)")
        if before is not None
        else f"1-minute load average after the run: {result['load_1min_after']}"
    )
    lines = [
        f"### Booking API under load ({result['date']}, {result['machine']})",
        "",
        f"locust headless, {result['users']} users for {result['seconds']} s each run, each "
        f"user waiting {think[0]:g}–{think[1]:g} s between requests (all users start within "
        f"the first second; {result.get('client', 'locust HttpUser')}); `carematch serve` with "
        f"{result['workers']} worker processes on PostgreSQL, on the same machine as locust and "
        f"the database. {result['slots']} slots, {result['persons']:,} persons.",
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
        *(
            [
                f"Without the first {result['booking_settled']['after_s']} s of each run (all "
                "users start in the same second, so the first requests queue; exact percentiles, "
                "not the verdict above): booking mix "
                f"{_latencies(result['booking_settled'])}; `/healthz` "
                f"{_latencies(result['baseline_settled'])}.",
                "",
            ]
            if "booking_settled" in result
            else []
        ),
        *(
            [
                f"CPU per request (process CPU seconds ÷ requests): booking mix — server "
                f"{result['booking_cpu_ms_per_request']['server']:g} ms, locust "
                f"{result['booking_cpu_ms_per_request']['locust']:g} ms; `/healthz` — server "
                f"{result['baseline_cpu_ms_per_request']['server']:g} ms, locust "
                f"{result['baseline_cpu_ms_per_request']['locust']:g} ms (PostgreSQL's own CPU is "
                "not counted).",
                "",
            ]
            if "booking_cpu_ms_per_request" in result
            else []
        ),
        f"After the run: {result['bookings']:,} bookings; slots over capacity: "
        f"{result['slots_over_capacity']}; slots whose count differs from their live bookings: "
        f"{result['slots_miscounted']}.",
        "",
        "`python bench/bench_booking.py [--database-url postgresql+psycopg://…] "
        "[--users 100] [--seconds 60] [--think 0.5-1.5] [--workers N]` (the last step of "
        "`make bench`; needs PostgreSQL).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

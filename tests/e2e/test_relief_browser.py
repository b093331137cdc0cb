"""The return-to-poverty watch end to end (issue 7 acceptance), in Chromium against the live
server: a lifted household's new settlements, ingested with `carematch ingest`, cross 5,000
yuan and open a case by themselves; a civil-affairs user verifies, approves and pays it on the
cockpit's relief page; the fund's balance and the household's out-of-pocket after relief are
right to the yuan, computed here from the settlement amounts and the tier's rule."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from carematch.core.clock import city_today
from tests.e2e.conftest import PASSWORD, LiveServer, Tab, _cli

pytestmark = pytest.mark.browser
CIVIL = "civil_relief"
DEPOSIT = Decimal("10000.00")
# The new settlements: 2,600.40 + 2,700.10 = 5,300.50 yuan out of pocket (over 5,000).
BILLS = (("8200.00", "2600.40"), ("9100.50", "2700.10"))
FEN = Decimal("0.01")


def _env(server: LiveServer) -> dict[str, str]:
    env = {**os.environ, "CAREMATCH_DATA_DIR": str(server.data_dir), "CAREMATCH_ENV": "test"}
    env.pop("CAREMATCH_DATABASE_URL", None)
    return env


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _window_start(today: date) -> date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year - 1, day=28)


def _lifted_household(city: Path) -> tuple[dict[str, str], dict[str, str], Decimal]:
    """A member of a lifted household (by the generator's truth) whose records are clean (the
    ID number as the truth has it, so linkage cannot miss them), the household not yet over
    the line; with the household's out-of-pocket of the last 12 months from the settlement
    extract (a settlement exported twice counted once). The household with the least spent is
    taken. (poverty row, truth person, out-of-pocket so far)"""
    persons = {p["person_id"]: p for p in _rows(city / "truth" / "persons.csv")}
    owner = {
        (r["source"], r["record_id"]): r["person_id"] for r in _rows(city / "truth" / "records.csv")
    }
    poverty = _rows(city / "poverty.csv")
    # The watch sums the settlements of the registry's members only.
    registered = {owner.get(("poverty", r["record_id"])) for r in poverty}
    today = city_today()
    start = _window_start(today)
    spent: dict[str, Decimal] = {}
    unclean: set[str] = set()
    seen: set[tuple[str, ...]] = set()
    for r in _rows(city / "insurance.csv"):
        pid = owner.get(("insurance", r["record_id"]))
        if pid is None or pid not in registered:
            continue
        household = persons[pid]["household_id"]
        day = date.fromisoformat(r["settlement_date"])
        if not start < day <= today:
            continue
        if r["id_number"] != persons[pid]["id_number"]:
            unclean.add(household)
        key = (
            pid,
            r["settlement_date"],
            r["facility_code"],
            r["visit_type"],
            r["total_cost"],
            r["out_of_pocket"],
        )
        if key in seen:
            continue
        seen.add(key)
        spent[household] = spent.get(household, Decimal(0)) + Decimal(r["out_of_pocket"])
    candidates = []
    for row in poverty:
        person = persons.get(owner.get(("poverty", row["record_id"]), ""))
        if person is None:
            continue
        household = person["household_id"]
        if row["id_number"] != person["id_number"]:
            unclean.add(household)
        if (
            row["household_status"] == "lifted"
            and person["household_status"] == "lifted"
            and row["name"] == person["name"]
            and row["birth_date"] == person["birth_date"]
            and spent.get(household, Decimal(0)) <= 4000
        ):
            candidates.append((spent.get(household, Decimal(0)), row["record_id"], row, person))
    candidates = [c for c in candidates if c[3]["household_id"] not in unclean]
    if not candidates:
        pytest.fail("the generated city has no lifted household with clean records")
    so_far, _, row, person = min(candidates, key=lambda c: (c[0], c[1]))
    return row, person, so_far


def _expected(oop: Decimal, income: Decimal) -> Decimal:
    """The relief for a lifted household, by the library's rules as the docs state them:
    medical assistance 50 % up to 30,000; then temporary relief up to 20,000 when the
    out-of-pocket is over 5,000 and at least 30 % of a known income."""
    assistance = min((oop * Decimal("0.5")).quantize(FEN, ROUND_HALF_UP), Decimal(30000))
    temporary = Decimal(0)
    if oop > 5000 and income > 0 and oop >= Decimal("0.3") * income:
        temporary = min(oop - assistance, Decimal(20000))
    return assistance + temporary


def _ingest(server: LiveServer, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "carematch.cli", "ingest", "insurance", str(path)],
        env=_env(server),
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _money(text: str) -> Decimal:
    return Decimal(text.replace("¥", "").replace(",", "").strip())


def _balance(tab: Tab) -> Decimal:
    return Decimal(tab.page.get_attribute("#fund", "data-balance"))


def _step(tab: Tab, case: str, action: str) -> None:
    with tab.page.expect_navigation():
        tab.page.click(f"{case} button[data-action={action}]")
    assert tab.page.get_attribute("#relief-message", "data-kind") == "done"


@pytest.fixture(scope="module")
def quiet(live_server: LiveServer) -> tuple[dict[str, str], dict[str, str], Decimal]:
    return _lifted_household(live_server.data_dir / "city")


@pytest.fixture(scope="module")
def civil(live_server: LiveServer, quiet: tuple[dict[str, str], dict[str, str], Decimal]) -> str:
    """A civil-affairs user of the quiet household's district."""
    _cli(
        _env(live_server),
        "users",
        "create",
        CIVIL,
        "--role",
        "civil_affairs",
        "--region",
        quiet[0]["community_code"][:6],
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    return CIVIL


def test_a_lifted_households_bills_open_a_case_that_civil_affairs_pays(
    live_server: LiveServer,
    quiet: tuple[dict[str, str], dict[str, str], Decimal],
    civil: str,
    tab: Tab,
    tmp_path: Path,
):
    row, person, so_far = quiet
    household = row["household_id"]

    # Given: two new settlements of the member, within the last 12 months.
    day = city_today() - timedelta(days=3)
    header = (
        "record_id,name,id_number,sex,birth_date,phone,settlement_date,facility,facility_code,"
        "visit_type,diagnosis,insurance_type,insured_locally,insured_province,total_cost,"
        "reimbursed,out_of_pocket"
    )
    lines = [header]
    for n, (total, oop) in enumerate(BILLS, start=1):
        paid = Decimal(total) - Decimal(oop)
        lines.append(
            f"E2E-RELIEF-{n},{row['name']},{row['id_number']},{person['sex']},"
            f"{row['birth_date']},{row['phone']},{(day - timedelta(days=n)).isoformat()},"
            f"江城市第一人民医院,PRV0001,outpatient,general,resident,true,44,{total},{paid},{oop}"
        )
    extract = tmp_path / "insurance.csv"
    extract.write_text("\n".join(lines) + "\n", encoding="utf-8")

    # When: they are ingested the way a department's extract is.
    summary = _ingest(live_server, extract)
    assert summary["accepted"] == len(BILLS) and summary["linked"] == len(BILLS), summary
    watch = summary["after_ingest"]["carematch.relief.service:after_ingest"]
    assert watch["opened"] >= 1, watch

    oop = so_far + sum((Decimal(o) for _, o in BILLS), Decimal(0))
    income = Decimal(row["income_12m"])
    relief = _expected(oop, income)

    # Then: the case is on the civil-affairs user's page, triggered, with the right figures.
    tab.goto("/login?next=/cockpit/relief")
    tab.sign_in(CIVIL)
    if "/cockpit/relief" not in tab.page.url:
        tab.goto("/cockpit/relief")
    case = f"article[data-household='{household}']"
    assert tab.page.get_attribute(case, "data-status") == "triggered"
    assert _money(tab.page.inner_text(f"{case} .case-oop")) == oop
    assert _money(tab.page.inner_text(f"{case} .case-amount")) == relief

    # The fund is topped up on the page, then the case goes through.
    before = _balance(tab)
    tab.page.fill("#deposit-amount", str(DEPOSIT))
    with tab.page.expect_navigation():
        tab.page.click("#deposit-submit")
    assert _balance(tab) == before + DEPOSIT
    _step(tab, case, "verify")
    assert tab.page.get_attribute(case, "data-status") == "verified"
    _step(tab, case, "approve")
    _step(tab, case, "pay")

    assert tab.page.get_attribute(case, "data-status") == "paid"
    assert _balance(tab) == before + DEPOSIT - relief
    assert _money(tab.page.inner_text(f"{case} .case-after")) == oop - relief
    steps = tab.page.locator(f"{case} .step").all_inner_texts()
    assert len(steps) == 4 and all(CIVIL in s for s in steps[1:])
    assert tab.errors == []


def test_the_relief_page_fits_a_phone(live_server: LiveServer, civil: str, phone: Tab):
    phone.goto("/login?next=/cockpit/relief")
    phone.sign_in(civil)
    phone.goto("/cockpit/relief")
    for summary in phone.page.locator("details summary").all():
        summary.click()  # the stacking tables open too: they must scroll inside their card

    assert phone.page.locator("#fund").is_visible()
    assert phone.page.locator("#towns-title").is_visible()
    assert phone.horizontal_overflow() == 0

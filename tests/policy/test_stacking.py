"""Benefit stacking: a table of hand-computed bills across insurance schemes, tiers and caps,
and the invariants every bill keeps (issue 7 item 4 acceptance).

Demo library figures (carematch/data/policies_insurance.yaml and policies.yaml):
employee basic insurance 起付线 1,000, 85 %, cap 400,000; resident 600, 60 %, cap 200,000;
critical illness 20,000, 60 %, cap 300,000 (hardship variant 10,000, 65 %, no cap, for extreme
hardship, minimum allowance, lifted and monitored); medical assistance 100 % (extreme
hardship), 70 % ≤ 50,000 (minimum allowance), 50 % ≤ 30,000 (monitored, marginal, lifted);
temporary relief ≤ 20,000 when oop_12m > 5,000 and ≥ 30 % of income.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.policy.errors import PolicyLibraryError
from carematch.policy.library import (
    STAGES,
    Benefit,
    Policy,
    benefit_library,
    default_library,
    feature_dictionary,
    parse_library,
)
from carematch.policy.stacking import (
    service_cost,
    stack,
    stack_for_person,
    stage_of,
    stage_policies,
)
from carematch.rules import load_rule

LIBRARY = benefit_library()
INSURANCE = Path(__file__).resolve().parents[2] / "carematch" / "data" / "policies_insurance.yaml"


def person(insurance: str, status: str = "general", **extra: float) -> dict:
    return {"insurance": insurance, "household_status": status, **extra}


# (features, bill, expected [(policy, paid)], expected out-of-pocket)
TABLE = [
    pytest.param(
        person("resident"),
        10_000,
        # basic: 0.6 × (10,000 − 600) = 5,640 → 4,360 left; critical: 4,360 < 20,000 → 0
        [("P-BMI-RESIDENT", "5640.00"), ("P-CRITICAL-INS-STD", "0.00")],
        "4360.00",
        id="resident-small-bill",
    ),
    pytest.param(
        person("employee"),
        10_000,
        # basic: 0.85 × (10,000 − 1,000) = 7,650 → 2,350; critical: below 20,000 → 0
        [("P-BMI-EMPLOYEE", "7650.00"), ("P-CRITICAL-INS-STD", "0.00")],
        "2350.00",
        id="employee-small-bill",
    ),
    pytest.param(
        person("none"),
        10_000,
        # uninsured, general household: nothing applies
        [],
        "10000.00",
        id="uninsured",
    ),
    pytest.param(
        person("resident"),
        500,
        # below the 600 deductible: basic pays 0; critical 0
        [("P-BMI-RESIDENT", "0.00"), ("P-CRITICAL-INS-STD", "0.00")],
        "500.00",
        id="below-deductible",
    ),
    pytest.param(
        person("resident"),
        "1234.56",
        # basic: 0.6 × 634.56 = 380.736 → 380.74 (half up) → 853.82 left
        [("P-BMI-RESIDENT", "380.74"), ("P-CRITICAL-INS-STD", "0.00")],
        "853.82",
        id="rounding-to-the-fen",
    ),
    pytest.param(
        person("resident"),
        100_000,
        # basic: 0.6 × 99,400 = 59,640 → 40,360; critical: 0.6 × (40,360 − 20,000) = 12,216
        # → 28,144
        [("P-BMI-RESIDENT", "59640.00"), ("P-CRITICAL-INS-STD", "12216.00")],
        "28144.00",
        id="resident-critical-illness",
    ),
    pytest.param(
        person("employee"),
        1_000_000,
        # basic: 0.85 × 999,000 = 849,150 → cap 400,000 → 600,000 left;
        # critical: 0.6 × 580,000 = 348,000 → cap 300,000 → 300,000 left
        [("P-BMI-EMPLOYEE", "400000.00"), ("P-CRITICAL-INS-STD", "300000.00")],
        "300000.00",
        id="both-caps",
    ),
    pytest.param(
        person("resident", "extreme_hardship"),
        100_000,
        # basic 59,640 → 40,360; hardship critical: 0.65 × (40,360 − 10,000) = 19,734 → 20,626;
        # assistance 100 % → 0
        [
            ("P-BMI-RESIDENT", "59640.00"),
            ("P-CRITICAL-INS-POOR", "19734.00"),
            ("P-MED-ASSIST-EH", "20626.00"),
        ],
        "0.00",
        id="extreme-hardship-fully-covered",
    ),
    pytest.param(
        person("resident", "min_allowance"),
        100_000,
        # basic 59,640 → 40,360; hardship critical 19,734 → 20,626;
        # assistance 0.7 × 20,626 = 14,438.20 → 6,187.80
        [
            ("P-BMI-RESIDENT", "59640.00"),
            ("P-CRITICAL-INS-POOR", "19734.00"),
            ("P-MED-ASSIST-MA", "14438.20"),
        ],
        "6187.80",
        id="min-allowance",
    ),
    pytest.param(
        person("resident", "min_allowance"),
        600_000,
        # basic 0.6 × 599,400 = 359,640 → cap 200,000 → 400,000; hardship critical (no cap)
        # 0.65 × 390,000 = 253,500 → 146,500; assistance 0.7 × 146,500 = 102,550 → cap 50,000
        # → 96,500
        [
            ("P-BMI-RESIDENT", "200000.00"),
            ("P-CRITICAL-INS-POOR", "253500.00"),
            ("P-MED-ASSIST-MA", "50000.00"),
        ],
        "96500.00",
        id="min-allowance-capped",
    ),
    pytest.param(
        person("employee", "monitored"),
        50_000,
        # basic 0.85 × 49,000 = 41,650 → 8,350; hardship critical: below 10,000 → 0;
        # assistance 0.5 × 8,350 = 4,175 → 4,175
        [
            ("P-BMI-EMPLOYEE", "41650.00"),
            ("P-CRITICAL-INS-POOR", "0.00"),
            ("P-MED-ASSIST-MON", "4175.00"),
        ],
        "4175.00",
        id="monitored",
    ),
    pytest.param(
        person("resident", "marginal"),
        300_000,
        # basic 0.6 × 299,400 = 179,640 → 120,360; marginal is not in the hardship critical
        # variant: 0.6 × 100,360 = 60,216 → 60,144; assistance 0.5 × 60,144 = 30,072 → cap
        # 30,000 → 30,144
        [
            ("P-BMI-RESIDENT", "179640.00"),
            ("P-CRITICAL-INS-STD", "60216.00"),
            ("P-MED-ASSIST-MON", "30000.00"),
        ],
        "30144.00",
        id="marginal-capped",
    ),
    pytest.param(
        person("resident", "lifted", oop_12m=30_000, income_12m=40_000),
        200_000,
        # basic 0.6 × 199,400 = 119,640 → 80,360; hardship critical 0.65 × 70,360 = 45,734
        # → 34,626; assistance 0.5 × 34,626 = 17,313 → 17,313; temporary relief (30,000 > 5,000
        # and ≥ 0.3 × 40,000) pays all of 17,313 (≤ 20,000) → 0
        [
            ("P-BMI-RESIDENT", "119640.00"),
            ("P-CRITICAL-INS-POOR", "45734.00"),
            ("P-MED-ASSIST-MON", "17313.00"),
            ("P-TEMP-RELIEF", "17313.00"),
        ],
        "0.00",
        id="lifted-with-temporary-relief",
    ),
    pytest.param(
        person("resident", oop_12m=60_000, income_12m=50_000),
        150_000,
        # basic 0.6 × 149,400 = 89,640 → 60,360; critical 0.6 × 40,360 = 24,216 → 36,144;
        # no assistance (general); temporary relief capped at 20,000 → 16,144
        [
            ("P-BMI-RESIDENT", "89640.00"),
            ("P-CRITICAL-INS-STD", "24216.00"),
            ("P-TEMP-RELIEF", "20000.00"),
        ],
        "16144.00",
        id="temporary-relief-capped",
    ),
    pytest.param(
        person("resident", oop_12m=60_000, income_12m=500_000),
        150_000,
        # as above but 60,000 < 0.3 × 500,000: no temporary relief → 36,144
        [("P-BMI-RESIDENT", "89640.00"), ("P-CRITICAL-INS-STD", "24216.00")],
        "36144.00",
        id="income-too-high-for-temporary-relief",
    ),
]


@pytest.mark.parametrize(("features", "bill", "steps", "out_of_pocket"), TABLE)
def test_worked_examples(features, bill, steps, out_of_pocket):
    result = stack_for_person(LIBRARY, bill, features)

    assert [(s.policy_id, s.paid) for s in result.steps] == [
        (pid, Decimal(paid)) for pid, paid in steps
    ]
    assert result.out_of_pocket == Decimal(out_of_pocket)
    assert result.paid + result.out_of_pocket == result.total


def test_each_step_shows_its_parameters_and_chains_on_what_is_left():
    result = stack_for_person(LIBRARY, 100_000, person("resident", "min_allowance"))

    basic, critical, assistance = result.steps
    assert (basic.base, basic.deductible, basic.rate, basic.cap) == (
        Decimal("100000.00"),
        Decimal("600.00"),
        Decimal("0.6"),
        Decimal("200000.00"),
    )
    assert critical.base == basic.remaining and critical.cap is None
    assert critical.deductible == Decimal("10000.00") and critical.rate == Decimal("0.65")
    assert assistance.base == critical.remaining and assistance.cap == Decimal("50000.00")
    assert [s.stage for s in result.steps] == list(STAGES[:3])


def test_stages_come_from_the_library_including_the_shared_files_relief_policies():
    stages = stage_policies(LIBRARY.values())

    assert [p.id for p in stages["basic_insurance"]] == ["P-BMI-EMPLOYEE", "P-BMI-RESIDENT"]
    assert [p.id for p in stages["medical_assistance"]] == [
        "P-MED-ASSIST-EH",
        "P-MED-ASSIST-MA",
        "P-MED-ASSIST-MON",
    ]
    assert [p.id for p in stages["temporary_relief"]] == ["P-TEMP-RELIEF"]
    # The trigger policy and the plain critical-illness text carry no settlement figures.
    assert stage_of(LIBRARY["P-ANTI-RETURN"]) is None
    assert stage_of(LIBRARY["P-CRITICAL-INS"]) is None


def test_a_changed_rate_in_the_library_changes_the_bill():
    """Figures come from the library: halve the resident rate and the bill follows."""
    entries = yaml.safe_load(INSURANCE.read_text(encoding="utf-8"))
    for entry in entries:
        if entry["id"] == "P-BMI-RESIDENT":
            entry["benefit"]["rate"] = 0.3
    library = parse_library([("ins.yaml", yaml.safe_dump(entries, allow_unicode=True))])

    result = stack_for_person(library, 10_000, person("resident"))

    # 0.3 × 9,400 = 2,820 → 7,180
    assert result.out_of_pocket == Decimal("7180.00")


def test_the_eligibility_library_is_unchanged_by_the_supplement():
    assert "P-BMI-RESIDENT" not in default_library()
    assert set(default_library()) < set(LIBRARY)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stage": "copay"}, "stage"),
        ({"benefit": {"kind": "reimbursement", "deductible": -1}}, "benefit.deductible"),
        ({"benefit": {"kind": "reimbursement", "deductible": True}}, "benefit.deductible"),
    ],
)
def test_a_bad_stage_or_deductible_is_refused_naming_the_field(change, field):
    entry = {
        "id": "P-X",
        "title": "x",
        "department": "医保局",
        "eligibility": "True",
        "benefit": {"kind": "reimbursement"},
        "services": [],
        **change,
    }
    with pytest.raises(PolicyLibraryError) as caught:
        parse_library([("x.yaml", yaml.safe_dump([entry]))])

    assert f"policy P-X, field {field}:" in str(caught.value)


def test_a_negative_bill_is_refused():
    with pytest.raises(ValueError, match="negative"):
        stack_for_person(LIBRARY, -1, person("resident"))


# --- invariants ----------------------------------------------------------------------------

STATUSES = ["general", "extreme_hardship", "min_allowance", "lifted", "monitored", "marginal"]
bills = st.decimals(min_value=0, max_value=2_000_000, places=2, allow_nan=False)
features = st.fixed_dictionaries(
    {
        "insurance": st.sampled_from(["employee", "resident", "none"]),
        "household_status": st.sampled_from(STATUSES),
        "oop_12m": st.floats(min_value=0, max_value=200_000),
        "income_12m": st.floats(min_value=0, max_value=300_000),
    }
)


@settings(max_examples=200, deadline=None)
@given(features=features, bill=bills)
def test_out_of_pocket_stays_within_the_bill_and_steps_within_caps(features, bill):
    result = stack_for_person(LIBRARY, bill, features)

    assert Decimal(0) <= result.out_of_pocket <= result.total
    left = result.total
    for step in result.steps:
        assert step.base == left
        assert Decimal(0) <= step.paid <= step.base
        assert step.cap is None or step.paid <= step.cap
        assert step.remaining == step.base - step.paid
        left = step.remaining


def _policy(stage: str, index: int, rate: float | None, deductible: float, cap: float | None):
    pid = f"P-{stage}-{index}"
    return Policy(
        id=pid,
        title=pid,
        title_en=pid,
        department="x",
        demand_types=(),
        rule=load_rule("True", feature_dictionary(), pid),
        benefit=Benefit(kind="relief", rate=rate, cap=cap, deductible=deductible),
        services=(),
        clauses=(),
        stage=stage,
    )


benefits = st.tuples(
    st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
    st.floats(min_value=0, max_value=50_000),
    st.one_of(st.none(), st.floats(min_value=0, max_value=500_000)),
)


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.tuples(st.sampled_from(STAGES), benefits), min_size=1, max_size=8),
    bill=bills,
    data=st.data(),
)
def test_more_benefits_never_raise_out_of_pocket(parts, bill, data):
    policies = [_policy(stage, i, *b) for i, (stage, b) in enumerate(parts)]
    by_stage = stage_policies(policies)
    everything = {p.id for p in policies}
    fewer = set(data.draw(st.sets(st.sampled_from(sorted(everything)))))

    with_all = stack(by_stage, bill, everything)
    with_fewer = stack(by_stage, bill, fewer)

    assert with_all.out_of_pocket <= with_fewer.out_of_pocket
    assert Decimal(0) <= with_all.out_of_pocket <= with_all.total


# --- the cost objective of matching ---------------------------------------------------------


def test_a_free_service_the_person_is_eligible_for_costs_nothing():
    older = {"age": 70, "hukou": "local", "insurance": "resident", "household_status": "general"}

    # P-ELDER-CHECKUP (free, 65+, local) lists elderly_checkup
    assert service_cost(LIBRARY, "elderly_checkup", 200, older) == Decimal("0.00")
    # a 45-year-old migrant without a residence permit is not covered by P-PHS-PERMIT either:
    # the price, 200, is under the 600 deductible and nothing else applies
    younger = {**older, "age": 45, "hukou": "migrant", "has_residence_permit": False}
    assert service_cost(LIBRARY, "elderly_checkup", 200, younger) == Decimal("200.00")


def test_a_priced_service_goes_through_the_persons_benefits():
    poor = {
        "age": 50,
        "hukou": "local",
        "insurance": "resident",
        "household_status": "min_allowance",
    }
    general = {**poor, "household_status": "general"}

    # 45 under the deductible; minimum allowance assistance pays 70 % → 13.50
    assert service_cost(LIBRARY, "general_outpatient", 45, poor) == Decimal("13.50")
    assert service_cost(LIBRARY, "general_outpatient", 45, general) == Decimal("45.00")

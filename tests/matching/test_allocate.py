"""Exact allocation under capacity, checked against formulations that share none of its code.

References: a brute force over every assignment (tiny instances), scipy's
``linear_sum_assignment`` on capacity-expanded slots with a big-M "unassigned" column per demand,
and scipy's HiGHS on the transportation LP (totally unimodular, so its LP optimum is the integer
optimum). Distances in the references come from scikit-learn's ``haversine_distances``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment, linprog
from scipy.sparse import coo_matrix, vstack
from sklearn.metrics.pairwise import haversine_distances

from carematch.matching.allocate import (
    EARTH_RADIUS_KM,
    UNITS_PER_KM,
    Allocation,
    Assignment,
    Demands,
    Providers,
    allocate,
    allocate_cohort,
    allocate_greedy_nearest,
    candidate_pairs,
)
from carematch.matching.errors import AllocationInputRejected

SERVICES = ("vaccination_child", "tb_screening")


@dataclass(frozen=True)
class Case:
    """An allocation instance as plain lists, as a test would write it down."""

    d_service: list[str]
    d_lat: list[float]
    d_lon: list[float]
    p_service: list[str]
    p_lat: list[float]
    p_lon: list[float]
    capacity: list[int]
    wait: list[float]
    max_km: float = 10.0
    wait_weight: float = 0.5

    def tables(self) -> tuple[Demands, Providers]:
        demands = Demands.from_columns(
            [f"d{i}" for i in range(len(self.d_lat))], self.d_service, self.d_lat, self.d_lon
        )
        providers = Providers.from_columns(
            [f"p{j}" for j in range(len(self.p_lat))],
            self.p_service,
            self.p_lat,
            self.p_lon,
            self.capacity,
            self.wait,
        )
        return demands, providers

    def solve(self, **kwargs) -> Allocation:
        demands, providers = self.tables()
        return allocate(
            demands, providers, max_km=self.max_km, wait_weight=self.wait_weight, **kwargs
        )


def reference(case: Case) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distance km, allowed pair, pair cost) as full matrices: fine for test-sized instances."""
    nd, np_ = len(case.d_lat), len(case.p_lat)
    if nd == 0 or np_ == 0:
        empty = np.zeros((nd, np_))
        return empty, empty.astype(bool), empty
    d = np.radians(np.c_[case.d_lat, case.d_lon])
    p = np.radians(np.c_[case.p_lat, case.p_lon])
    km = haversine_distances(d, p) * EARTH_RADIUS_KM
    allowed = (
        (np.array(case.d_service)[:, None] == np.array(case.p_service)[None, :])
        & (km <= case.max_km)
        & (np.array(case.capacity)[None, :] > 0)
    )
    cost = km + case.wait_weight * np.array(case.wait, dtype=float)[None, :]
    return km, allowed, cost


def brute_force(case: Case) -> tuple[int, float]:
    """The (most assigned, least cost) pair by trying every assignment."""
    _, allowed, cost = reference(case)
    left = list(case.capacity)
    best = (0, 0.0)
    choices = [[None, *np.flatnonzero(row)] for row in allowed]
    for combo in itertools.product(*choices):
        used = [j for j in combo if j is not None]
        if any(used.count(j) > left[j] for j in set(used)):
            continue
        total = sum(cost[i, j] for i, j in enumerate(combo) if j is not None)
        if len(used) > best[0] or (len(used) == best[0] and total < best[1]):
            best = (len(used), total)
    return best


def slot_assignment(case: Case) -> tuple[int, float]:
    """Optimum by linear_sum_assignment on capacity-expanded slots plus a big-M dummy each."""
    nd = len(case.d_lat)
    if nd == 0:
        return 0, 0.0
    _, allowed, cost = reference(case)
    slots = np.repeat(
        np.arange(len(case.p_lat)), np.minimum(np.array(case.capacity, dtype=int), nd)
    )
    real = np.where(allowed[:, slots], cost[:, slots], np.inf)
    # Leaving a demand out must cost more than any whole assignment can: count comes first.
    big = nd * (float(cost[allowed].max(initial=0.0)) + 1.0) + 1.0
    dummy = np.where(np.eye(nd, dtype=bool), big, np.inf)
    rows, cols = linear_sum_assignment(np.hstack([real, dummy]))
    taken = cols < len(slots)
    return int(taken.sum()), float(real[rows[taken], cols[taken]].sum())


def transportation_lp(case: Case) -> tuple[int, float]:
    """Optimum of the transportation LP in two stages (max count, then min cost at that count)."""
    _, allowed, cost = reference(case)
    i, j = np.nonzero(allowed)
    n = len(i)
    if n == 0:
        return 0, 0.0
    per_demand = coo_matrix((np.ones(n), (i, np.arange(n))), shape=(len(case.d_lat), n))
    per_provider = coo_matrix((np.ones(n), (j, np.arange(n))), shape=(len(case.p_lat), n))
    a_ub = vstack([per_demand, per_provider]).tocsr()
    b_ub = np.r_[np.ones(len(case.d_lat)), case.capacity]
    most = linprog(-np.ones(n), A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs")
    count = round(-most.fun)
    least = linprog(
        cost[i, j],
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=np.ones((1, n)),
        b_eq=[count],
        bounds=(0, 1),
        method="highs",
    )
    assert most.status == 0 and least.status == 0
    return count, float(least.fun)


def assert_valid(case: Case, result: Allocation) -> None:
    """Capacity, service, reach, the distances written out, and the reported cost all hold."""
    km, allowed, cost = reference(case)
    demands, _ = case.tables()
    assert list(result.demands.ids) == list(demands.ids)
    load = np.bincount(result.provider_row[result.provider_row >= 0], minlength=len(case.p_lat))
    assert (load <= np.array(case.capacity, dtype=int)).all()
    total = 0.0
    for i, j in enumerate(result.provider_row):
        if j < 0:
            assert np.isnan(result.distance_km[i])
            continue
        assert case.d_service[i] == case.p_service[j]
        assert allowed[i, j], f"demand {i} sent to provider {j} at {km[i, j]} km"
        assert result.distance_km[i] == pytest.approx(km[i, j], abs=1e-9)
        total += cost[i, j]
    assert result.cost == pytest.approx(total, abs=1e-9)


GRID = 0.004  # degrees: about 445 m north-south, so points are apart unless equal


@st.composite
def cases(draw, max_demands: int, max_providers: int, continuous: bool = False) -> Case:
    """Instances in a box of about 10 × 10 km around Guangzhou, two services, tight capacity."""
    nd = draw(st.integers(0, max_demands))
    np_ = draw(st.integers(0, max_providers))

    def coords(n: int, base: float) -> list[float]:
        if continuous:
            return draw(st.lists(st.floats(base, base + 0.09), min_size=n, max_size=n))
        steps = st.lists(st.integers(0, 22), min_size=n, max_size=n)
        return [base + GRID * k for k in draw(steps)]

    service = st.sampled_from(SERVICES)
    return Case(
        d_service=draw(st.lists(service, min_size=nd, max_size=nd)),
        d_lat=coords(nd, 23.10),
        d_lon=coords(nd, 113.25),
        p_service=draw(st.lists(service, min_size=np_, max_size=np_)),
        p_lat=coords(np_, 23.10),
        p_lon=coords(np_, 113.25),
        capacity=draw(st.lists(st.integers(0, 3), min_size=np_, max_size=np_)),
        wait=draw(st.lists(st.integers(0, 14).map(float), min_size=np_, max_size=np_)),
        max_km=draw(st.sampled_from([2.0, 5.0, 10.0])),
        wait_weight=draw(st.sampled_from([0.0, 0.5, 1.7])),
    )


FAST = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(cases(max_demands=6, max_providers=3))
def test_tiny_instances_match_brute_force(case):
    # Given every possible assignment of a tiny instance tried by hand
    count, best = brute_force(case)
    # When the engine allocates
    result = case.solve()
    # Then it serves as many demands and costs the same, up to the proven rounding bound
    assert_valid(case, result)
    assert result.assigned == count
    assert best - 1e-9 <= result.cost <= best + result.cost_error_bound_km + 1e-9


@FAST
@given(cases(max_demands=25, max_providers=6, continuous=True))
def test_matches_capacity_expanded_assignment_within_a_tenth_of_a_percent(case):
    count, best = slot_assignment(case)
    result = case.solve()
    assert_valid(case, result)
    assert result.assigned == count
    # Rounding to millimetres costs at most one millimetre per assigned demand …
    assert result.cost <= best + count / UNITS_PER_KM + 1e-9
    assert result.cost >= best - 1e-9
    # … which is within 0.1 % as soon as the optimum averages a metre per demand.
    if best >= 0.001 * count:
        assert result.cost <= best * 1.001


@settings(deadline=None, max_examples=60)
@given(cases(max_demands=12, max_providers=4, continuous=True))
def test_the_rounding_bound_holds_even_at_one_unit_per_km(case):
    # A deliberately coarse scale: the bound (k / units) is now a whole km per demand.
    count, best = slot_assignment(case)
    result = case.solve(units_per_km=1)
    assert_valid(case, result)
    assert result.units_per_km == 1
    assert result.assigned == count
    assert best - 1e-9 <= result.cost <= best + count + 1e-9


@settings(deadline=None, max_examples=60)
@given(cases(max_demands=15, max_providers=5, continuous=True))
def test_candidates_are_exactly_the_allowed_pairs(case):
    _, allowed, _ = reference(case)
    demands, providers = case.tables()
    pairs = candidate_pairs(demands, providers, case.max_km)
    assert sorted(zip(pairs.demand.tolist(), pairs.provider.tolist(), strict=True)) == sorted(
        zip(*(a.tolist() for a in np.nonzero(allowed)), strict=True)
    )


@settings(deadline=None, max_examples=60)
@given(cases(max_demands=15, max_providers=5, continuous=True), st.randoms())
def test_demand_order_does_not_change_the_optimum(case, rnd):
    order = list(range(len(case.d_lat)))
    rnd.shuffle(order)
    shuffled = replace(
        case,
        d_service=[case.d_service[i] for i in order],
        d_lat=[case.d_lat[i] for i in order],
        d_lon=[case.d_lon[i] for i in order],
    )
    a, b = case.solve(), shuffled.solve()
    assert a.assigned == b.assigned
    assert a.cost == pytest.approx(b.cost, abs=a.cost_error_bound_km + b.cost_error_bound_km)


@settings(deadline=None, max_examples=60)
@given(cases(max_demands=15, max_providers=5, continuous=True))
def test_greedy_baseline_is_feasible_and_never_beats_the_optimum(case):
    demands, providers = case.tables()
    greedy = allocate_greedy_nearest(
        demands, providers, max_km=case.max_km, wait_weight=case.wait_weight
    )
    best = case.solve()
    assert_valid(case, greedy)
    assert greedy.assigned <= best.assigned
    if greedy.assigned == best.assigned:
        assert best.cost <= greedy.cost + best.cost_error_bound_km + 1e-9


def city_case(seed: int, demands: int, providers: int) -> Case:
    """A district of about 20 × 20 km: clustered demand, three services, capacity below demand."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([23.05, 113.20], [23.23, 113.40], size=(8, 2))
    where = centres[rng.integers(0, 8, demands)] + rng.normal(0, 0.02, size=(demands, 2))
    services = ["vaccination_child", "tb_screening", "prenatal_check"]
    capacity = rng.integers(0, 2 * demands // providers, providers)
    return Case(
        d_service=[services[k] for k in rng.integers(0, 3, demands)],
        d_lat=where[:, 0].tolist(),
        d_lon=where[:, 1].tolist(),
        p_service=[services[k] for k in rng.integers(0, 3, providers)],
        p_lat=rng.uniform(23.05, 23.23, providers).tolist(),
        p_lon=rng.uniform(113.20, 113.40, providers).tolist(),
        capacity=capacity.tolist(),
        wait=rng.uniform(0, 21, providers).round(1).tolist(),
        max_km=6.0,
        wait_weight=0.5,
    )


def test_a_district_sized_instance_matches_the_transportation_lp():
    # Given 3,000 demands and 90 providers where capacity binds and reach is limited
    case = city_case(seed=4, demands=3000, providers=90)
    count, best = transportation_lp(case)
    assert count < min(len(case.d_lat), sum(case.capacity))  # neither side alone decides
    # When the engine allocates
    result = case.solve()
    # Then the count is the LP's and the cost within 0.1 % (and within the rounding bound)
    assert_valid(case, result)
    assert result.assigned == count
    assert result.cost <= best * 1.001
    assert best - 1e-6 <= result.cost <= best + result.cost_error_bound_km + 1e-6
    # And the greedy baseline, which a person could do by hand, serves fewer
    demands, providers = case.tables()
    greedy = allocate_greedy_nearest(demands, providers, max_km=6.0, wait_weight=0.5)
    assert greedy.assigned < count


def test_serving_more_demands_comes_before_a_lower_cost():
    # Ann is 0.1 km from the small clinic and 8 km from the hospital; Bo reaches only the clinic.
    case = Case(
        d_service=["vaccination_child"] * 2,
        d_lat=[23.1000, 23.0900],
        d_lon=[113.3000, 113.3000],
        p_service=["vaccination_child"] * 2,
        p_lat=[23.1009, 23.1720],
        p_lon=[113.3000, 113.3000],
        capacity=[1, 1],
        wait=[0.0, 0.0],
        max_km=9.0,
    )
    km, allowed, _ = reference(case)
    assert allowed.tolist() == [[True, True], [True, False]]
    result = case.solve()
    # Cheapest alone would give Ann the clinic and leave Bo out; two served beats one.
    assert result.provider_row.tolist() == [1, 0]
    assert result.distance_km == pytest.approx([km[0, 1], km[1, 0]])


def test_wait_weight_trades_distance_against_wait():
    # A clinic 1 km away with a 10-day wait, another 3 km away with none.
    near = 1.0 / 111.195  # degrees of latitude per km on this sphere
    base = Case(
        d_service=["tb_screening"],
        d_lat=[23.0],
        d_lon=[113.0],
        p_service=["tb_screening"] * 2,
        p_lat=[23.0 + near, 23.0 - 3 * near],
        p_lon=[113.0, 113.0],
        capacity=[5, 5],
        wait=[10.0, 0.0],
    )
    assert base.solve().provider_row.tolist() == [1]  # 1 + 0.5 × 10 = 6 > 3
    assert replace(base, wait_weight=0.0).solve().provider_row.tolist() == [0]
    assert replace(base, max_km=2.0).solve().provider_row.tolist() == [0]
    assert replace(base, max_km=0.5).solve().provider_row.tolist() == [-1]


def test_a_provider_offering_two_services_has_a_capacity_for_each():
    demands = Demands.from_columns(
        ["a", "b"], ["vaccination_child", "tb_screening"], [23, 23], [113, 113]
    )
    providers = Providers.from_columns(
        ["clinic", "clinic"],
        ["vaccination_child", "tb_screening"],
        [23.001, 23.001],
        [113, 113],
        [1, 1],
        [0, 0],
    )
    result = allocate(demands, providers)
    assert result.provider_ids().tolist() == ["clinic", "clinic"]
    assert result.load().tolist() == [1, 1]


def test_capacity_zero_and_services_nobody_offers_leave_demands_unassigned():
    demands = Demands.from_columns(
        ["a", "b"], ["hiv_testing", "tb_screening"], [23, 23], [113, 113]
    )
    providers = Providers.from_columns(["x"], ["tb_screening"], [23], [113], [0], [0])
    result = allocate(demands, providers)
    assert result.provider_row.tolist() == [-1, -1]
    assert result.assigned == 0 and result.cost == 0.0
    assert np.isnan(result.distance_km).all()


def test_empty_inputs_allocate_nothing():
    none = Demands.from_columns([], [], [], [])
    some = Providers.from_columns(["x"], ["tb_screening"], [23], [113], [3], [0])
    assert len(allocate(none, some).provider_row) == 0
    nobody = Providers.from_columns([], [], [], [], [], [])
    one = Demands.from_columns(["a"], ["tb_screening"], [23], [113])
    assert allocate(one, nobody).provider_row.tolist() == [-1]


def test_antipodes_and_huge_waits_stay_exact_without_overflow():
    # Half the globe away, and waits large enough that millimetre units would overflow int64.
    case = Case(
        d_service=["remote_consultation"] * 3,
        d_lat=[0.0, 0.0, 0.0],
        d_lon=[0.0, 0.0, 0.0],
        p_service=["remote_consultation"] * 2,
        p_lat=[0.0, 0.0],
        p_lon=[180.0, -179.999],
        capacity=[1, 1],
        wait=[3e13, 1e13],
        max_km=20_100.0,
    )
    result = case.solve()
    assert result.units_per_km < UNITS_PER_KM  # the scale had to drop
    assert result.assigned == brute_force(case)[0] == 2
    km, _, _ = reference(case)
    assert sorted(result.distance_km[result.provider_row >= 0]) == pytest.approx(
        [km[0, 1], np.pi * EARTH_RADIUS_KM]
    )
    assert result.cost == pytest.approx(brute_force(case)[1], rel=1e-12)


def test_same_input_gives_the_same_allocation_even_with_ties():
    # Four identical demands, two identical clinics with room for three: many optima tie.
    case = Case(
        d_service=["vaccination_child"] * 4,
        d_lat=[23.1] * 4,
        d_lon=[113.3] * 4,
        p_service=["vaccination_child"] * 2,
        p_lat=[23.11] * 2,
        p_lon=[113.3] * 2,
        capacity=[2, 1],
        wait=[1.0, 1.0],
    )
    first = case.solve()
    assert first.assigned == 3
    for _ in range(3):
        assert case.solve().provider_row.tolist() == first.provider_row.tolist()


def test_greedy_takes_the_nearest_with_room_in_input_order():
    # The first demand takes the only nearby slot; the second must go far or nowhere.
    demands = Demands.from_columns(["a", "b"], ["tb_screening"] * 2, [23.0, 23.0], [113.0, 113.0])
    providers = Providers.from_columns(
        ["near", "far"], ["tb_screening"] * 2, [23.001, 23.03], [113.0, 113.0], [1, 1], [0, 0]
    )
    greedy = allocate_greedy_nearest(demands, providers)
    assert greedy.provider_ids().tolist() == ["near", "far"]


def test_cohort_rows_in_assignments_out():
    demands = [
        {"demand_id": "child-1", "service": "vaccination_child", "lat": 23.10, "lon": 113.30},
        {"demand_id": "child-2", "service": "vaccination_child", "lat": 23.50, "lon": 113.30},
    ]
    providers = [
        {
            "provider_id": "chc-7",
            "service": "vaccination_child",
            "lat": 23.11,
            "lon": 113.30,
            "capacity": 10,
            "wait_days": 2,
        }
    ]
    out = allocate_cohort(demands, providers, max_km=5)
    km = haversine_distances(np.radians([[23.10, 113.30]]), np.radians([[23.11, 113.30]]))
    assert out[0] == Assignment("child-1", "chc-7", pytest.approx(km[0, 0] * EARTH_RADIUS_KM))
    assert out[1] == Assignment("child-2", None, None)


GOOD_DEMAND = {"demand_id": "a", "service": "tb_screening", "lat": 23.0, "lon": 113.0}
GOOD_PROVIDER = {
    "provider_id": "x",
    "service": "tb_screening",
    "lat": 23.0,
    "lon": 113.0,
    "capacity": 2,
    "wait_days": 1,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lat": 91}, "demands item 2 (demand_id 'b'): lat 91 is outside [-90, 90]"),
        ({"lon": -180.5}, "demands item 2 (demand_id 'b'): lon -180.5 is outside"),
        ({"lat": float("nan")}, "item 2 (demand_id 'b'): lat must be a finite number"),
        ({"lon": "east"}, "lon must be a finite number, got 'east'"),
        ({"demand_id": "a"}, "item 2 (demand_id 'a'): demand_id is already used by demands item 1"),
        ({"demand_id": "  "}, "demands item 2: demand_id is empty"),
        ({"service": None}, "item 2 (demand_id 'b'): service is empty"),
    ],
)
def test_bad_demands_name_the_row(change, message):
    rows = [GOOD_DEMAND, {**GOOD_DEMAND, "demand_id": "b", **change}]
    with pytest.raises(AllocationInputRejected) as caught:
        Demands.from_records(rows)
    assert message in caught.value.detail
    assert caught.value.status == 400
    assert caught.value.problem()["row"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"capacity": -1}, "capacity must be a whole number ≥ 0, got -1"),
        ({"capacity": 2.5}, "capacity must be a whole number ≥ 0, got 2.5"),
        ({"capacity": "many"}, "capacity must be a finite number, got 'many'"),
        ({"wait_days": -3}, "wait_days must be ≥ 0, got -3"),
        ({"wait_days": float("inf")}, "wait_days must be a finite number"),
        ({"provider_id": "x"}, "listed twice for the same service (also providers item 1)"),
    ],
)
def test_bad_providers_name_the_row(change, message):
    rows = [GOOD_PROVIDER, {**GOOD_PROVIDER, "provider_id": "y", **change}]
    with pytest.raises(AllocationInputRejected) as caught:
        Providers.from_records(rows)
    assert "providers item 2 (provider_id" in caught.value.detail
    assert message in caught.value.detail


def test_missing_keys_and_bad_parameters_are_rejected():
    with pytest.raises(AllocationInputRejected, match="every provider needs capacity"):
        Providers.from_records([{k: v for k, v in GOOD_PROVIDER.items() if k != "capacity"}])
    demands = Demands.from_records([GOOD_DEMAND])
    providers = Providers.from_records([GOOD_PROVIDER])
    for bad in ({"max_km": 0.0}, {"max_km": float("inf")}, {"wait_weight": -0.1}):
        with pytest.raises(AllocationInputRejected):
            allocate(demands, providers, **bad)

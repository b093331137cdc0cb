"""``doses_overdue`` in bulk: the registry's dose text, and agreement with the synthetic city."""

from __future__ import annotations

from datetime import date

import numpy as np

from carematch.synth.dates import AS_OF, AS_OF_D, age_in_years
from carematch.synth.vaccination import generate_histories
from carematch.synth.vaccination import load_schedule as load_generator_schedule
from carematch.vaccination.forecast import (
    GivenDose,
    count_overdue_batch,
    forecast,
    parse_registry_doses,
)
from carematch.vaccination.schedule import default_schedule

SCHEDULE = default_schedule()


def test_registry_text_reads_doses_and_keeps_what_it_cannot_read():
    doses, unreadable = parse_registry_doses(
        "HepB:2021-03-04|BCG: 2021-03-04 |HepB:2021-02-30|garbage||Polio:20210504|Flu:2021-10-01"
    )
    assert doses == [
        GivenDose("HepB", date(2021, 3, 4)),
        GivenDose("BCG", date(2021, 3, 4)),
        GivenDose("Flu", date(2021, 10, 1)),
    ]
    assert unreadable == ["HepB:2021-02-30", "garbage", "Polio:20210504"]
    assert parse_registry_doses(None) == ([], [])


def test_batch_counts_adults_and_unknown_births_as_zero_and_children_by_the_rules():
    as_of = date(2024, 5, 15)
    births = [date(1960, 1, 1), None, date(2021, 5, 15), date(2024, 5, 15), date(2024, 5, 1)]
    doses = ["", "HepB:2020-01-01", None, "HepB:2024-05-15", "HepB:2024-05-01|BCG:2024-05-01"]
    # 2021-05-15 with nothing at 3 years: 7 overdue series (see the hand-worked catch-up case);
    # a newborn on its birth day: nothing overdue yet; a fortnight-old with both birth doses: 0.
    assert count_overdue_batch(SCHEDULE, as_of, births, doses) == [0, 0, 7, 0, 0]


def test_batch_agrees_with_the_synthetic_citys_truth():
    # The city generator implements the same header independently (vectorised, in numpy) and
    # records each child's true doses_overdue; the engine must count the same from the text.
    rng = np.random.default_rng(2024)
    n = 3000
    birth = AS_OF_D - rng.integers(0, 15 * 365, n)
    migrant = rng.random(n) < 0.3
    schedule = load_generator_schedule()
    truth = generate_histories(rng, schedule, birth, migrant, age_in_years(birth))
    pieces: list[list[str]] = [[] for _ in range(n)]
    for child, series, day in zip(truth.child, truth.series, truth.date, strict=True):
        pieces[child].append(f"{schedule.codes[series]}:{day}")
    texts = ["|".join(p) for p in pieces]
    births = [date.fromisoformat(str(b)) for b in birth]

    counts = count_overdue_batch(SCHEDULE, AS_OF, births, texts)

    assert counts == truth.doses_overdue.tolist()
    assert sum(c > 0 for c in counts) > 100, "the sample must contain overdue children"
    # and every generated dose is valid under the engine's rules
    for i in range(0, n, 10):
        history, _ = parse_registry_doses(texts[i])
        assert forecast(SCHEDULE, births[i], AS_OF, history).invalid == ()

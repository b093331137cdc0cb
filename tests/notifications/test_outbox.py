"""Retry back-off: exponential, capped, jittered, never shorter than half the step."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from carematch.notifications.outbox import RetryPolicy, retry_delay


def test_each_wait_lies_between_half_and_the_whole_exponential_step():
    rng = random.Random(5)
    for attempt in range(1, 12):
        step = min(600.0, 10.0 * 2 ** (attempt - 1))
        waits = [retry_delay(attempt, base=10, cap=600, rng=rng) for _ in range(200)]
        assert min(waits) >= step / 2
        assert max(waits) <= step


def test_waits_grow_until_the_cap():
    rng = random.Random(7)
    means = [
        statistics.mean(retry_delay(a, base=10, cap=600, rng=rng) for _ in range(300))
        for a in range(1, 9)
    ]
    assert all(later > earlier for earlier, later in itertools.pairwise(means[:7]))
    assert means[7] == pytest.approx(450, rel=0.1)  # the cap's 3/4 on average


def test_jitter_spreads_a_batch_that_failed_together():
    rng = random.Random(11)
    waits = {round(retry_delay(3, base=30, cap=3600, rng=rng), 3) for _ in range(50)}
    assert len(waits) > 40


def test_a_huge_attempt_number_neither_overflows_nor_passes_the_cap():
    assert retry_delay(5000, base=30, cap=3600, rng=random.Random(1)) <= 3600


def test_policy_gives_up_at_the_limit_and_rejects_nonsense():
    policy = RetryPolicy(max_attempts=3)
    assert [policy.gives_up_after(a) for a in (1, 2, 3)] == [False, False, True]
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        retry_delay(0, base=1, cap=1)

"""Retry backoff (sqlfleet.retries)."""

from __future__ import annotations

import pytest

from sqlfleet.errors import ValidationFailed
from sqlfleet.retries import retry_delay, total_retry_time


def test_defaults_match_elastic_jobs():
    delays = [retry_delay(n) for n in range(1, 11)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]
    assert total_retry_time() == 487


@pytest.mark.parametrize(
    ("attempt", "initial", "multiplier", "maximum", "expected"),
    [
        (1, 5, 3.0, 1000, 5),
        (2, 5, 3.0, 1000, 15),
        (3, 5, 3.0, 1000, 45),
        (5, 5, 3.0, 1000, 405),
        (6, 5, 3.0, 1000, 1000),
        (4, 10, 1.0, 120, 10),  # multiplier 1: constant delay
        (3, 1, 1.5, 120, 2.25),  # real multipliers
        (1, 0, 2.0, 120, 0),  # immediate retries
        (1, 300, 2.0, 120, 120),  # the cap applies from the first retry
        (3, 1, 2.0, 0, 0),
        (10_000, 1, 2.0, 120, 120),  # a float overflow still gives the cap
        (10**9, 1, 2, 120, 120),  # an int multiplier must not build a giant int
    ],
)
def test_retry_delay_table(attempt, initial, multiplier, maximum, expected):
    assert retry_delay(attempt, initial, multiplier, maximum) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0,), "attempt_number"),
        ((1, -1, 2.0, 120), "initial_retry_interval_seconds"),
        ((1, 1, 0.5, 120), "retry_interval_backoff_multiplier"),
        ((1, 1, 2.0, -5), "maximum_retry_interval_seconds"),
    ],
)
def test_invalid_arguments_name_the_field(args, field):
    with pytest.raises(ValidationFailed) as caught:
        retry_delay(*args)
    assert caught.value.field == field


def test_total_retry_time_without_retries():
    assert total_retry_time(0) == 0
    assert total_retry_time(3, 2, 2.0, 100) == 2 + 4 + 8

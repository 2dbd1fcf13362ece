"""Retry backoff of a target execution (Elastic Jobs' exponential policy, as a pure function)."""

from __future__ import annotations

from sqlfleet.errors import ValidationFailed
from sqlfleet.models.jobs import (
    DEFAULT_INITIAL_RETRY_INTERVAL_SECONDS,
    DEFAULT_MAXIMUM_RETRY_INTERVAL_SECONDS,
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_RETRY_INTERVAL_BACKOFF_MULTIPLIER,
)


def retry_delay(
    attempt_number: int,
    initial: float = DEFAULT_INITIAL_RETRY_INTERVAL_SECONDS,
    multiplier: float = DEFAULT_RETRY_INTERVAL_BACKOFF_MULTIPLIER,
    maximum: float = DEFAULT_MAXIMUM_RETRY_INTERVAL_SECONDS,
) -> float:
    """Seconds to wait before retry ``attempt_number`` (1 = the first retry).

    ``min(initial × multiplier^(n−1), maximum)``: with the defaults 1, 2, 4, …, 64, 120, 120, ….
    Raises ``ValidationFailed`` for n < 1, negative intervals or a multiplier below 1.
    """
    if attempt_number < 1:
        raise ValidationFailed("attempt_number", f"must be at least 1, got {attempt_number}")
    if initial < 0:
        raise ValidationFailed("initial_retry_interval_seconds", f"must be ≥ 0, got {initial}")
    if maximum < 0:
        raise ValidationFailed("maximum_retry_interval_seconds", f"must be ≥ 0, got {maximum}")
    if multiplier < 1:
        raise ValidationFailed(
            "retry_interval_backoff_multiplier", f"must be ≥ 1, got {multiplier}"
        )
    try:
        grown = float(initial) * float(multiplier) ** (attempt_number - 1)
    except OverflowError:
        # Huge attempt numbers overflow a float long after the cap has taken over.
        return float(maximum)
    return float(min(grown, maximum))


def total_retry_time(
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS,
    initial: float = DEFAULT_INITIAL_RETRY_INTERVAL_SECONDS,
    multiplier: float = DEFAULT_RETRY_INTERVAL_BACKOFF_MULTIPLIER,
    maximum: float = DEFAULT_MAXIMUM_RETRY_INTERVAL_SECONDS,
) -> float:
    """Seconds spent waiting between attempts when every one of ``retry_attempts`` retries runs."""
    return sum(retry_delay(n, initial, multiplier, maximum) for n in range(1, retry_attempts + 1))

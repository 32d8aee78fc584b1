"""When to try a failed delivery again: a pure function of the attempt number."""

from __future__ import annotations

import random


def next_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before the next attempt.

    Exponential backoff with "equal jitter": half of ``min(cap, base * 2**(attempt-1))``
    for sure, the other half at random, so retries spread out but never come back at
    once. A vendor's ``Retry-After`` is a floor: we never come back earlier than asked.

    :param attempt: the number of attempts made so far (1 after the first failure).
    :param base: the first delay, in seconds.
    :param cap: the largest delay before jitter, in seconds.
    :param retry_after: the vendor's ``Retry-After`` in seconds, if it sent one.
    """
    rng = rng or random
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay

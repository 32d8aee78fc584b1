"""Retry timing: exponential with jitter, Retry-After as a floor, and header parsing."""

from __future__ import annotations

import datetime as dt
import email.utils
import random

import pytest

from connector.delivery.backoff import next_delay
from connector.plugins.webhooks import retry_after as parse_retry_after


@pytest.mark.parametrize("attempt, low, high", [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (10, 30.0, 60.0)])
def test_exponential_with_equal_jitter(attempt, low, high):
    rng = random.Random(7)
    delays = [next_delay(attempt, base=1.0, cap=60.0, rng=rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not constant


def test_retry_after_is_a_floor():
    assert next_delay(1, base=1.0, cap=60.0, retry_after=30.0, rng=random.Random(1)) == 30.0
    assert next_delay(8, base=1.0, cap=600.0, retry_after=0.5, rng=random.Random(1)) >= 64


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    date = email.utils.format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(date, now=now) == 90.0

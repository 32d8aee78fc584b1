"""Posts to one channel keep Slack's pace (a short burst, then about one a second), and a new
thread's parent post goes ahead of the transcript and mirror posts queued in its channel."""

from __future__ import annotations

import heapq
import itertools

import pytest

from connector.plugins import Defer
from handover_slack.client import ChannelPacer


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def deferred(pacer: ChannelPacer, channel: str, key: str, **options) -> float | None:
    """Seconds the post was deferred by, or None when it may go now."""
    try:
        pacer.admit(channel, key, **options)
    except Defer as exc:
        return round(exc.seconds, 3)
    return None


def test_a_burst_goes_at_once_then_posts_wait_their_turn_per_channel():
    clock = Clock()
    pacer = ChannelPacer(per_second=1.0, burst=3, clock=clock)
    assert [deferred(pacer, "C1", f"d{n}") for n in range(2)] == [None, None]  # the burst (one token kept)
    assert deferred(pacer, "C1", "d2") == 1.0  # then one a second: its slot is in 1 s
    assert deferred(pacer, "C1", "d3") == 2.0
    assert deferred(pacer, "C2", "e0") is None  # another channel has its own budget
    clock.now += 0.5
    assert deferred(pacer, "C1", "d2") == 0.5  # back early: still its slot, not a new one
    clock.now += 0.5
    assert deferred(pacer, "C1", "d2") is None  # its turn
    assert deferred(pacer, "C1", "d3") == 1.0
    clock.now += 30
    assert [deferred(pacer, "C1", f"f{n}") for n in range(2)] == [None, None]  # refilled while idle


def test_a_new_threads_parent_post_goes_ahead_of_the_channels_queue():
    clock = Clock()
    pacer = ChannelPacer(per_second=1.0, burst=3, clock=clock)
    waits = [deferred(pacer, "C1", f"transcript{n}") for n in range(20)]  # a busy channel
    assert waits[:2] == [None, None] and waits[-1] == 18.0
    assert deferred(pacer, "C1", "parent", opening=True) is None  # not behind the 18 s of queue
    # ... and the queue's new slots move back by the post it made
    assert deferred(pacer, "C1", "mirror") == 20.0


def test_two_parents_at_once_take_the_remaining_burst_then_one_interval():
    clock = Clock()
    pacer = ChannelPacer(per_second=1.0, burst=3, clock=clock)
    for n in range(5):
        deferred(pacer, "C1", f"mirror{n}")
    assert deferred(pacer, "C1", "parent1", opening=True) is None
    assert deferred(pacer, "C1", "parent2", opening=True) == 1.0  # the bucket is the limit for everyone


def test_a_message_in_parts_takes_its_parts_turns_at_once():
    clock = Clock()
    pacer = ChannelPacer(per_second=1.0, burst=3, clock=clock)
    assert deferred(pacer, "C1", "long", posts=2) is None
    assert deferred(pacer, "C1", "next") == 1.0


@pytest.mark.parametrize("seed", range(3))
def test_a_busy_channel_never_exceeds_the_bucket_and_parents_wait_at_most_an_interval(seed):
    """A simulated outbox: 3 mirror posts a second and a handover every 1.5 s, all to one channel.

    Deferred deliveries come back when they were told to (plus the worker's poll delay).
    Slack's budget is a bucket of 3 refilled at 1/s: in any window of w seconds at most
    3 + w posts go out. Every parent post goes out within one interval of its handover.
    """
    import random

    rng = random.Random(seed)
    clock = Clock(0.0)
    pacer = ChannelPacer(per_second=1.0, burst=3, clock=clock)
    queue: list[tuple[float, int, str, bool]] = []
    order = itertools.count()
    arrived: dict[str, float] = {}
    for n in range(180):
        heapq.heappush(queue, (n / 3, next(order), f"mirror{n}", False))
    for n in range(40):
        heapq.heappush(queue, (n * 1.5 + 0.1, next(order), f"parent{n}", True))
    posts: list[float] = []
    parent_waits: list[float] = []
    while queue:
        at, _, key, opening = heapq.heappop(queue)
        clock.now = at
        arrived.setdefault(key, at)
        try:
            pacer.admit("C1", key, opening=opening)
        except Defer as exc:
            heapq.heappush(queue, (at + exc.seconds + rng.uniform(0, 0.2), next(order), key, opening))
            continue
        posts.append(at)
        if opening:
            parent_waits.append(at - arrived[key])
    assert len(posts) == 220  # nothing lost
    for i, start in enumerate(posts):
        for end in posts[i:]:
            in_window = sum(1 for p in posts if start <= p <= end)
            assert in_window <= 3 + (end - start) + 1e-6, (start, end, in_window)
    assert max(parent_waits) <= 1.0 + 0.2 + 1e-6
    assert sorted(parent_waits)[len(parent_waits) // 2] <= 0.3


def test_pacing_can_be_switched_off():
    pacer = ChannelPacer(per_second=0)
    for n in range(100):
        pacer.admit("C1", f"d{n}")

"""Posts to one channel keep Slack's pace: a short burst, then about one a second."""

from __future__ import annotations

from handover_slack import client as slack_client
from handover_slack.client import ChannelPacer


def test_a_burst_goes_at_once_then_posts_wait_their_turn_per_channel(monkeypatch):
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    monkeypatch.setattr(slack_client.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(slack_client.time, "sleep", sleep)
    pacer = ChannelPacer(per_second=1.0, burst=3)
    for _ in range(3):
        pacer.wait("C1")
    assert slept == []  # the burst
    pacer.wait("C1")
    pacer.wait("C1")
    assert slept == [1.0, 1.0]  # then one a second
    pacer.wait("C2")
    assert slept == [1.0, 1.0]  # another channel has its own budget
    now[0] += 10
    pacer.wait("C1")
    assert slept == [1.0, 1.0]  # the bucket refilled while idle


def test_pacing_can_be_switched_off(monkeypatch):
    def sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds}s with pacing off")

    monkeypatch.setattr(slack_client.time, "sleep", sleep)
    pacer = ChannelPacer(per_second=0)
    for _ in range(100):
        pacer.wait("C1")

"""Limiters: count and time limits, their resets, and how trackers use them."""

import copy
from datetime import timedelta

import pytest
from zope.interface.verify import verifyObject

from cybertools_tracking.goals import TrackingManager
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.events import EVENT_TRACKER_LIMITED
from cybertools_tracking.goals.events import EVENT_TRACKER_RESET
from cybertools_tracking.goals.events import EVENT_TRACKER_STAGE_COMPLETED
from cybertools_tracking.goals.interfaces import ILimiter
from cybertools_tracking.goals.limiters import CountLimiter
from cybertools_tracking.goals.limiters import TimeLimiter
from cybertools_tracking.goals.trackers import CountTracker
from cybertools_tracking.goals.trackers import ResetPolicy

HIT = {"hit": 1}
MISS = {"other": 1}


def tracked(*limiters, target=10, **kw):
    return CountTracker("t", [KeyExists("hit")], target,
                        limiters=list(limiters), **kw)


def codes(result):
    return [e.code for e in result[1]]


def test_verify_object():
    assert verifyObject(ILimiter, CountLimiter(1))
    assert verifyObject(ILimiter, TimeLimiter(0, 10))


# -- CountLimiter -------------------------------------------------------------

@pytest.mark.parametrize("count,error,message", [
    (0, ValueError, "count must be a positive int, got 0"),
    (-1, ValueError, "got -1"),
    (1.5, TypeError, r"count must be an int, got 1.5 \(float\)"),
    (True, TypeError, "count must be an int, got True"),
])
def test_count_limiter_arguments(count, error, message):
    with pytest.raises(error, match=message):
        CountLimiter(count)


def test_count_limiter_counts_matching_items_only():
    limiter = CountLimiter(2)
    tracker = tracked(limiter)
    assert tracker.track(HIT) == (True, ())
    assert tracker.track(MISS) == (False, ())
    assert limiter.remaining == 1
    result = tracker.track(HIT)  # the last allowed item limits at once
    assert codes(result) == [EVENT_TRACKER_LIMITED]
    assert tracker.limited and tracker.progress == 2
    assert tracker.track(HIT) == (False, ())  # still limited, no new event
    assert tracker.progress == 2


def test_a_completing_evaluation_is_never_limited():
    tracker = tracked(CountLimiter(2), target=2)
    tracker.track(HIT)
    tracker.track(HIT)
    assert tracker.completed


def test_stage_completion_with_limiter_reset_renews_the_count():
    limiter = CountLimiter(2)
    tracker = tracked(limiter, target=[2, 4])
    tracker.track(HIT)
    result = tracker.track(HIT)
    assert codes(result) == [EVENT_TRACKER_RESET,
                             EVENT_TRACKER_STAGE_COMPLETED]
    assert tracker.active and limiter.remaining == 2


def test_stage_completion_without_limiter_reset_limits_before_next_item():
    limiter = CountLimiter(2)
    tracker = tracked(limiter, target=[2, 4], reset_policy=ResetPolicy.NONE)
    tracker.track(HIT)
    result = tracker.track(HIT)
    assert codes(result)[-1] == EVENT_TRACKER_STAGE_COMPLETED
    assert tracker.active and limiter.remaining == 0
    result = tracker.track(MISS)  # refused before the conditions are looked at
    assert codes(result) == [EVENT_TRACKER_LIMITED]
    assert tracker.limited and tracker.progress == 2


def test_count_limiter_reset():
    limiter = CountLimiter(1)
    tracker = tracked(limiter)
    tracker.track(HIT)
    assert tracker.limited
    tracker.reset(reset_count=3)
    assert tracker.active and (limiter.count, limiter.remaining) == (3, 3)
    limiter.reset()
    assert limiter.remaining == 3
    with pytest.raises(ValueError, match="reset_count must be a positive int"):
        limiter.reset(reset_count=0)


def test_count_limiter_repr():
    assert repr(CountLimiter(3)) == "<CountLimiter (count=3 remaining=3)>"


# -- TimeLimiter --------------------------------------------------------------

def test_time_limiter_arguments():
    with pytest.raises(ValueError, match="give either end_ts or interval"):
        TimeLimiter(start_ts=0)
    with pytest.raises(ValueError, match="give either end_ts or interval"):
        TimeLimiter(0, 10, interval=5)
    with pytest.raises(ValueError, match="end_ts must be after start_ts, got "
                                         "start_ts=10 end_ts=5"):
        TimeLimiter(10, 5)
    with pytest.raises(ValueError, match="end_ts must be after start_ts"):
        TimeLimiter(10, 10)
    with pytest.raises(TypeError, match=r"start_ts must be a timestamp .* "
                                        r"got '1' \(str\)"):
        TimeLimiter("1", 5)
    with pytest.raises(ValueError, match="interval must be a positive duration"):
        TimeLimiter(0, interval=timedelta(0))
    with pytest.raises(TypeError, match="interval must be a timedelta"):
        TimeLimiter(0, interval="1h")


def test_time_limiter_window_is_inclusive():
    limiter = TimeLimiter(100, 200)
    assert [limiter.allows(t) for t in (99, 100, 150, 200, 201)] == [
        False, True, True, True, False]


def test_time_limiter_interval_and_default_start():
    limiter = TimeLimiter(interval=timedelta(minutes=1), now_ts=1000)
    assert (limiter.start, limiter.end) == (1000, 1060)
    assert limiter.interval == timedelta(seconds=60)
    assert TimeLimiter(5, interval=10).end == 15


def test_tracker_waiting_for_its_window_becomes_active_when_it_opens():
    tracker = tracked(TimeLimiter(100, 200))
    result = tracker.track(HIT, now_ts=50)
    assert codes(result) == [EVENT_TRACKER_LIMITED] and tracker.limited
    assert tracker.track(HIT, now_ts=60) == (False, ())
    assert tracker.track(HIT, now_ts=100) == (True, ())
    assert tracker.active and tracker.progress == 1


def test_window_opening_is_a_change_even_without_a_match():
    tracker = tracked(TimeLimiter(100, 200))
    tracker.track(MISS, now_ts=50)
    assert tracker.track(MISS, now_ts=100) == (True, ())
    assert tracker.active and tracker.progress == 0


def test_tracker_after_its_window_stays_limited_until_reset():
    limiter = TimeLimiter(100, 200)
    tracker = tracked(limiter)
    tracker.track(HIT, now_ts=150)
    assert codes(tracker.track(HIT, now_ts=201)) == [EVENT_TRACKER_LIMITED]
    assert tracker.track(HIT, now_ts=300) == (False, ())
    tracker.reset(reset_seconds=50, now_ts=1000)
    assert (limiter.start, limiter.end) == (1000, 1050)
    assert tracker.active
    assert tracker.track(HIT, now_ts=1050) == (True, ())
    limiter.reset(now_ts=2000)  # keeps the window's length
    assert (limiter.start, limiter.end) == (2000, 2050)


def test_time_limiter_repr():
    assert repr(TimeLimiter(0, 90)) == (
        "<TimeLimiter (start=0 end=90 interval=0:01:30)>")


# -- several limiters ---------------------------------------------------------

def test_each_refusing_limiter_gets_an_event_with_a_detached_copy():
    count, window = CountLimiter(1), TimeLimiter(0, 10)
    tracker = tracked(count, window)
    tracker.track(HIT, now_ts=5)
    assert tracker.limited
    tracker.reset(now_ts=20, reset_seconds=5)
    count.remaining = 0
    result = tracker.track(HIT, now_ts=30)
    assert codes(result) == [EVENT_TRACKER_LIMITED] * 2
    assert [type(e.limiter) for e in result[1]] == [CountLimiter, TimeLimiter]
    assert result[1][0].limiter is not count
    assert result[1][0].limiter.remaining == 0


def test_resetting_a_tracker_resets_every_limiter():
    count, window = CountLimiter(1), TimeLimiter(0, 10)
    manager = TrackingManager(autocommit=False)
    manager.add_tracker("g", tracked(count, window))
    manager.track("g", HIT, now_ts=5)
    assert manager.reset_tracker("g", "t", now_ts=100, reset_count=4)
    assert count.remaining == 4 and window.start == 100
    tracker = manager.get_trackers("g", "t")[0]
    assert tracker.active


def test_no_limiter_reset_leaves_the_tracker_limited():
    tracker = tracked(CountLimiter(1))
    tracker.track(HIT)
    tracker.reset(ResetPolicy.PROGRESS)
    assert tracker.limited and tracker.progress == 0


def test_limiters_copy_detached():
    limiter = CountLimiter(2)
    clone = copy.copy(limiter)
    clone.remaining = 0
    assert limiter.remaining == 2

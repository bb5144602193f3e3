"""The sliding-window limiter and the questions limiters answer."""

from datetime import timedelta

import pytest
import transaction
import ZODB
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.events import EVENT_TRACKER_LIMITED
from cybertools_tracking.goals.interfaces import ILimiterInfo
from cybertools_tracking.goals.limiters import CountLimiter
from cybertools_tracking.goals.limiters import SlidingWindowLimiter
from cybertools_tracking.goals.limiters import TimeLimiter
from cybertools_tracking.goals.trackers import CountTracker

HIT = {"hit": 1}


def test_verify_object():
    for limiter in (CountLimiter(2), TimeLimiter(0, 10),
                    SlidingWindowLimiter(3, 60)):
        assert verifyObject(ILimiterInfo, limiter)


@pytest.mark.parametrize("args,error,message", [
    ((0, 60), ValueError, "count must be a positive int, got 0"),
    ((3, 0), ValueError, "window must be a positive duration, got 0"),
    ((3, 60, 0), ValueError, "weight must be a positive int, got 0"),
    ((3, 60, 4), ValueError, "weight must be at most count \\(3\\), got 4"),
    ((3, 60, 1.5), TypeError, "weight must be an int, got 1.5"),
])
def test_sliding_arguments(args, error, message):
    with pytest.raises(error, match=message):
        SlidingWindowLimiter(*args)


def test_sliding_window_counts_the_last_window_only():
    limiter = SlidingWindowLimiter(2, timedelta(seconds=60))
    assert limiter.window == 60
    assert limiter.hit(0) and limiter.hit(30)
    assert not limiter.hit(59)
    assert limiter.remaining_at(59) == 0
    assert limiter.resets_at(59) == 60
    assert limiter.peek(60)  # the hit at 0 has left (0, 60]
    assert limiter.remaining_at(60) == 1
    assert limiter.hit(60) and not limiter.peek(61)
    assert limiter.resets_at(61) == 90


def test_peek_changes_nothing():
    limiter = SlidingWindowLimiter(3, 60)
    limiter.hit(0)
    before = limiter.hits
    assert limiter.peek(1, weight=2) and not limiter.peek(1, weight=3)
    assert limiter.hits == before
    with pytest.raises(ValueError, match="weight must be a positive int"):
        limiter.peek(1, weight=-1)


def test_weights():
    limiter = SlidingWindowLimiter(10, 60, weight=4)
    assert limiter.hit(0) and limiter.hit(1)
    assert not limiter.hit(2)  # 8 + 4 > 10
    assert limiter.hit(2, weight=2)
    assert limiter.remaining_at(2) == 0


def test_state_is_bounded_by_the_window():
    limiter = SlidingWindowLimiter(2, 10)
    for t in range(0, 100, 6):
        limiter.hit(t)
    assert all(t > 96 - 10 for t, w in limiter.hits)
    assert len(limiter.hits) <= 2


def test_reset_forgets_and_may_change_count_and_window():
    limiter = SlidingWindowLimiter(1, 60)
    limiter.hit(0)
    limiter.reset(now_ts=1, reset_count=2, reset_seconds=30)
    assert (limiter.count, limiter.window, limiter.hits) == (2, 30, ())
    assert limiter.remaining_at(1) == 2


def test_tracker_limited_and_released_by_a_sliding_window():
    limiter = SlidingWindowLimiter(2, 60)
    tracker = CountTracker("t", [KeyExists("hit")], 10, limiters=[limiter])
    tracker.track(HIT, 0)
    changed, events = tracker.track(HIT, 10)
    assert [e.code for e in events] == [EVENT_TRACKER_LIMITED]
    assert tracker.limited
    assert tracker.track(HIT, 59) == (False, ())
    tracker.track(HIT, 60)  # the item at 0 left the window
    assert tracker.progress == 3


def test_count_limiter_introspection_and_weight():
    limiter = CountLimiter(5, weight=2)
    assert repr(limiter) == "<CountLimiter (count=5 remaining=5 weight=2)>"
    assert repr(CountLimiter(5)) == "<CountLimiter (count=5 remaining=5)>"
    assert limiter.hit(0) and limiter.hit(0)
    assert limiter.remaining_at() == 1 and not limiter.peek()
    assert limiter.peek(weight=1) and limiter.resets_at() is None
    tracker = CountTracker("t", [], 10, limiters=[CountLimiter(4, weight=2)])
    tracker.track({}, 0)
    tracker.track({}, 1)
    assert tracker.limited and tracker.progress == 2


def test_time_limiter_introspection():
    limiter = TimeLimiter(100, 200)
    assert limiter.remaining_at(50) == 0 and limiter.resets_at(50) == 100
    assert limiter.remaining_at(150) is None and limiter.resets_at(150) is None
    assert limiter.peek(150) and not limiter.hit(250)


def test_weight_one_takes_no_room_in_the_record():
    db = ZODB.DB(None)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    conn.root()["l"] = CountLimiter(3)
    tm.commit()
    other = db.open(transaction.TransactionManager())
    loaded = other.root()["l"]
    assert loaded.weight == 1 and "weight" not in loaded.__getstate__()
    other.close()
    conn.close()
    db.close()


@settings(max_examples=300, deadline=None)
@given(hits=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 3)),
                     max_size=30),
       count=st.integers(3, 6), window=st.integers(1, 12))
def test_sliding_window_matches_a_brute_force_log(hits, count, window):
    limiter = SlidingWindowLimiter(count, window)
    log, now = [], 0
    for step, weight in hits:
        now += step
        used = sum(w for t, w in log if now - window < t <= now)
        allowed = used + weight <= count
        assert limiter.remaining_at(now) == count - used
        assert limiter.hit(now, weight) == allowed
        if allowed:
            log.append((now, weight))

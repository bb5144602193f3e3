"""Rolling windows: N matching items in the last D seconds."""

from datetime import timedelta

import pytest
import transaction
import ZODB
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from cybertools_tracking.goals import TrackingManager
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.events import EVENT_TRACKER_STAGE_COMPLETED
from cybertools_tracking.goals.interfaces import IWindowTracker
from cybertools_tracking.goals.trackers import ResetPolicy
from cybertools_tracking.goals.windows import WindowTracker

HIT = {"hit": 1}
MISS = {"other": 1}
DAY = 86400


def window(target=3, seconds=100, **kw):
    return WindowTracker("w", [KeyExists("hit")], target, seconds, **kw)


def codes(result):
    return [e.code for e in result[1]]


def test_verify_object():
    assert verifyObject(IWindowTracker, window())


@pytest.mark.parametrize("args,error,message", [
    ((3, 0), ValueError, "window must be a positive duration, got 0"),
    ((3, -5), ValueError, "got -5"),
    ((3, "1d"), TypeError, "window must be a timedelta or a number"),
    ((2.5, 10), TypeError, "numbers of items \\(int\\), got 2.5"),
])
def test_arguments_are_checked(args, error, message):
    with pytest.raises(error, match=message):
        WindowTracker("w", [], *args)


def test_timedelta_window():
    assert window(seconds=timedelta(days=2)).window == 2 * DAY


def test_counts_items_in_the_window_ending_at_the_item():
    tracker = window(3, 100)
    tracker.track(HIT, 0)
    tracker.track(HIT, 60)
    assert tracker.progress == 2
    tracker.track(HIT, 100)  # 0 is exactly 100 s older: outside
    assert tracker.times == (60, 100) and tracker.progress == 2
    assert tracker.active
    assert codes(tracker.track(HIT, 159)) == [EVENT_TRACKER_ALL_COMPLETED]
    assert tracker.completed and tracker.completed_at == 159


def test_non_matching_items_do_not_move_the_window():
    tracker = window(3, 100)
    tracker.track(HIT, 0)
    assert tracker.track(MISS, 500) == (False, ())
    assert tracker.progress == 1 and tracker.latest == 0
    assert tracker.count_at(50) == 1 and tracker.count_at(100) == 0


def test_late_items_inside_the_window_count():
    tracker = window(3, 100)
    tracker.track(HIT, 200)
    tracker.track(HIT, 150)  # late, but inside (100, 200]
    assert tracker.times == (150, 200) and tracker.latest == 200
    assert tracker.progress == 2
    tracker.track(HIT, 101)
    assert tracker.completed


def test_too_late_items_add_nothing():
    tracker = window(2, 100)
    tracker.track(HIT, 200)
    tracker.track(HIT, 100)  # exactly a window older: too late
    assert tracker.times == (200,) and tracker.progress == 1


def test_state_is_capped_at_the_last_target():
    tracker = window([2, 4], 1000)
    events = []
    for t in range(3):
        events += codes(tracker.track(HIT, t))
    assert events == [1004, EVENT_TRACKER_STAGE_COMPLETED]  # reset, stage
    assert tracker.current_stage == 2 and tracker.progress == 3
    tracker.track(HIT, 3)
    assert tracker.completed and len(tracker.times) == 4


def test_stages_need_the_items_within_one_window():
    tracker = window([2, 3], 10)
    tracker.track(HIT, 0)
    tracker.track(HIT, 5)
    assert tracker.current_stage == 2
    tracker.track(HIT, 20)  # the first two have left the window
    assert tracker.progress == 1 and tracker.active


def test_loop_forever_uses_up_the_items_of_a_lap():
    tracker = window(2, 100, loop_forever=True)
    seen = []
    for t in (0, 1, 2, 3, 4):
        seen.append(codes(tracker.track(HIT, t)))
    # a lap at 1 and at 3; item 2 starts the second lap on its own
    assert seen == [[], [1004, 1002], [], [1004, 1002], []]
    assert tracker.laps == 2 and tracker.target == 2
    assert tracker.times == (4,) and tracker.progress == 1


def test_progress_reset_empties_the_window():
    tracker = window(3, 100)
    tracker.track(HIT, 0)
    tracker.track(HIT, 1)
    tracker.reset(ResetPolicy.PROGRESS, now_ts=2)
    assert tracker.times == () and tracker.progress == 0
    tracker.track(HIT, 3)
    assert tracker.progress == 1


def test_state_commits_and_aborts_with_the_transaction():
    db = ZODB.DB(None)
    tm = transaction.TransactionManager()
    manager = TrackingManager(db, transaction_manager=tm)
    manager.add_tracker("u", window(3, 100))
    manager.track("u", HIT, now_ts=10)
    tm.commit()
    manager.track("u", HIT, now_ts=20)
    tm.abort()
    other = db.open(transaction.TransactionManager())
    tracker = other.root()["cybertools_tracking.goals"].get("u").live["w"]
    assert tracker.times == (10,) and tracker.progress == 1
    other.close()
    manager.close()
    db.close()


def test_manager_round_trip_at_the_items_time():
    manager = TrackingManager()
    manager.add_tracker("u", window(2, DAY))
    manager.track("u", HIT, now_ts=0)
    result = manager.track("u", HIT, now_ts=DAY - 1)
    assert [t.name for t in result.completed] == ["w"]
    manager.close()


# -- against a brute-force model ----------------------------------------------

def model(items, target, seconds):
    """All accepted times; the goal judged on the window at the newest."""
    accepted, latest, counts = [], None, []
    for t in items:
        if latest is not None and t <= latest - seconds:
            counts.append(None)
            continue
        accepted.append(t)
        latest = t if latest is None else max(latest, t)
        count = sum(1 for a in accepted if latest - seconds < a <= latest)
        counts.append(min(count, target))
        if count >= target:
            break
    return counts


@settings(max_examples=300, deadline=None)
@given(items=st.lists(st.integers(0, 60), max_size=30),
       target=st.integers(1, 6), seconds=st.integers(1, 20))
def test_window_matches_the_brute_force_model(items, target, seconds):
    tracker = window(target, seconds)
    expected = model(items, target, seconds)
    previous = 0
    for t, count in zip(items, expected):
        tracker.track(HIT, t)
        if count is None:  # too late: nothing changes
            assert tracker.progress == previous
        else:
            assert tracker.progress == count, (t, tracker.times)
        previous = tracker.progress
    met = bool(expected) and expected[-1] == target
    assert tracker.completed == met


def test_a_ghost_tracks_at_the_items_time():
    # The item's time is kept in a volatile attribute; loading a ghost
    # must not lose it.
    db = ZODB.DB(None)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    conn.root()["w"] = window(2, 100)
    tm.commit()
    tm2 = transaction.TransactionManager()
    other = db.open(tm2)
    tracker = other.root()["w"]
    tracker._p_deactivate()
    assert tracker._p_status == "ghost"
    tracker.track(HIT, 50)
    tracker.track(HIT, 60)
    assert tracker.completed and tracker.times == (50, 60)
    tm2.abort()
    other.close()
    conn.close()
    db.close()

"""Time-driven evaluation: ``manager.tick(now)`` without a new item."""

import pytest
import transaction
import ZODB
from zope.interface.verify import verifyObject

from cybertools_tracking.goals import TrackingManager
from cybertools_tracking.goals.composite import all_of
from cybertools_tracking.goals.composite import rollup
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.events import EVENT_PERIOD_CLOSED
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.events import EVENT_TRACKER_EXPIRED
from cybertools_tracking.goals.events import EVENT_TRACKER_FAILED
from cybertools_tracking.goals.interfaces import IDeadlineLimiter
from cybertools_tracking.goals.interfaces import ITickingManager
from cybertools_tracking.goals.interfaces import ITrackerExpiredEvent
from cybertools_tracking.goals.interfaces import ITrackerFailedEvent
from cybertools_tracking.goals.limiters import DeadlineLimiter
from cybertools_tracking.goals.periods import PeriodTracker
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker

D = 86400
HIT = {"hit": 1}


@pytest.fixture
def setup():
    db = ZODB.DB(None)
    tm = transaction.TransactionManager()
    manager = TrackingManager(db, transaction_manager=tm)
    heard = []
    for code in (EVENT_PERIOD_CLOSED, EVENT_TRACKER_FAILED,
                 EVENT_TRACKER_EXPIRED, EVENT_TRACKER_ALL_COMPLETED):
        manager.add_listener(code, heard.append, when="after_commit")
    yield manager, tm, heard
    manager.close()
    db.close()


def test_verify_object(setup):
    manager, tm, heard = setup
    assert verifyObject(ITickingManager, manager)
    assert verifyObject(IDeadlineLimiter, DeadlineLimiter(10))


def test_tick_with_nothing_registered(setup):
    manager, tm, heard = setup
    assert manager.tick(now_ts=0) == ([], [], [], [])


def test_tick_closes_periods_once(setup):
    manager, tm, heard = setup
    daily = PeriodTracker("daily", [KeyExists("hit")], 1)
    manager.add_tracker("u", daily)
    manager.track("u", HIT, now_ts=5)
    tm.commit()
    assert manager.tick(now_ts=D - 1).changed == []
    result = manager.tick(now_ts=D + 1)
    assert result.closed == [daily] and result.changed == [daily]
    assert manager.tick(now_ts=D + 2).changed == []  # idempotent
    assert heard == []  # not before the commit
    tm.commit()
    assert [(e.code, e.period.key, e.period.met) for e in heard] == [
        (EVENT_PERIOD_CLOSED, "1970-01-01", True)]


def test_tick_fails_a_passed_deadline_and_aborts_cleanly(setup):
    manager, tm, heard = setup
    goal = CountTracker("quiz", [KeyExists("hit")], 3,
                        limiters=[DeadlineLimiter(100)])
    manager.add_tracker("u", goal)
    tm.commit()
    assert manager.tick(now_ts=100).failed == []  # the deadline is included
    result = manager.tick(now_ts=101)
    assert result.failed == [goal] and goal.removed
    assert manager.get_trackers("u") == []
    tm.abort()  # nothing of it stays, nothing is heard
    assert heard == [] and manager.get_trackers("u")[0].active
    manager.tick(now_ts=101)
    tm.commit()
    assert [e.code for e in heard] == [EVENT_TRACKER_FAILED]
    assert verifyObject(ITrackerFailedEvent, heard[0])


def test_a_completed_goal_does_not_fail(setup):
    manager, tm, heard = setup
    goal = CountTracker("quiz", [], 1, limiters=[DeadlineLimiter(100)])
    manager.add_tracker("u", goal)
    manager.track("u", {}, now_ts=50)
    assert manager.tick(now_ts=200).failed == []
    assert goal.completed


def test_tick_expires_with_an_event(setup):
    manager, tm, heard = setup
    manager.add_tracker("u", CountTracker("t", [], 5), expire_at=50,
                        now_ts=0)
    result = manager.tick(now_ts=50)
    assert [t.name for t in result.expired] == ["t"]
    tm.commit()
    assert [e.code for e in heard] == [EVENT_TRACKER_EXPIRED]
    assert verifyObject(ITrackerExpiredEvent, heard[0])
    assert manager.registry.get("u") is None  # the empty group is gone


def test_rollups_over_rollups_settle_in_one_tick(setup):
    manager, tm, heard = setup
    points = {u: AccumulationTracker("points", [], 1000, "points")
              for u in ("ann", "bob", "cy")}
    for user, tracker in points.items():
        manager.add_tracker(user, tracker)
    red = rollup("red", [points["ann"], points["bob"]], 50)
    blue = rollup("blue", [points["cy"]], 50)
    # the school is in a group that sorts before the teams' group
    school = all_of("school", [red, blue])
    manager.add_tracker("a-school", school)
    manager.add_trackers("teams", [red, blue])
    for user, amount in (("ann", 30), ("bob", 30), ("cy", 60)):
        manager.track(user, {"points": amount}, now_ts=1)
    result = manager.tick(now_ts=2)
    assert red.completed and blue.completed and school.completed
    assert set(map(id, result.changed)) == {id(red), id(blue), id(school)}
    assert manager.get_trackers("a-school", include_completed=True) == [
        school]


def test_group_ids_limit_the_tick(setup):
    manager, tm, heard = setup
    for user in ("ann", "bob"):
        manager.add_tracker(user, PeriodTracker("d", [], 1))
        manager.track(user, {}, now_ts=0)
    result = manager.tick(now_ts=D, group_ids=["bob", "nobody"])
    assert [t.group_id for t in result.closed] == ["bob"]
    with pytest.raises(TypeError, match="group_ids must be a list"):
        manager.tick(now_ts=D, group_ids="ann")


def test_autocommit_manager_commits_a_tick():
    manager = TrackingManager()
    manager.add_tracker("u", PeriodTracker("d", [], 1))
    manager.track("u", {}, now_ts=0)
    manager.tick(now_ts=D)
    manager.transaction_manager.abort()  # nothing left to abort
    tracker = manager.get_trackers("u")[0]
    assert tracker.period.start == D and tracker.closed_periods()
    manager.close()


def test_storage_goals_tick():
    from cybertools_tracking.db import open_db, tracking_transaction
    db = open_db("memory://")
    with tracking_transaction(db) as tracks:
        tracks.goals.add_tracker("anna", PeriodTracker(
            "daily", [KeyExists("data.page")], 2))
        tracks.saveUserTrack("lesson", 0, "anna", {"page": 1},
                             timeStamp=10)
    with tracking_transaction(db) as tracks:
        result = tracks.goals.tick(now_ts=D + 10)
        assert [t.name for t in result.closed] == ["daily"]
    with tracking_transaction(db) as tracks:
        tracker = tracks.goals.get_trackers("anna", now_ts=D + 10)[0]
        assert tracker.closed_periods()[0].progress == 1
    db.close()


def test_a_bad_time_changes_nothing(setup):
    manager, tm, heard = setup
    manager.add_tracker("u", PeriodTracker("d", [], 1))
    manager.track("u", {}, now_ts=0)
    tm.commit()
    for bad, error in ((1e20, ValueError), (float("nan"), ValueError),
                       ("1970-01-02", TypeError)):
        with pytest.raises(error, match="now_ts must be"):
            manager.tick(now_ts=bad)
    assert manager.get_trackers("u")[0].period.start == 0
    assert not manager.connection._registered_objects


def test_a_period_tracker_refuses_a_bad_time_before_writing():
    tracker = PeriodTracker("d", [], 1)
    tracker.track({}, 0)
    with pytest.raises(ValueError, match="that a calendar can show"):
        tracker.track({}, 1e20)
    assert tracker.period.start == 0 and tracker.closed_periods() == []

"""Events: codes, types, order, zope.event, and after-commit delivery."""

import logging

import pytest
import transaction
import ZODB
import zope.event
from zope.interface.verify import verifyObject

from cybertools_tracking.goals import events as ev
from cybertools_tracking.goals import interfaces as ifaces
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.limiters import CountLimiter
from cybertools_tracking.goals.manager import TrackingManager
from cybertools_tracking.goals.trackers import CountTracker
from cybertools_tracking.goals.trackers import ResetPolicy


@pytest.fixture
def db():
    database = ZODB.DB(None)
    yield database
    transaction.abort()
    database.close()


@pytest.fixture
def manager(db):
    return TrackingManager(db)


@pytest.fixture
def heard():
    """Every goal event sent through zope.event, in order."""
    seen = []

    def subscriber(event):
        if ifaces.IGoalEvent.providedBy(event):
            seen.append(event)

    zope.event.subscribers.append(subscriber)
    yield seen
    zope.event.subscribers.remove(subscriber)


def tracker(name="t", target=3, **kw):
    return CountTracker(name, [KeyExists("hit")], target, **kw)


def test_codes_are_dictrack_codes():
    assert (ev.EVENT_TRACKER_ADDED, ev.EVENT_TRACKER_STAGE_COMPLETED,
            ev.EVENT_TRACKER_ALL_COMPLETED, ev.EVENT_TRACKER_RESET,
            ev.EVENT_TRACKER_LIMITED) == (1001, 1002, 1003, 1004, 1005)
    assert list(ev.EVENT_ALL) == [1001, 1002, 1003, 1004, 1005]


@pytest.mark.parametrize("code,iface,cls", [
    (1001, ifaces.ITrackerAddedEvent, ev.TrackerEvent),
    (1002, ifaces.IStageCompletedEvent, ev.TrackerEvent),
    (1003, ifaces.IAllCompletedEvent, ev.TrackerEvent),
    (1004, ifaces.IResetEvent, ev.TrackerEvent),
    (1005, ifaces.ILimitedEvent, ev.LimitedTrackerEvent),
])
def test_event_types(code, iface, cls):
    snap = tracker().snapshot()
    event = ev.make_event(code, snap, 42, limiter=CountLimiter(1))
    assert verifyObject(iface, event)
    assert isinstance(event, cls)
    assert (event.code, event.name, event.group_id, event.timestamp) == (
        code, "t", None, 42)
    assert event.event_ts == 42 and event.tracker is snap
    assert repr(event).startswith("<")


def test_order_within_one_item(manager, heard):
    # a stage completes (reset, stage completed) and the count runs out
    # afterwards: limited comes last
    manager.add_tracker("g", tracker(target=[1, 5], limiters=[CountLimiter(1)],
                                     reset_policy=ResetPolicy.NONE))
    del heard[:]
    manager.track("g", {"hit": 1})
    assert [e.code for e in heard] == [1004, 1002]
    # next item: the count is used up: limited before anything else
    manager.track("g", {"hit": 1})
    assert [e.code for e in heard] == [1004, 1002, 1005]


def test_limited_after_a_counted_item(manager, heard):
    manager.add_tracker("g", tracker(target=5, limiters=[CountLimiter(2)]))
    for _ in range(3):
        manager.track("g", {"hit": 1})
    assert [e.code for e in heard] == [1001, 1005]
    assert heard[-1].tracker.progress == 2
    assert heard[-1].limiter.remaining == 0


def test_completion_snapshot_is_detached_and_not_persistent(manager, heard):
    t = tracker(target=[1, 2])
    manager.add_tracker("g", t)
    manager.track("g", {"hit": 1})
    stage = heard[-1]
    assert stage.code == 1002 and stage.group_id == "g" and stage.name == "t"
    assert not hasattr(stage.tracker, "_p_jar")
    assert (stage.tracker.current_stage, stage.tracker.progress) == (1, 1)
    manager.track("g", {"hit": 1})
    assert stage.tracker.progress == 1 and t.progress == 2
    assert heard[-1].code == 1003 and heard[-1].tracker.completed


def test_immediate_listeners_hear_inside_the_transaction(manager):
    seen = []
    manager.add_listener(1003, lambda e: seen.append(
        transaction.get().status))
    manager.add_tracker("g", tracker(target=1))
    manager.track("g", {"hit": 1})
    assert seen == ["Active"]


def test_after_commit_listener_hears_once_after_commit(manager):
    seen = []
    manager.add_listener(1002, lambda e: seen.append(e.tracker.progress),
                         when="after_commit")
    manager.add_tracker("g", tracker(target=[1, 2, 3]))
    manager.track("g", {"hit": 1})
    manager.track("g", {"hit": 1})
    assert seen == []
    transaction.commit()
    assert seen == [1, 2]
    transaction.commit()  # a later commit does not repeat them
    manager.track("g", {"other": 1})
    transaction.commit()
    assert seen == [1, 2]


def test_after_commit_listener_never_hears_an_aborted_transaction(manager):
    seen = []
    manager.add_listener(1001, seen.append, when="after_commit")
    manager.add_tracker("g", tracker())
    transaction.abort()
    transaction.commit()
    assert seen == []
    assert manager.get_trackers("g") == []


def test_after_commit_listener_not_called_when_commit_fails(manager, db):
    seen = []
    manager.add_listener(1001, seen.append, when="after_commit")
    manager.add_tracker("g", tracker())

    def fail_before_commit():
        raise RuntimeError("vote failed")

    transaction.get().addBeforeCommitHook(fail_before_commit)
    with pytest.raises(RuntimeError):
        transaction.commit()
    transaction.abort()
    assert seen == []


def test_each_listener_hears_each_event_once(manager):
    seen = []
    manager.add_listener(1004, lambda e: seen.append(("a", e.name)))
    manager.add_listener(1004, lambda e: seen.append(("b", e.name)))
    manager.add_listener(1004, lambda e: seen.append(("c", e.name)),
                         when="after_commit")
    manager.add_tracker("g", tracker("x"))
    manager.add_tracker("g", tracker("y"))
    manager.reset_tracker("g", "x")
    manager.reset_tracker("g", "y")
    transaction.commit()
    assert seen == [("a", "x"), ("b", "x"), ("a", "y"), ("b", "y"),
                    ("c", "x"), ("c", "y")]


def test_failing_listener_is_logged_and_others_still_hear(manager, caplog):
    seen = []

    def broken(event):
        raise ValueError("boom")

    manager.add_listener(1001, broken)
    manager.add_listener(1001, seen.append)
    manager.add_listener(1001, broken, when="after_commit")
    manager.add_listener(1001, seen.append, when="after_commit")
    with caplog.at_level(logging.ERROR, "cybertools_tracking.goals"):
        manager.add_tracker("g", tracker())
        transaction.commit()
    assert len(seen) == 2
    assert len([r for r in caplog.records if "failed on" in r.getMessage()
                and r.exc_info]) == 2


def test_zope_event_subscriber_errors_propagate(manager):
    def veto(event):
        raise RuntimeError("veto")

    zope.event.subscribers.append(veto)
    try:
        with pytest.raises(RuntimeError, match="veto"):
            manager.add_tracker("g", tracker())
    finally:
        zope.event.subscribers.remove(veto)


def test_add_listener_arguments(manager):
    with pytest.raises(ValueError, match="code must be one of 1001, .* got 999"):
        manager.add_listener(999, print)
    with pytest.raises(TypeError, match="callback must be callable"):
        manager.add_listener(1001, "print")
    with pytest.raises(ValueError, match="when must be 'immediate' or "
                                         "'after_commit', got 'later'"):
        manager.add_listener(1001, print, when="later")


def test_autocommit_manager_delivers_after_commit_per_call():
    manager = TrackingManager()
    seen = []
    manager.add_listener(1003, seen.append, when="after_commit")
    manager.add_tracker("g", tracker(target=1))
    manager.track("g", {"hit": 1})
    assert [e.code for e in seen] == [1003]
    manager.close()

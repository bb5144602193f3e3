"""Composite goals, roll-ups over groups of groups, and sequences."""

from datetime import timedelta

import pytest
import transaction
import ZODB
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from cybertools_tracking.goals import TrackingManager
from cybertools_tracking.goals.composite import CompositeTracker
from cybertools_tracking.goals.composite import SequenceTracker
from cybertools_tracking.goals.composite import all_of
from cybertools_tracking.goals.composite import any_of
from cybertools_tracking.goals.composite import n_of
from cybertools_tracking.goals.composite import rollup
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.conditions import KeyValueEQ
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.interfaces import ICompositeTracker
from cybertools_tracking.goals.interfaces import ISequenceTracker
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker


def counting(name, key, target=1):
    return CountTracker(name, [KeyExists(key)], target)


def codes(result):
    return [e.code for e in result[1]]


def test_verify_object():
    assert verifyObject(ICompositeTracker, all_of("all", [counting("a", "a")]))
    assert verifyObject(ISequenceTracker, SequenceTracker(
        "s", [KeyExists("a"), KeyExists("b")]))


@pytest.mark.parametrize("call,error,message", [
    (lambda: all_of("c", []), TypeError, "non-empty list"),
    (lambda: all_of("c", ["a"]), TypeError, "must provide ITracker"),
    (lambda: n_of("c", 3, [counting("a", "a"), counting("b", "b")]),
     ValueError, "target 3 is more than the 2 components can reach"),
    (lambda: CompositeTracker("c", [counting("a", "a")], 1, measure="max"),
     ValueError, "measure must be one of completed, progress"),
])
def test_composite_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_same_component_twice_is_refused():
    a = counting("a", "a")
    with pytest.raises(ValueError, match="the same tracker twice"):
        all_of("c", [a, a])


@pytest.mark.parametrize("make,completes_after", [
    (lambda parts: all_of("goal", parts), ["a", "b", "c"]),
    (lambda parts: any_of("goal", parts), ["a"]),
    (lambda parts: n_of("goal", 2, parts), ["a", "b"]),
])
def test_all_any_n_of_in_one_group(make, completes_after):
    manager = TrackingManager()
    parts = [counting(k, k) for k in "abc"]
    manager.add_trackers("u", parts)
    goal = make(parts)
    manager.add_tracker("u", goal)  # after its components
    fed = []
    for key in "abc":
        fed.append(key)
        result = manager.track("u", {key: 1}, now_ts=len(fed))
        if goal in result.completed:
            break
    assert fed == completes_after
    assert goal.completed and goal.completed_at == len(fed)
    manager.close()


def test_rollup_over_groups_of_groups():
    points = {user: AccumulationTracker("points", [], 1000, "points")
              for user in ("ann", "bob", "cy", "dee")}
    red = rollup("red", [points["ann"], points["bob"]], 100)
    blue = rollup("blue", [points["cy"], points["dee"]], 100)
    school = rollup("school", [red, blue], 150)
    manager = TrackingManager()
    for user, tracker in points.items():
        manager.add_tracker(user, tracker)
    manager.add_trackers("teams", [red, blue, school])
    manager.track("ann", {"points": 60}, now_ts=1)
    manager.track("bob", {"points": 50}, now_ts=2)
    manager.track("cy", {"points": 30}, now_ts=3)
    assert red.progress == 0  # the roll-up's own group was not evaluated
    result = manager.track("teams", {}, now_ts=4)
    assert result.completed == [red]
    assert (red.progress, blue.progress, school.progress) == (110, 30, 140)
    manager.track("dee", {"points": 10}, now_ts=5)
    changed, events = blue.tick(6)
    assert changed and blue.progress == 40
    changed, events = school.tick(6)
    assert codes((changed, events)) == [EVENT_TRACKER_ALL_COMPLETED]
    assert school.progress == 150
    manager.close()


def test_add_components_and_unchanged_ticks():
    a, b = counting("a", "a"), counting("b", "b")
    team = all_of("team", [a])
    assert team.tick(0) == (False, ())
    team.add_components(b)
    assert team.components == (a, b) and team.target == 2  # all, now 2
    a.track({"a": 1}, 1)
    assert team.tick(2) == (True, ()) and team.progress == 1
    assert team.tick(3) == (False, ())
    fixed = n_of("one", 1, [a])
    fixed.add_components(b)
    assert fixed.target == 1


def test_stages_of_a_composite_one_per_evaluation():
    parts = [counting(k, k) for k in "abc"]
    goal = CompositeTracker("c", parts, [1, 2])
    for part, key in zip(parts, "abc"):
        part.track({key: 1}, 0)
    assert codes(goal.tick(1)) == [1004, 1002]  # reset (policy NONE), stage
    assert codes(goal.tick(2)) == [EVENT_TRACKER_ALL_COMPLETED]


def test_composite_commits_with_its_components():
    db = ZODB.DB(None)
    tm = transaction.TransactionManager()
    manager = TrackingManager(db, transaction_manager=tm)
    a = counting("a", "a")
    manager.add_tracker("u", a)
    manager.add_tracker("u", all_of("all", [a]))
    tm.commit()
    manager.track("u", {"a": 1}, now_ts=1)
    tm.commit()
    other = db.open(transaction.TransactionManager())
    group = other.root()["cybertools_tracking.goals"].get("u")
    loaded = group.done["all"]
    assert loaded.completed and loaded.components[0] is group.done["a"]
    other.close()
    manager.close()
    db.close()


# -- sequences ----------------------------------------------------------------

A, B, C = KeyValueEQ("e", "a"), KeyValueEQ("e", "b"), KeyValueEQ("e", "c")


def sequence(**kw):
    return SequenceTracker("ab", [A, B], **kw)


def feed(tracker, events, start=0, step=1, **extra):
    results = []
    for n, event in enumerate(events):
        results.append(tracker.track(dict(e=event, **extra),
                                     start + n * step))
    return results


def test_sequence_arguments():
    with pytest.raises(TypeError, match="at least two conditions"):
        SequenceTracker("s", [A])
    with pytest.raises(TypeError, match="each step must be a condition"):
        SequenceTracker("s", [A, "b"])
    with pytest.raises(ValueError, match="max_gap must be a positive"):
        sequence(max_gap=0)
    with pytest.raises(ValueError, match="empty segment"):
        sequence(per="run..id")


def test_a_then_b_with_items_between():
    tracker = sequence(target=2)
    feed(tracker, ["b", "a", "x", "x", "b"])
    assert tracker.progress == 1 and tracker.partials == {}
    feed(tracker, ["a", "b"], start=10)
    assert tracker.completed


def test_max_gap_and_restart_from_a_fresher_start():
    tracker = sequence(max_gap=timedelta(seconds=10))
    tracker.track({"e": "a"}, 0)
    tracker.track({"e": "b"}, 11)  # too late after a
    assert tracker.progress == 0 and tracker.partials == {}
    tracker.track({"e": "a"}, 20)
    tracker.track({"e": "a"}, 25)  # a fresher start
    tracker.track({"e": "b"}, 34)
    assert tracker.completed


def test_per_run():
    tracker = SequenceTracker("abc", [A, B, C], per="runId", target=2)
    tracker.track({"e": "a", "runId": 1}, 0)
    tracker.track({"e": "a", "runId": 2}, 1)
    tracker.track({"e": "b", "runId": 1}, 2)
    tracker.track({"e": "c", "runId": 2}, 3)  # run 2 is not at c yet
    assert tracker.partials == {1: (2, 2), 2: (1, 1)}
    tracker.track({"e": "c", "runId": 1}, 4)
    tracker.track({"e": "b"}, 5)  # no run: does not count
    assert tracker.progress == 1 and tracker.partials == {2: (1, 1)}


def test_item_older_than_the_last_step_is_ignored():
    tracker = sequence()
    tracker.track({"e": "a"}, 10)
    tracker.track({"e": "b"}, 5)
    assert tracker.progress == 0


def test_sequence_through_the_manager_and_conditions():
    manager = TrackingManager()
    tracker = SequenceTracker("course", [A, B],
                              conditions=[KeyValueEQ("task", "t1")])
    manager.add_tracker("ann", tracker)
    manager.track("ann", {"task": "t1", "e": "a"}, now_ts=1)
    manager.track("ann", {"task": "t2", "e": "b"}, now_ts=2)
    assert not tracker.completed
    result = manager.track("ann", {"task": "t1", "e": "b"}, now_ts=3)
    assert result.completed == [tracker]
    manager.close()


def model(events, gap):
    """Brute force: progress of A-then-B by scanning all earlier items."""
    progress, start, last = 0, None, None
    for t, event in events:
        if start is not None and gap is not None and t - last > gap:
            start = None
        if start is not None and t < last:
            continue
        if start is not None and event == "b":
            progress, start = progress + 1, None
        elif event == "a":
            start = last = t
    return progress


@settings(max_examples=200, deadline=None)
@given(events=st.lists(st.tuples(st.integers(0, 4),
                                 st.sampled_from("abx")), max_size=25),
       gap=st.one_of(st.none(), st.integers(1, 6)))
def test_sequence_matches_a_model(events, gap):
    tracker = sequence(target=1000, max_gap=gap)
    now, timed = 0, []
    for step, event in events:
        now += step
        timed.append((now, event))
        tracker.track({"e": event}, now)
    assert tracker.progress == model(timed, gap)


def test_a_composite_added_after_its_components_completed_is_current():
    # Trial finding: it showed 0 until its group's next item.
    manager = TrackingManager()
    a, b, c = (counting(n, n) for n in "abc")
    manager.add_trackers("u", [a, b, c], now_ts=1)
    manager.track("u", {"a": 1, "b": 1}, now_ts=2)
    heard = []
    manager.add_listener(EVENT_TRACKER_ALL_COMPLETED, heard.append)
    course = all_of("course", [a, b, c])
    badge = n_of("badge", 2, [a, b, c])
    manager.add_trackers("u", [course, badge], now_ts=3)
    assert (course.progress, course.completed) == (2, False)
    assert (badge.progress, badge.completed) == (2, True)
    assert [e.name for e in heard] == ["badge"]
    assert [o.kind for o in manager.history(tracker="badge")] == [
        "completed"]
    names = [t.name for t in manager.get_trackers("u",
                                                  include_completed=True)]
    assert "badge" in names and "badge" not in [
        t.name for t in manager.get_trackers("u")]
    # A roll-up over another group's progress starts with it too.
    points = AccumulationTracker("points", [], 100, "p")
    manager.add_tracker("ann", points)
    manager.track("ann", {"p": 30}, now_ts=4)
    team = rollup("team", [points], 50)
    manager.add_tracker("team", team, now_ts=5)
    assert team.progress == 30 and not team.completed
    manager.close()

"""The candidate index: ``track`` gives the same results with and without."""

import copy
import types
from contextlib import contextmanager
from decimal import Decimal

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from zope.interface import implementer

from cybertools_tracking.goals import candidates
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.conditions import KeyValueEQ
from cybertools_tracking.goals.conditions import KeyValueGT
from cybertools_tracking.goals.conditions import Not
from cybertools_tracking.goals.events import EVENT_ALL
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.interfaces import ICondition
from cybertools_tracking.goals.limiters import CountLimiter
from cybertools_tracking.goals.limiters import TimeLimiter
from cybertools_tracking.goals.manager import TrackingManager
from cybertools_tracking.goals.registry import GoalRegistry
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker

NAN = float("nan")  # one object, so identity cannot stand in for equality
# Values that are equal across types (1, 1.0, True), equal floats of
# different sign, ints a float cannot tell apart, NaN, None, strings.
VALUES = [0, 1, 1.0, True, False, 0.0, -0.0, 2 ** 53, 2 ** 53 + 1,
          float(2 ** 53), NAN, None, "a", "1", ""]
# What items may hold besides: values the index must not look up.
ODD_VALUES = [Decimal(1), [1], (1,), {"y": 1}, b"a"]
KEYS = ["a", "b", "x.y"]

calls = []  # what the side-effect condition saw, in order


@implementer(ICondition)
class Noting:
    """A condition with a side effect: it notes every call."""

    def __init__(self, label):
        self.label = label

    def check(self, data):
        calls.append(self.label)
        return True


def conditions():
    # Mostly trackers the index can skip: a first equality test on "a".
    eq_a = st.builds(KeyValueEQ, st.just("a"),
                     st.sampled_from(VALUES + ODD_VALUES))
    eq = st.builds(KeyValueEQ, st.sampled_from(KEYS), st.sampled_from(VALUES))
    other = st.one_of(
        st.builds(KeyExists, st.sampled_from(KEYS)),
        st.builds(KeyValueGT, st.sampled_from(KEYS), st.sampled_from(
            [0, 1, "a"])),
        st.builds(Not, eq),
        st.builds(Noting, st.sampled_from("pq")))
    rest = st.lists(st.one_of(eq, other), max_size=2)
    return st.one_of(
        st.tuples(eq_a, rest).map(lambda c: [c[0]] + c[1]),
        st.tuples(eq_a, rest).map(lambda c: [c[0]] + c[1]),
        st.tuples(eq_a, rest).map(lambda c: [c[0]] + c[1]),
        # an equality test on "a" that is not the first condition
        st.tuples(other, eq_a).map(list),
        st.lists(st.one_of(eq, other), max_size=3))


tracker_specs = st.lists(st.fixed_dictionaries({
    "kind": st.sampled_from(["count", "count", "sum"]),
    "conditions": conditions(),
    "target": st.integers(1, 4),
    "loop": st.booleans(),
    "limiter": st.sampled_from([None] * 6 + ["count", "time"]),
    "expire_at": st.sampled_from([None] * 6 + [3, 7]),
}), min_size=1, max_size=8)

item = st.fixed_dictionaries({}, optional={
    "a": st.sampled_from(VALUES + VALUES + ODD_VALUES),
    "b": st.sampled_from(VALUES + ODD_VALUES),
    "x": st.fixed_dictionaries({}, optional={"y": st.sampled_from(VALUES)}),
    "n": st.integers(0, 3),
})
# (item, offered as a read-only mapping rather than a dict, what a
# listener does to the item while it is tracked)
items = st.lists(st.tuples(
    item, st.sampled_from([False] * 7 + [True]),
    st.sampled_from([None, None, "flip", "drop"])), max_size=25)


def make(number, spec):
    name = "t%d" % number
    limiters = {None: None, "count": [CountLimiter(2)],
                "time": [TimeLimiter(start_ts=2, end_ts=5)]}[spec["limiter"]]
    if spec["kind"] == "sum":
        return AccumulationTracker(name, spec["conditions"], spec["target"],
                                   key="n", limiters=limiters,
                                   loop_forever=spec["loop"])
    return CountTracker(name, spec["conditions"], spec["target"],
                        limiters=limiters, loop_forever=spec["loop"])


@contextmanager
def index(enabled):
    saved = candidates.INDEX
    candidates.INDEX = enabled
    try:
        yield
    finally:
        candidates.INDEX = saved


def run(specs, stream, indexed):
    """Everything observable about tracking *stream*: results, events,
    condition calls and the final trackers."""
    del calls[:]
    seen = []
    manager = TrackingManager(GoalRegistry())
    current = {}
    added = []

    def listen(event):
        seen.append((event.code, event.name, event.tracker.progress,
                     event.tracker.state))
        change = current.get("change")
        data = current.get("data")
        # A listener may change the item being tracked, or the group.
        if change == "flip" and isinstance(data, dict):
            data["a"] = "a" if data.get("a") != "a" else 1
        elif change == "drop" and isinstance(data, dict):
            data.pop("a", None)
        if event.code == EVENT_TRACKER_ALL_COMPLETED and len(added) < 3:
            added.append(event.name)
            manager.add_tracker("g", make(100 + len(added), specs[0]))
            manager.remove_tracker("g", "t0")

    for code in EVENT_ALL:
        manager.add_listener(code, listen)
    with index(indexed):
        for number, spec in enumerate(specs):
            manager.add_tracker("g", make(number, spec),
                                expire_at=spec["expire_at"], now_ts=0)
        results = []
        for now, (data, as_proxy, change) in enumerate(copy.deepcopy(stream),
                                                        1):
            current.update(data=data, change=change)
            offered = types.MappingProxyType(data) if as_proxy else data
            result = manager.track("g", offered, now_ts=now)
            results.append(tuple([t.name for t in part]
                                 for part in result[1:]))
        final = [(t.name, t.progress, t.state, t.current_stage, t.target)
                 for t in manager.get_trackers(
                     "g", include_completed=True, now_ts=0)]
    return results, seen, list(calls), final


@settings(max_examples=400, deadline=None)
@given(specs=tracker_specs, stream=items)
def test_the_index_changes_nothing(specs, stream):
    assert run(specs, stream, True) == run(specs, stream, False)


def test_the_index_skips_what_cannot_match():
    trackers = [CountTracker("t%d" % n, [KeyValueEQ("event", event)], 10)
                for n, event in enumerate(["buy", "view", "buy", "share"])]
    trackers.append(CountTracker("any", [KeyExists("event")], 10))
    live = {t.name: t for t in trackers}
    index = candidates.Candidates(live)
    assert index.key == "event"

    def names(data):
        return [t.name for t in index.select(data)[0]]

    assert names({"event": "buy"}) == ["t0", "t2", "any"]
    assert names({"event": "nothing"}) == ["any"]
    assert names({}) == ["any"]
    assert len(names({"event": ["buy"]})) == 5  # not a plain value: all
    narrowed = index.without(trackers[2], {})
    assert [t.name for t in narrowed.select({"event": "buy"})[0]] == [
        "t0", "any"]


def test_the_index_of_a_group_follows_its_live_trackers():
    manager = TrackingManager(GoalRegistry())
    manager.add_trackers("g", [
        CountTracker("a", [KeyValueEQ("k", 1)], 1),
        CountTracker("b", [KeyValueEQ("k", 2)], 5)])
    group = manager.registry.get("g")
    first = group.candidates()
    assert group.candidates() is first
    manager.track("g", {"k": 1})  # "a" completes and leaves live
    narrowed = group.candidates()
    assert narrowed is not first and narrowed.live is group.live
    assert [t.name for t in narrowed.trackers] == ["b"]
    assert "_v_candidates" not in group.__getstate__()


def test_an_item_changed_while_it_is_tracked_reaches_every_tracker_left():
    # A listener changes the very value the candidates were chosen by; the
    # trackers after the one that caused it see the changed item, as they
    # would without the index.
    manager = TrackingManager(GoalRegistry())
    manager.add_trackers("g", [
        CountTracker("first", [KeyValueEQ("k", 1)], 1),
        CountTracker("second", [KeyValueEQ("k", 2)], 5)])
    data = {"k": 1}
    manager.add_listener(EVENT_TRACKER_ALL_COMPLETED,
                         lambda event: data.update(k=2))
    result = manager.track("g", data)
    assert [t.name for t in result.dirtied] == ["first", "second"]


def test_a_tracker_tells_the_index_its_key():
    from zope.interface.verify import verifyObject

    from cybertools_tracking.goals.interfaces import IIndexableTracker

    plain = CountTracker("p", [KeyValueEQ("event", "buy"), KeyExists("x")], 3)
    assert verifyObject(IIndexableTracker, plain)
    assert plain.index_key() == ("event", "buy")
    assert candidates.indexed_on(plain) == ("event", "buy")
    # What cannot be skipped by one value says None.
    assert CountTracker("d", [KeyValueEQ("x.y", 1)], 1).index_key() is None
    assert CountTracker("g", [KeyValueGT("x", 1)], 1).index_key() is None
    assert CountTracker("l", [KeyValueEQ("x", 1)], 1,
                        limiters=[CountLimiter(2)]).index_key() is None
    assert CountTracker("n", [], 1).index_key() is None
    # The tracker may name a value the index cannot look up by hash.
    nan = CountTracker("nan", [KeyValueEQ("x", NAN)], 1)
    assert nan.index_key()[0] == "x"
    assert candidates.indexed_on(nan) is None
    odd = CountTracker("odd", [KeyValueEQ("x", Decimal(1))], 1)
    assert candidates.indexed_on(odd) is None

    class Overriding(CountTracker):
        def track(self, data, now_ts=None):
            return super().track(data, now_ts)

    assert Overriding("o", [KeyValueEQ("x", 1)], 1).index_key() is None
    manager = TrackingManager(GoalRegistry())
    expiring = CountTracker("e", [KeyValueEQ("x", 1)], 1)
    manager.add_tracker("g", expiring, expire=60, now_ts=0)
    assert expiring.expire_at == 60 and expiring.index_key() is None

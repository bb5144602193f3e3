"""Backfill: a new tracker catches up on data items that came before it.

The goal layer knows nothing of where items are kept.  It offers two
things to whoever does (``tracked_goals.py`` for a tracking storage):

- ``narrowing(conditions)``: what every item a tracker can count must hold
  at one-segment keys (a set of values, a range), read from its
  conditions, so the keeper can read only the items that can match;
- ``replay(registry, tracker, items, dispatch)``: feed those items to that
  one tracker, in order, exactly as ``track`` would have as each came in
  (the other trackers of the group saw them already).

A narrowing is a promise about a *superset*: an item outside it cannot
satisfy the conditions, an item inside may or may not.  Conditions that
promise nothing (``Any``, ``Not``, nested keys, values of unordered types)
are left out, which only reads more.
"""

import math

from cybertools_tracking.goals.conditions import All
from cybertools_tracking.goals.conditions import KeyValueEQ
from cybertools_tracking.goals.conditions import KeyValueGE
from cybertools_tracking.goals.conditions import KeyValueGT
from cybertools_tracking.goals.conditions import KeyValueInList
from cybertools_tracking.goals.conditions import KeyValueLE
from cybertools_tracking.goals.conditions import KeyValueLT

__all__ = ["Narrowing", "narrowing", "replay"]

_LOWER = (KeyValueGE, KeyValueGT)
_UPPER = (KeyValueLE, KeyValueLT)


class Narrowing:
    """What the value at one key must be: one of ``values`` (a frozenset,
    or None for any) and within ``low`` .. ``high`` (inclusive; None is
    open).  Ranges are kept for finite ints and floats only."""

    __slots__ = ("values", "low", "high")

    def __init__(self, values=None, low=None, high=None):
        self.values = values
        self.low = low
        self.high = high

    def __repr__(self):
        return "<Narrowing values=%r low=%r high=%r>" % (
            None if self.values is None else sorted(map(repr, self.values)),
            self.low, self.high)

    def __eq__(self, other):
        return isinstance(other, Narrowing) and (
            self.values, self.low, self.high) == (
                other.values, other.low, other.high)

    def empty(self):
        """True if no value can satisfy it."""
        return (self.values is not None and not self.values) or (
            self.low is not None and self.high is not None
            and self.low > self.high)


def _number(value):
    return (type(value) in (int, float) and math.isfinite(value))


def _hashable(values):
    try:
        return frozenset(values)
    except TypeError:
        return None


def narrowing(conditions):
    """``{key: Narrowing}`` for the one-segment keys *conditions* (all of
    which must hold, as a tracker's) narrow down."""
    found = {}

    def meet(key, values=None, low=None, high=None):
        have = found.get(key)
        if have is None:
            found[key] = Narrowing(values, low, high)
            return
        if values is not None:
            have.values = values if have.values is None else (
                have.values & values)
        if low is not None and (have.low is None or low > have.low):
            have.low = low
        if high is not None and (have.high is None or high < have.high):
            have.high = high

    def walk(items):
        for condition in items:
            cls = type(condition)
            if cls is All:
                walk(condition.conditions)
                continue
            key = getattr(condition, "flat_key", None)
            if key is None:
                continue
            if cls is KeyValueEQ:
                values = _hashable([condition.value])
                if values is not None:
                    meet(key, values=values)
            elif cls is KeyValueInList:
                values = _hashable(condition.value)
                if values is not None:
                    meet(key, values=values)
            elif cls in _LOWER and _number(condition.value):
                meet(key, low=condition.value)
            elif cls in _UPPER and _number(condition.value):
                meet(key, high=condition.value)

    walk(conditions)
    return found


def replay(registry, tracker, items, dispatch):
    """Feed *items* to *tracker* (placed in its group) alone, in order.

    *items* yields ``(data, time, cause)``: the item, its time (seconds,
    UTC) and an id kept in history records (a track id).  As in ``track``:
    the events are dispatched (and outcomes recorded) with the item's
    time; a tracker that completes moves to its group's completed ones and
    takes no more items; a tracker whose expiry time the items reach is
    removed.  Returns the number of items evaluated.
    """
    group = registry.get(tracker.group_id)
    if tracker.completed or tracker.removed:
        return 0
    expire_at = tracker.expire_at
    track = tracker.track
    evaluated = 0
    now = None
    for data, now, cause in items:
        if expire_at is not None and now >= expire_at:
            group.discard(tracker.name)
            tracker._set_removed()
            dispatch.expired([tracker], now)
            registry.prune(tracker.group_id)
            break
        changed, events = track(data, now)
        evaluated += 1
        if events:
            # Only a completion, or a listener hearing an event, can end
            # the tracker's evaluation.
            completed = tracker.completed
            if completed:
                group.put(tracker)  # as in ``track``: before the events
            dispatch.events(events, cause)
            if completed or tracker.removed:
                break
    if now is not None:
        dispatch.scored(registry, [tracker], now)
    return evaluated

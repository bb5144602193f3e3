"""Which live trackers of a group a data item can affect: an in-memory index.

``TrackingManager.track`` offers an item to every live tracker of a group,
in the order they were added.  Most trackers start with an equality test
(``KeyValueEQ('event', 'buy')``), and most items fail it for most trackers;
such an evaluation changes nothing and runs no code but that test.
``Candidates`` indexes a group's live trackers by the value their first
condition asks for, so ``track`` can skip the evaluations that would fail
on it, and reach the others in the same order as before.

A tracker is *indexed* on (key, value) when skipping it is exactly what
evaluating it would do whenever the item's value at *key* is not *value*.
The tracker answers that itself (``IIndexableTracker.index_key``: for the base
class, an active tracker without limiters or expiry time whose first
condition is a plain ``KeyValueEQ`` on a one-segment key; window and
sequence trackers too, whose ``track`` only notes the item's time; period
trackers roll their period on any item, and composites do not look at
items, so they answer None); what it answers
holds while it sits in one ``live`` dict, since limiters are fixed when a
tracker is made and the manager sets the expiry time only as it puts the
tracker into a new ``live`` dict.  The index adds one rule of its own: the
value is a str, int, float (not NaN), bool or None.

For items that are dicts and whose value at the key is MISSING or of one of
those exact types, ``==`` never raises, is symmetric, depends only on the
two values and agrees with ``hash``; so a dict lookup by the item's value
finds exactly the indexed trackers whose test ``KeyValueEQ.check`` accepts.
Other items (another mapping, a value of another type) are offered to every
live tracker.

The index is derived from the ``live`` dict alone and never stored: the
group keeps it in a volatile attribute and builds a new one whenever
``live`` is a different dict (the group replaces that dict on every change,
and loading or invalidating the group drops volatile attributes).  What an
evaluation may run besides the test (listeners, limiters, other conditions)
could change the item itself; ``TrackingManager._track`` checks after each
evaluation that the item still holds the very value it looked up, and
evaluates every remaining tracker if not (see ``remaining``).
"""

from cybertools_tracking.goals.conditions import MISSING

__all__ = ["Candidates", "PLAIN"]

#: The exact value types that the index compares by hash and ``==``.
PLAIN = frozenset({str, int, float, bool, type(None)})

#: Whether to index at all; the tests compare results with and without.
INDEX = True

# An index whose lists would hold more tracker references than this many
# per live tracker (many distinct values and many trackers offered every
# item) is not built; the group's items then go to every tracker.
MAX_REFERENCES_PER_TRACKER = 8


def indexed_on(tracker):
    """The ``(key, value)`` *tracker* may be skipped by, or None.

    The tracker says which value it needs (``IIndexableTracker.index_key``;
    other ITrackers are offered every item); the index takes it if it can compare that value by hash (a PLAIN type, not
    NaN, which equals nothing).
    """
    index_key = getattr(tracker, "index_key", None)
    entry = None if index_key is None else index_key()
    if entry is None:
        return None
    value = entry[1]
    if type(value) not in PLAIN or value != value:
        return None
    return entry


class Candidates:
    """The live trackers of a group, indexed for ``select``; never stored."""

    __slots__ = ("live", "trackers", "key", "by_value", "unindexed",
                 "expiring")

    def __init__(self, live):
        #: The dict this index was built from (kept, so it is not reused).
        self.live = live
        #: All live trackers, in evaluation order.
        self.trackers = trackers = tuple(live.values())
        #: False if no live tracker has an expiry time to check.
        self.expiring = not INDEX or any(
            t.expire_at is not None for t in trackers)
        #: The one-segment key items are looked up by, or None.
        self.key = None
        #: Value -> the trackers to offer an item with that value, in order.
        self.by_value = {}
        #: The trackers to offer an item with any other value, in order.
        self.unindexed = trackers
        if not INDEX:
            return
        indexed = [indexed_on(tracker) for tracker in trackers]
        counts = {}
        for entry in indexed:
            if entry is not None:
                counts[entry[0]] = counts.get(entry[0], 0) + 1
        if not counts:
            return
        key = max(counts, key=counts.get)  # the first of the most used
        values = {entry[1] for entry in indexed
                  if entry is not None and entry[0] == key}
        unindexed = len(trackers) - counts[key]
        if (len(values) * unindexed
                > MAX_REFERENCES_PER_TRACKER * len(trackers)):
            return
        by_value, others = {}, []
        for tracker, entry in zip(trackers, indexed):
            if entry is not None and entry[0] == key:
                # Equal values (1, 1.0, True) share one list: whatever
                # equals one of them equals all.
                found = by_value.get(entry[1])
                if found is None:
                    found = by_value[entry[1]] = list(others)
                found.append(tracker)
            else:
                others.append(tracker)
                for found in by_value.values():
                    found.append(tracker)
        self.key = key
        self.by_value = {value: tuple(found)
                         for value, found in by_value.items()}
        self.unindexed = tuple(others)

    def select(self, data):
        """``(trackers, key, probe)``: the trackers to offer *data* to.

        *probe* is the value found in *data* under *key*; *key* is None if
        the index was not used, and *trackers* are then all live trackers.
        """
        key = self.key
        if key is None or type(data) is not dict:
            return self.trackers, None, None
        probe = data.get(key, MISSING)
        if probe is MISSING:
            return self.unindexed, key, probe
        if type(probe) in PLAIN:
            return self.by_value.get(probe, self.unindexed), key, probe
        return self.trackers, None, None

    def without(self, tracker, live):
        """The index of *live*, which is this index's dict less *tracker*.

        Taking a tracker out of every list keeps each list what it was:
        the remaining trackers that an item with its value can affect, in
        order.  (The key stays, even if another would now be used more.)
        """
        def keep(trackers):
            return tuple(other for other in trackers if other is not tracker)

        narrowed = Candidates.__new__(Candidates)
        narrowed.live = live
        narrowed.trackers = keep(self.trackers)
        narrowed.expiring = self.expiring
        narrowed.key = self.key
        narrowed.by_value = {value: keep(found)
                             for value, found in self.by_value.items()}
        narrowed.unindexed = keep(self.unindexed)
        return narrowed

    def remaining(self, tracker):
        """The live trackers after *tracker*, all of them, in order."""
        trackers = self.trackers
        for position, other in enumerate(trackers):
            if other is tracker:
                return trackers[position + 1:]
        raise ValueError("%r is not a live tracker of this index"
                         % (tracker,))

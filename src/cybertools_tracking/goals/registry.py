"""Where trackers are kept: one persistent registry of groups per database."""

from BTrees.OOBTree import OOBTree
from persistent import Persistent

__all__ = ["GoalRegistry", "GoalGroup"]


class GoalGroup(Persistent):
    """The trackers of one group.

    Live trackers (active or limited) are evaluated in the order they were
    added, so they sit in an insertion-ordered dict; completed ones are kept
    aside where the hot path never looks.  Both dicts are replaced, never
    changed in place: that marks this object as changed for ZODB, and lets
    ``track`` iterate over ``live`` while a listener adds or removes trackers.
    A group holds references only, so its record stays small.
    """

    # Shared empty defaults are safe because they are never mutated.
    live = {}
    done = {}

    def __init__(self, group_id):
        self.group_id = group_id

    def __repr__(self):
        return "<GoalGroup %r (%d live, %d completed)>" % (
            self.group_id, len(self.live), len(self.done))

    def __len__(self):
        return len(self.live) + len(self.done)

    def find(self, name):
        tracker = self.live.get(name)
        return tracker if tracker is not None else self.done.get(name)

    def put(self, tracker):
        """Store *tracker* under its name, live or completed by its state."""
        name = tracker.name
        live, done = dict(self.live), dict(self.done)
        live.pop(name, None)
        done.pop(name, None)
        (done if tracker.completed else live)[name] = tracker
        self.live, self.done = live, done

    def discard(self, name):
        """Take the tracker *name* out; return it, or None if absent."""
        tracker = self.find(name)
        if tracker is not None:
            if name in self.live:
                live = dict(self.live)
                del live[name]
                self.live = live
            else:
                done = dict(self.done)
                del done[name]
                self.done = done
        return tracker


class GoalRegistry(Persistent):
    """All groups of trackers, by group id, in a BTree.

    The BTree spreads groups over buckets, so writers working on different
    groups seldom touch the same record.
    """

    def __init__(self):
        self.groups = OOBTree()

    def __repr__(self):
        return "<GoalRegistry (%d groups)>" % len(self.groups)

    def get(self, group_id):
        return self.groups.get(group_id)

    def setdefault(self, group_id):
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = GoalGroup(group_id)
        return group

    def prune(self, group_id):
        """Forget the group if it holds no trackers any more."""
        group = self.groups.get(group_id)
        if group is not None and not len(group):
            del self.groups[group_id]

    def clear(self):
        self.groups.clear()

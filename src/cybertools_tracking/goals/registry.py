"""Where trackers are kept: one persistent registry of groups per database."""

from BTrees.OOBTree import OOBTree
from persistent import Persistent

from cybertools_tracking.goals.candidates import Candidates

__all__ = ["GoalRegistry", "GoalGroup"]


class GoalGroup(Persistent):
    """The trackers of one group.

    Live trackers (active or limited) are evaluated in the order they were
    added, so they sit in an insertion-ordered dict; completed ones are kept
    aside where the hot path never looks.  Both dicts are replaced, never
    changed in place: that marks this object as changed for ZODB, and lets
    ``track`` iterate over ``live`` while a listener adds or removes trackers.
    A group holds references only, so its record stays small.

    Because ``live`` is only ever replaced, a dict's identity stands for its
    contents: ``candidates`` keeps the index built from one ``live`` dict
    until ``live`` is another.  When a tracker leaves (it completed, or was
    removed) the index is narrowed to the new dict rather than rebuilt.
    """

    # Shared empty defaults are safe because they are never mutated.
    live = {}
    done = {}
    _v_candidates = None  # volatile: never stored, dropped on invalidation

    def __init__(self, group_id):
        self.group_id = group_id

    def __repr__(self):
        return "<GoalGroup %r (%d live, %d completed)>" % (
            self.group_id, len(self.live), len(self.done))

    def __len__(self):
        return len(self.live) + len(self.done)

    def candidates(self):
        """The ``Candidates`` index of the live trackers, for ``track``."""
        live = self.live
        candidates = self._v_candidates
        if candidates is None or candidates.live is not live:
            candidates = self._v_candidates = Candidates(live)
        return candidates

    def find(self, name):
        tracker = self.live.get(name)
        return tracker if tracker is not None else self.done.get(name)

    def _replace_live(self, live, left=None):
        # *left*: the one tracker that is in ``self.live`` but not in
        # *live*, if that is the only difference; None for any other change.
        candidates = self._v_candidates
        if (left is not None and candidates is not None
                and candidates.live is self.live):
            self._v_candidates = candidates.without(left, live)
        self.live = live

    def put(self, tracker):
        """Store *tracker* under its name, live or completed by its state."""
        name = tracker.name
        live, done = dict(self.live), dict(self.done)
        left = live.pop(name, None)
        done.pop(name, None)
        if tracker.completed:
            done[name] = tracker
        else:
            live[name] = tracker
            left = None
        self._replace_live(live, left)
        self.done = done

    def discard(self, name):
        """Take the tracker *name* out; return it, or None if absent."""
        tracker = self.find(name)
        if tracker is not None:
            if name in self.live:
                live = dict(self.live)
                del live[name]
                self._replace_live(live, tracker)
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

    # Kept beside the groups, made by the first outcome or board (class
    # defaults: registries from before have none, and a read finds None
    # without an AttributeError on the hot path).
    history = None        # a GoalHistory (history.py)
    leaderboards = None   # name -> Leaderboard (leaderboard.py)

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

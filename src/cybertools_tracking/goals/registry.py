"""Where trackers are kept: one persistent registry of groups per database.

Every new group (a new user's copy of a task's goal templates) is a new key
in the map of groups, made by many writers at once.  A single BTree does
not take that well: each insert reads the tree's root as current, so a
bucket split by one writer (about every 30 new groups) is a
ReadConflictError for every other writer that inserted meanwhile.  The
groups are therefore spread over ``GROUP_SHARDS`` BTrees by a stable hash
of the group id (``GroupMap``): a split only troubles writers that
inserted into the same shard.  The history, the leaderboards and the
index of due times (``due.py``) are made with the registry, so no
writer's first outcome has to make them.
"""

import heapq
import zlib

from BTrees.OOBTree import OOBTree
from persistent import Persistent

from cybertools_tracking.goals.candidates import Candidates
from cybertools_tracking.goals.due import DueIndex
from cybertools_tracking.goals.history import GoalHistory

__all__ = ["GoalRegistry", "GoalGroup", "GroupMap", "GROUP_SHARDS"]

#: Shards of the groups of a new registry (a registry keeps the number it
#: was made with).  Measured with benchmarks/goal_registry_bench.py.
GROUP_SHARDS = 64

#: How many group ids a ``GroupMap`` remembers the shard of (per
#: connection; forgotten all at once when full).
SHARD_CACHE = 100_000


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


class GroupMap(Persistent):
    """Group id -> ``GoalGroup``, spread over BTrees by a hash of the id.

    The part of a BTree's mapping API the goal layer uses: ``get``,
    ``[]``, ``in``, ``del``, ``len``, ``keys``/``values``/``items`` (in
    group id order, merged over the shards) and ``clear``.  This record
    itself never changes after it is made; writers change the shards.
    """

    def __init__(self, shards=GROUP_SHARDS):
        if isinstance(shards, bool) or not isinstance(shards, int) \
                or shards < 1:
            raise ValueError("shards must be a positive int, got %r"
                             % (shards,))
        self.shards = tuple(OOBTree() for _ in range(shards))

    def __repr__(self):
        return "<GroupMap (%d shards)>" % len(self.shards)

    # Volatile: group id -> its shard, for this connection's copy only.
    # ``track`` looks a group up per item, and encoding the id and its
    # crc32 cost three times the BTree lookup; a group's shard never
    # changes (the shard count is fixed), so the answer can be kept.
    _v_shard_of = None

    def _shard(self, group_id):
        # crc32 of the id: stable across processes (hash() of a str is not).
        return self.shards[zlib.crc32(group_id.encode("utf-8"))
                           % len(self.shards)]

    def get(self, group_id, default=None):
        if type(group_id) is not str:
            return default
        shard_of = self._v_shard_of
        if shard_of is None:
            shard_of = self._v_shard_of = {}
        shard = shard_of.get(group_id)
        if shard is None:
            if len(shard_of) >= SHARD_CACHE:
                shard_of.clear()
            shard = shard_of[group_id] = self._shard(group_id)
        return shard.get(group_id, default)

    def __getitem__(self, group_id):
        found = self.get(group_id)
        if found is None:
            raise KeyError(group_id)
        return found

    def __setitem__(self, group_id, group):
        self._shard(group_id)[group_id] = group

    def __delitem__(self, group_id):
        del self._shard(group_id)[group_id]

    def __contains__(self, group_id):
        return self.get(group_id) is not None

    def __len__(self):
        return sum(len(shard) for shard in self.shards)

    def __iter__(self):
        return self.keys()

    def keys(self):
        return heapq.merge(*(shard.keys() for shard in self.shards))

    def items(self):
        return heapq.merge(*(shard.items() for shard in self.shards),
                           key=lambda item: item[0])

    def values(self):
        return (group for _, group in self.items())

    def clear(self):
        for shard in self.shards:
            if len(shard):
                shard.clear()


class GoalRegistry(Persistent):
    """All groups of trackers, by group id, in a ``GroupMap``.

    Registries made before the map was sharded keep their single OOBTree
    (same API, more conflicts between writers adding groups).
    """

    # Class defaults for registries from before the history and boards
    # were made with the registry: a read finds None without an
    # AttributeError on the hot path, and the first outcome or board makes
    # them (see history_of and boards_of).
    history = None        # a GoalHistory (history.py)
    leaderboards = None   # name -> Leaderboard (leaderboard.py)
    # The index of due times (due.py); None in registries from before it,
    # until ``due.build`` (the first full tick, or upgrade_registry).
    due = None

    def __init__(self, shards=GROUP_SHARDS):
        self.groups = GroupMap(shards)
        self.due = DueIndex(shards)
        # Made now, not by the first outcome or board: two writers
        # reaching their first outcome at once would both make one, and
        # one of them would have to retry.
        self.history = GoalHistory()
        self.leaderboards = OOBTree()

    def __repr__(self):
        return "<GoalRegistry (%d groups)>" % len(self.groups)

    def get(self, group_id):
        return self.groups.get(group_id)

    def setdefault(self, group_id):
        group = self.groups.get(group_id)
        if group is None:
            groups = self.groups
            if type(groups) is OOBTree and self._p_jar is not None:
                # A single-tree registry that upgrade_registry may be
                # converting right now: if it committed first, this
                # transaction must retry into the new map (see upgrade.py).
                self._p_jar.readCurrent(self)
            group = groups[group_id] = GoalGroup(group_id)
        return group

    def prune(self, group_id):
        """Forget the group if it holds no trackers any more."""
        group = self.groups.get(group_id)
        if group is not None and not len(group):
            del self.groups[group_id]

    def clear(self):
        self.groups.clear()
        if self.due is not None:
            self.due.clear()

"""When time alone will next change a group: the index ``tick`` reads.

The rule: for every group, the index holds exactly one entry, the
earliest ``due_at()`` of the group's trackers (an expiry time, a live
tracker's deadline, the end of a period tracker's open period; ``ALWAYS``
for a live composite, which follows components that may move anywhere),
or none if no tracker has one.  ``tick`` visits the groups whose entry is
at or before its time and nothing else, so a tick over 100,000 groups of
which 100 are due reads about 100 groups, not 100,000.

Every change that can move a group's earliest time calls ``refresh`` for
that group in the same transaction: adding, replacing, removing,
resetting, granting and revoking trackers (``bookkeeping``), an item that
completes a tracker or moves a period tracker (``evaluation``), a backfill,
and the tick itself after it visited a group.  ``refresh`` computes the
group's time from its trackers and rewrites the entry only when it moved,
so an abort drops it with the rest of the transaction and most items write
nothing here.

Like the groups (``registry.GroupMap``), the entries are spread over
shards by a stable hash of the group id: writers of different groups
touch different trees, and within one shard a BTree's buckets merge
concurrent inserts of different keys.  Each shard keeps both directions,
``(time, group id)`` in time order for ``tick`` and group id -> time to
find a group's old entry.

Registries made before this index have none (``GoalRegistry.due`` is
None): ``build`` makes it (the first full ``tick`` does, or
``upgrade.upgrade_registry``); until then ``tick`` visits every group as
it always did.
"""

import zlib

from BTrees.OOBTree import OOBTree
from BTrees.OOBTree import OOTreeSet
from persistent import Persistent

__all__ = ["ALWAYS", "DueIndex", "group_due", "refresh", "build"]

#: The due time of a tracker that ``tick`` must see at every call (a live
#: composite, a time-driven tracker that cannot say when it is due).
ALWAYS = float("-inf")


class DueShard(Persistent):
    """The entries of the groups whose id hashes to one shard."""

    def __init__(self):
        self.times = OOTreeSet()   # (due time, group id)
        self.of = OOBTree()        # group id -> due time


class DueIndex(Persistent):
    """Group id -> the earliest time ``tick`` can change the group.

    Times are seconds since the epoch (UTC) or ``ALWAYS``.  This record
    never changes after it is made; writers change the shards.
    """

    def __init__(self, shards):
        if isinstance(shards, bool) or not isinstance(shards, int) \
                or shards < 1:
            raise ValueError("shards must be a positive int, got %r"
                             % (shards,))
        self.shards = tuple(DueShard() for _ in range(shards))

    def __repr__(self):
        return "<DueIndex (%d shards)>" % len(self.shards)

    def __len__(self):
        return sum(len(shard.of) for shard in self.shards)

    def _shard(self, group_id):
        # crc32, as GroupMap: stable across processes.
        return self.shards[zlib.crc32(group_id.encode("utf-8"))
                           % len(self.shards)]

    def get(self, group_id):
        """The group's indexed time, or None."""
        return self._shard(group_id).of.get(group_id)

    def set(self, group_id, due):
        """Index *group_id* at *due* (None: take it out).  True if the
        entry changed; nothing is written when it did not."""
        shard = self._shard(group_id)
        old = shard.of.get(group_id)
        if old == due:
            return False
        if old is not None:
            shard.times.remove((old, group_id))
        if due is None:
            del shard.of[group_id]
        else:
            shard.times.insert((due, group_id))
            shard.of[group_id] = due
        return True

    def due(self, now):
        """The ids of the groups indexed at or before *now*, sorted."""
        found = []
        for shard in self.shards:
            for due, group_id in shard.times:
                if due > now:
                    break
                found.append(group_id)
        found.sort()
        return found

    def items(self):
        """``(group id, time)`` of every entry, by group id."""
        return sorted(item for shard in self.shards
                      for item in shard.of.items())

    def clear(self):
        for shard in self.shards:
            if len(shard.of):
                shard.times.clear()
                shard.of.clear()


def group_due(group):
    """The earliest ``due_at()`` of *group*'s trackers, or None."""
    found = None
    for pool in (group.live, group.done):
        for tracker in pool.values():
            due = tracker.due_at()
            if due is not None and (found is None or due < found):
                found = due
    return found


def refresh(registry, group_id):
    """Bring the entry of *group_id* in line with its trackers now.

    On a registry without an index (made before it), this only asks the
    connection to check at commit that the registry is still current, so
    a change that races ``build`` is retried into the new index instead
    of being left out of it.
    """
    index = registry.due
    if index is None:
        jar = registry._p_jar
        if jar is not None:
            jar.readCurrent(registry)
        return False
    group = registry.groups.get(group_id)
    return index.set(group_id, None if group is None else group_due(group))


def build(registry, shards):
    """Make the index of a registry that has none, from every group.

    Every record the times are read from is marked read-current: a writer
    that changed one of them meanwhile makes this transaction conflict
    (and the caller retry), so no group is indexed by a stale time.
    Writers that come after see the index and keep it (see ``refresh``).
    """
    index = DueIndex(shards)
    jar = registry._p_jar
    for group_id, group in registry.groups.items():
        due = group_due(group)
        if jar is not None:
            _read_current(jar, group)
        if due is not None:
            index.set(group_id, due)
    registry.due = index
    return index


def _read_current(jar, group):
    # Loaded first: a ghost has no serial yet, and readCurrent ignores it.
    for record in [group] + [record for pool in (group.live, group.done)
                             for tracker in pool.values()
                             for record in tracker.due_records()]:
        if getattr(record, "_p_jar", None) is jar:
            record._p_activate()
            jar.readCurrent(record)

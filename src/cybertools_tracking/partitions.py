"""Structures that keep concurrent writers apart.

``PartitionedLength`` counts in slots by number; ``ShardedTree`` spreads
keys over shards by a stable hash (see ``index``); ``MemberSet`` is a
small set that writers adding to it at once merge. ``PartitionedTree``
held the tracks by number before the row layout; it stays so that such
databases load and convert (see ``upgrade``). Why it was partitioned:

Every writer appends: its new tracks go to the end of the tree. In a
single LOBTree, two processes appending at once split the same buckets
and rewrite the same internal node, and BTrees cannot merge those
changes: one of the two commits fails with a ConflictError. Here the
numbers ``p * PARTITION`` to ``(p + 1) * PARTITION - 1`` live in a tree
of their own. A process takes its numbers in whole partitions (see
``ids``), so two processes never append to the same tree; the top tree
only gains a key when a partition starts, and adding different keys to
one bucket is a change BTrees do merge.
"""

from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from persistent import Persistent

__all__ = ['MemberSet', 'PARTITION', 'PartitionedLength', 'PartitionedTree',
           'SHARDS', 'ShardedTree']

PARTITION = 1000


class PartitionedTree(Persistent):
    """A mapping of int -> object with the part of the LOBTree API that a
    TrackingStorage uses, iterated in key order."""

    def __init__(self):
        self._partitions = LOBTree()

    def _tree(self, key, create=False):
        tree = self._partitions.get(key // PARTITION)
        if tree is None and create:
            tree = self._partitions[key // PARTITION] = LOBTree()
        return tree

    def get(self, key, default=None):
        tree = self._partitions.get(key // PARTITION)
        return default if tree is None else tree.get(key, default)

    def __getitem__(self, key):
        tree = self._partitions.get(key // PARTITION)
        if tree is None:
            raise KeyError(key)
        return tree[key]

    def __contains__(self, key):
        tree = self._partitions.get(key // PARTITION)
        return tree is not None and key in tree

    def __setitem__(self, key, value):
        self._tree(key, create=True)[key] = value

    def __delitem__(self, key):
        tree = self._tree(key)
        if tree is None:
            raise KeyError(key)
        del tree[key]
        # An emptied partition stays: removing it would rewrite the top
        # tree, and numbers are never reused anyway.

    def pop(self, key, *default):
        tree = self._tree(key)
        if tree is None or key not in tree:
            if default:
                return default[0]
            raise KeyError(key)
        return tree.pop(key)

    def keys(self):
        for tree in self._partitions.values():
            yield from tree.keys()

    def values(self):
        for tree in self._partitions.values():
            yield from tree.values()

    def items(self):
        for tree in self._partitions.values():
            yield from tree.items()


class PartitionedLength(Persistent):
    """A count of numbered things, in one Length per slot of partitions.

    A single Length that every writer changes is rewritten by every
    commit: it resolves the conflicts, but each one costs a resolution
    (on the ZEO server, in its commit lock) and a reload in every other
    connection. Here a change goes to the slot of the number's partition;
    writers number from partitions of their own (see ``ids``), so they
    mostly change different records. Counting reads every slot. This
    object itself is written once.
    """

    SLOTS = 16

    def __init__(self):
        self._slots = tuple(Length() for _ in range(self.SLOTS))

    def change(self, num, delta):
        """Add ``delta`` to the count, for the thing numbered ``num``."""
        self._slots[num // PARTITION % len(self._slots)].change(delta)

    def __call__(self):
        return sum(slot() for slot in self._slots)


SHARDS = 64


class ShardedTree(Persistent):
    """A mapping spread over OOBTrees (``shards`` of them, SHARDS by
    default) by a stable hash of the key.

    For keys that many writers add at once in no particular order (new
    (task, run, user) combinations): in one OOBTree they would split the
    same buckets; here two writers adding different keys mostly touch
    different trees. The shards are made up front, so this object itself
    is written once; a tree keeps the number of shards it was made with
    (the hash picks among ``len(self._shards)``), so trees made with
    another default go on working. Iteration is per shard, not in key
    order.

    Subclasses say how a key picks its shard (``shard_of``); it must give
    the same answer in every process, so not ``hash()``.
    """

    def __init__(self, shards=None):
        shards = SHARDS if shards is None else shards
        if isinstance(shards, bool) or not isinstance(shards, int) \
                or shards < 1:
            raise ValueError('shards must be a positive int, got %r'
                             % (shards,))
        self._shards = tuple(self._newShard() for _ in range(shards))

    @staticmethod
    def _newShard():
        """An empty shard (an OOBTree; subclasses may choose a subclass
        with other bucket sizes)."""
        from BTrees.OOBTree import OOBTree
        return OOBTree()

    @staticmethod
    def shard_of(key):
        raise NotImplementedError

    def _tree(self, key):
        shards = self._shards
        return shards[self.shard_of(key) % len(shards)]

    def get(self, key, default=None):
        return self._tree(key).get(key, default)

    def __getitem__(self, key):
        return self._tree(key)[key]

    def __setitem__(self, key, value):
        self._tree(key)[key] = value

    def __delitem__(self, key):
        del self._tree(key)[key]

    def __contains__(self, key):
        return key in self._tree(key)

    def keys(self):
        for tree in self._shards:
            yield from tree.keys()

    def items(self):
        for tree in self._shards:
            yield from tree.items()

    def clear(self):
        for tree in self._shards:
            tree.clear()


class MemberSet(Persistent):
    """A small set of keys of one kind (the runs of a task, the tasks of a
    run), sorted, in a record of its own.

    Why not an LLTreeSet or OOTreeSet: the writers that save the first
    tracks of a new run at once all add the same run to its task's set,
    and BTrees refuse two inserts of one key as a conflict. Adding and
    removing members merge here (whatever one side added or removed is
    added or removed in the other side's state), so such writers do not
    retry. The sets stay small: a task's runs, a run's tasks.
    """

    members = ()     # sorted tuple

    def add(self, member):
        if member not in self.members:
            self.members = tuple(sorted(self.members + (member,)))

    def remove(self, member):
        if member not in self.members:
            raise KeyError(member)
        self.members = tuple(m for m in self.members if m != member)

    def __contains__(self, member):
        return member in self.members

    def __iter__(self):
        return iter(self.members)

    def __len__(self):
        return len(self.members)

    def keys(self):
        return self.members

    def _p_resolveConflict(self, oldState, savedState, newState):
        old, saved, new = (set((state or {}).get('members', ()))
                           for state in (oldState, savedState, newState))
        merged = (saved | (new - old)) - (old - new)
        return {'members': tuple(sorted(merged))}

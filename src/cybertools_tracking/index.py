"""The indexes of a tracking storage beside its tracks, built on BTrees.

The metadata need no index of their own: the tracks are filed by
combination and second (see ``store``). Here:

``FieldIndex``
    A value -> track numbers index for the extra attributes a track class
    declares.
``CombinationTree``, ``UserTree``
    Sharded maps by combination and by user (see ``partitions``).
``Prefix``
    A query value for "every string that starts with this".
"""

import zlib

from BTrees.LLBTree import LLTreeSet, multiunion
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from cybertools_tracking.partitions import ShardedTree
from cybertools_tracking.validation import InvalidTypeError, shorten
from cybertools_tracking.validation import check_index_value, index_kind

__all__ = ['CombinationShard', 'CombinationTree', 'FieldIndex', 'Prefix', 'UserTree']


class Prefix(str):
    """A query value meaning "every string that starts with this"."""

    def matching(self, tree):
        """Yield the keys of ``tree`` (string keys) that start with self."""
        for part in getattr(tree, '_shards', (tree,)):
            for key in part.keys(min=str(self)):
                if not key.startswith(self):
                    break
                yield key


# Values of a ts -> nums tree grow from a bare int to a tuple (both kept
# inline in the bucket's record) and only past this size to an LLTreeSet,
# a record of its own. Most seconds of most keys hold one or a few tracks.
INLINE_MAX = 32


def _add_num(tree, key, num):
    """Add ``num`` under ``key`` in a key -> nums tree."""
    current = tree.get(key)
    if current is None:
        tree[key] = num
    elif isinstance(current, int):
        if current != num:
            tree[key] = (current, num) if current < num else (num, current)
    elif isinstance(current, tuple):
        if num not in current:
            if len(current) < INLINE_MAX:
                tree[key] = tuple(sorted(current + (num,)))
            else:
                tree[key] = LLTreeSet(current + (num,))
    else:
        current.add(num)


def _remove_num(tree, key, num):
    current = tree.get(key)
    if current is None:
        return
    if isinstance(current, int):
        if current == num:
            del tree[key]
        return
    if num not in current:
        return
    if isinstance(current, tuple):
        rest = tuple(n for n in current if n != num)
    else:
        current.remove(num)
        if len(current) > INLINE_MAX:
            return
        rest = tuple(current)
    tree[key] = rest[0] if len(rest) == 1 else rest


def _union(values):
    """An LLSet of the numbers in values of a key -> nums tree."""
    return multiunion([LLTreeSet(v) if isinstance(v, tuple) else v
                       for v in values])


class CombinationShard(OOBTree):
    """One shard of a CombinationTree: an OOBTree with buckets of up to
    60 keys instead of 30.

    Its keys sort by task first, so a user's ~20 combinations are spread
    over the whole shard, and a read of one user's tracks loads nearly
    every bucket of the user's shard to find their trees: with 30 keys a
    bucket that was 10-16 records at 1M tracks (~300 combinations a
    shard). Fewer, bigger buckets are fewer records for that read, but
    every cold lookup of one combination (a last track) unpickles a whole
    bucket, a persistent reference per key: with 120 keys a cold last
    track took 220-290 µs instead of 130-140 (benchmarks/RESULTS.md,
    2026-11-30, "reads of issue 8"); 60 is between. A bucket is rewritten
    only when a combination appears or goes. Shards written before this
    class are plain OOBTrees and keep working (``upgrade`` renews them).
    """

    max_leaf_size = 60


class CombinationTree(ShardedTree):
    """(taskId, runId, userName) -> that combination's tracks, sharded
    by user so that concurrent writers rarely share a bucket."""

    _newShard = CombinationShard

    def values(self):
        for tree in self._shards:
            yield from tree.values()

    def oldShards(self):
        """How many shards are plain OOBTrees (written before
        CombinationShard)."""
        return sum(1 for tree in self._shards
                   if type(tree) is not CombinationShard)

    def renewShards(self, limit=None):
        """Copy up to ``limit`` old shards (all for None) into
        CombinationShards; return how many were copied."""
        shards, count = list(self._shards), 0
        for i, tree in enumerate(shards):
            if type(tree) is not CombinationShard and (
                    limit is None or count < limit):
                shards[i] = CombinationShard(tree)
                count += 1
        if count:
            self._shards = tuple(shards)
        return count

    def renewValues(self, renew, limit=None):
        """Replace up to ``limit`` values (all for None) by what
        ``renew(value)`` makes of them (None: keep the value); return
        (replaced, True if it stopped at ``limit`` before the end)."""
        count = 0
        for tree in self._shards:
            for key, value in list(tree.items()):
                if limit is not None and count >= limit:
                    return count, True
                new = renew(value)
                if new is not None:
                    tree[key] = new
                    count += 1
        return count, False

    @staticmethod
    def shard_of(key):
        return zlib.crc32(key[2].encode('utf-8'))


class UserTree(ShardedTree):
    """userName -> its combinations, sharded: new users keep coming."""

    @staticmethod
    def shard_of(key):
        return zlib.crc32(key.encode('utf-8'))


class CompositeIndex(Persistent):
    """The index of the layout before rows (one record per track): kept so
    that databases written then still load; ``upgrade`` converts them and
    removes it. It has no behaviour of its own any more."""


class FieldIndex(Persistent):
    """Track numbers by the value of one extra attribute.

    All values of one index are of one kind, strings or numbers, so that
    the BTree can always compare them; the kind is fixed by the first
    value indexed.
    """

    kind = None

    def __init__(self, name):
        self.name = name
        self._fwd = OOBTree()    # value -> num or LLTreeSet
        self._rev = LOBTree()    # num -> value

    def check(self, value):
        """Raise a ValidationError unless ``value`` (not None) fits this
        index (see ``validation.check_index_value``)."""
        check_index_value(self.name, value, self.kind)

    def index(self, num, value):
        old = self._rev.get(num)
        if old is not None:
            if old == value and type(old) is type(value):
                return
            _remove_num(self._fwd, old, num)
            del self._rev[num]
        if value is None:
            return
        kind = check_index_value(self.name, value, self.kind)
        if self.kind is None:
            self.kind = kind
        _add_num(self._fwd, value, num)
        self._rev[num] = value

    def unindex(self, num):
        self.index(num, None)

    def clear(self):
        self._fwd.clear()
        self._rev.clear()
        self.kind = None

    def values(self):
        """(num, value) of every indexed track, by number."""
        return self._rev.items()

    def verify(self, problem, expected):
        """Report (``problem(text, *args)``) where this index disagrees
        with ``expected`` ({num: value}, None for no value) or with
        itself."""
        for num, value in expected.items():
            if self._rev.get(num) != value:
                problem('track %d: index %r holds %r, the track %r', num,
                        self.name, self._rev.get(num), value)
        for num, value in self._rev.items():
            if num not in expected:
                problem('index %r lists track %d, which is not there',
                        self.name, num)
            hit = self._fwd.get(value)
            if not (hit == num if isinstance(hit, int)
                    else hit is not None and num in hit):
                problem('index %r misses track %d under %r', self.name,
                        num, value)

    def apply(self, values):
        """The numbers (an LLTreeSet) whose value is one of ``values``."""
        found = []
        for value in values:
            if isinstance(value, Prefix):
                if self.kind not in (None, 'string'):
                    raise InvalidTypeError(
                        'prefix query %s on index %r, which holds numbers'
                        % (shorten(value + '*'), self.name))
                found.extend(self._fwd[key]
                             for key in Prefix.matching(value, self._fwd))
            elif self.kind is None or index_kind(value) == self.kind:
                hit = self._fwd.get(value)
                if hit is not None:
                    found.append(hit)
        return _union(found)

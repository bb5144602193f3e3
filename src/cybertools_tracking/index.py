"""The indexes of a tracking storage, built on BTrees.

Two kinds:

``CompositeIndex``
    The index every storage has. It keeps, for each combination
    (taskId, runId, userName), the set of ``(timeStamp, num)`` pairs of its
    tracks, so that a user's tracks and last track are found by reading
    one small tree and nothing else. Three small maps from a task, a run or
    a user to its combinations answer the metadata queries, and a time map
    answers queries by time alone.

``FieldIndex``
    A value -> track numbers index for the extra attributes a track class
    declares.

Why combinations: a write then changes one combination's set (plus the
tail of the time map, which new tracks append to), instead of one set
per indexed attribute. The maps from task, run or user to combinations
change only when a combination appears or disappears, which is rare.
Fewer records touched per track is what makes ZODB writes fast.
"""

from BTrees.LLBTree import LLTreeSet, multiunion
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree, OOTreeSet
from BTrees.OOBTree import intersection as oo_intersection
from BTrees.OOBTree import union as oo_union
from persistent import Persistent

__all__ = ['CompositeIndex', 'FieldIndex', 'Prefix', 'MAXNUM']

MAXNUM = 2 ** 63 - 1
MINNUM = -MAXNUM - 1

DIMENSIONS = ('taskId', 'runId', 'userName')


class Prefix(str):
    """A query value meaning "every string that starts with this"."""

    def matching(self, tree):
        """Yield the keys of ``tree`` (string keys) that start with self."""
        for key in tree.keys(min=str(self)):
            if not key.startswith(self):
                break
            yield key


def _add_num(tree, key, num):
    """Add ``num`` under ``key`` in a value -> int-or-LLTreeSet tree.

    A single number is stored bare: most keys (a second, an attribute
    value) have one track, and a bare int costs no record of its own.
    """
    current = tree.get(key)
    if current is None:
        tree[key] = num
    elif isinstance(current, int):
        if current != num:
            tree[key] = LLTreeSet((current, num))
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
    if num in current:
        current.remove(num)
    if len(current) == 1:
        tree[key] = current.minKey()
    elif not current:
        del tree[key]


class CompositeIndex(Persistent):
    """Tracks by (taskId, runId, userName), each ordered by (ts, num)."""

    def __init__(self):
        self._postings = OOBTree()    # (task, run, user) -> OOTreeSet((ts, num))
        self._byTask = OOBTree()      # taskId -> OOTreeSet of combinations
        self._byRun = LOBTree()       # runId -> OOTreeSet of combinations
        self._byUser = OOBTree()      # userName -> OOTreeSet of combinations
        self._time = LOBTree()        # ts -> num or LLTreeSet of nums
        # num -> (task, run, user, ts): what a track is indexed under, so
        # that a track changed behind the index's back can still be
        # unindexed exactly, and times are known without loading tracks.
        self._rev = LOBTree()

    # writing

    def insert(self, key, ts, num):
        if num in self._rev:
            self.remove(num)
        self._rev[num] = key + (ts,)
        postings = self._postings.get(key)
        if postings is None:
            postings = self._postings[key] = OOTreeSet()
            for tree, value in zip(self._dimensionTrees(), key):
                combos = tree.get(value)
                if combos is None:
                    combos = tree[value] = OOTreeSet()
                combos.add(key)
        postings.add((ts, num))
        _add_num(self._time, ts, num)

    def remove(self, num):
        entry = self._rev.pop(num, None)
        if entry is None:
            return
        key, ts = entry[:3], entry[3]
        postings = self._postings.get(key)
        if postings is not None and (ts, num) in postings:
            postings.remove((ts, num))
            if not postings:
                del self._postings[key]
                for tree, value in zip(self._dimensionTrees(), key):
                    combos = tree[value]
                    combos.remove(key)
                    if not combos:
                        del tree[value]
        _remove_num(self._time, ts, num)

    def clear(self):
        for tree in ((self._postings, self._time, self._rev)
                     + self._dimensionTrees()):
            tree.clear()

    def _dimensionTrees(self):
        return (self._byTask, self._byRun, self._byUser)

    # reading

    def entry(self, num):
        """``(taskId, runId, userName, ts)`` the track is indexed under."""
        return self._rev.get(num)

    def __len__(self):
        return len(self._rev)

    def last(self, key):
        """The number of the combination's last track, or None."""
        postings = self._postings.get(key)
        if not postings:
            return None
        return postings.maxKey()[1]

    def nums(self, key):
        """The numbers of the combination's tracks, ascending."""
        postings = self._postings.get(key)
        if not postings:
            return []
        return sorted(num for ts, num in postings)

    def taskIds(self):
        return list(self._byTask.keys())

    def userNames(self, taskId):
        combos = self._byTask.get(taskId)
        if not combos:
            return []
        return sorted({key[2] for key in combos})

    def combinations(self, taskId=None):
        """All (taskId, runId, userName) keys, or those of one task."""
        if taskId is None:
            return list(self._postings.keys())
        return list(self._byTask.get(taskId, ()))

    def select(self, criteria, timeFrom=None, timeTo=None):
        """Return ``(ts, num)`` pairs matching the criteria.

        ``criteria`` maps dimension names to lists of exact values or
        ``Prefix`` objects; the lists are ORed, the dimensions ANDed.
        Without dimension criteria, the time map answers alone.
        """
        if not criteria:
            return self._selectByTime(timeFrom, timeTo)
        combos = None
        for dim, values in sorted(criteria.items(),
                                  key=lambda item: len(item[1])):
            tree = self._dimensionTrees()[DIMENSIONS.index(dim)]
            found = None
            for value in values:
                keys = (Prefix.matching(value, tree)
                        if isinstance(value, Prefix) else (value,))
                for k in keys:
                    found = oo_union(found, tree.get(k))
            combos = found if combos is None else oo_intersection(combos, found)
            if not combos:
                return []
        lo = (MINNUM if timeFrom is None else timeFrom, MINNUM)
        hi = (MAXNUM if timeTo is None else timeTo, MAXNUM)
        result = []
        for key in combos:
            result.extend(self._postings[key].keys(min=lo, max=hi))
        return result

    def _selectByTime(self, timeFrom, timeTo):
        result = []
        for ts, nums in self._time.items(min=timeFrom, max=timeTo):
            if isinstance(nums, int):
                result.append((ts, nums))
            else:
                result.extend((ts, num) for num in nums)
        return result

    def numsInTimeRange(self, timeFrom=None, timeTo=None):
        return multiunion(list(self._time.values(min=timeFrom, max=timeTo)))


_KINDS = {str: 'string', int: 'number', float: 'number', bool: 'number'}


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
        """Raise TypeError unless ``value`` (not None) fits this index."""
        kind = _KINDS.get(type(value))
        if kind is None:
            raise TypeError('value of index %r must be a string or a number, '
                            'got %r' % (self.name, value))
        if self.kind is not None and kind != self.kind:
            raise TypeError('index %r holds %ss, got %r'
                            % (self.name, self.kind, value))

    def index(self, num, value):
        old = self._rev.get(num)
        if old is not None:
            if old == value and type(old) is type(value):
                return
            _remove_num(self._fwd, old, num)
            del self._rev[num]
        if value is None:
            return
        self.check(value)
        if self.kind is None:
            self.kind = _KINDS[type(value)]
        _add_num(self._fwd, value, num)
        self._rev[num] = value

    def unindex(self, num):
        self.index(num, None)

    def clear(self):
        self._fwd.clear()
        self._rev.clear()
        self.kind = None

    def apply(self, values):
        """The numbers (an LLTreeSet) whose value is one of ``values``."""
        found = []
        for value in values:
            if isinstance(value, Prefix):
                if self.kind not in (None, 'string'):
                    raise TypeError('prefix query %r on index %r, which '
                                    'holds numbers' % (value + '*', self.name))
                found.extend(self._fwd[key]
                             for key in Prefix.matching(value, self._fwd))
            elif (self.kind is None
                  or _KINDS.get(type(value)) == self.kind):
                hit = self._fwd.get(value)
                if hit is not None:
                    found.append(hit)
        return multiunion(found)

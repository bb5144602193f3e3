"""The indexes of a tracking storage, built on BTrees.

Two kinds:

``CompositeIndex``
    The index every storage has. It keeps, for each combination
    (taskId, runId, userName), its tracks' numbers by timestamp, so that a user's tracks and last track are found by reading
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

import zlib

from BTrees.LLBTree import LLTreeSet, multiunion
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent

from cybertools_tracking.partitions import PARTITION, ShardedTree
from cybertools_tracking.validation import InvalidTypeError, shorten
from cybertools_tracking.validation import check_index_value, index_kind

__all__ = ['CompositeIndex', 'FieldIndex', 'Prefix']


DIMENSIONS = ('taskId', 'runId', 'userName')


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


def _max_num(nums):
    if isinstance(nums, int):
        return nums
    if isinstance(nums, tuple):
        return nums[-1]
    return nums.maxKey()


def _union(values):
    """An LLSet of the numbers in values of a key -> nums tree."""
    return multiunion([LLTreeSet(v) if isinstance(v, tuple) else v
                       for v in values])


class CombinationTree(ShardedTree):
    """(taskId, runId, userName) -> that combination's postings, sharded
    by user so that concurrent writers rarely share a bucket."""

    @staticmethod
    def shard_of(key):
        return zlib.crc32(key[2].encode('utf-8'))


class UserTree(ShardedTree):
    """userName -> its combinations, sharded: new users keep coming."""

    @staticmethod
    def shard_of(key):
        return zlib.crc32(key.encode('utf-8'))


class CompositeIndex(Persistent):
    """Tracks by (taskId, runId, userName), each ordered by (ts, num).

    What a new combination writes is kept small, because new combinations
    are where concurrent writers meet: the combination's own postings, its
    user's set, and only for a (task, run) pair never seen before, the two
    small maps between tasks and runs. A task's combinations are not kept
    in a set of their own (every writer would add to it) but found as a
    range in each shard of the postings, which are sorted by task first.
    """

    def __init__(self):
        # (task, run, user) -> LOBTree(ts -> num or LLTreeSet of nums).
        # Keyed by time so that the last track is the maximum key; a bare
        # int per second keeps the common entry at two small ints.
        self._postings = CombinationTree()
        self._byUser = UserTree()     # userName -> OOTreeSet of combinations
        self._taskRuns = OOBTree()    # taskId -> LLTreeSet of its runs
        self._runTasks = LOBTree()    # runId -> OOTreeSet of its tasks
        # One ts -> LLTreeSet(nums) tree per time slot; see _timeSlot.
        self._times = tuple(LOBTree() for _ in range(TIME_SLOTS))

    # writing

    def insert(self, key, ts, num):
        """Index track ``num`` under ``key`` at ``ts``; the track must not
        be indexed already (``remove`` it first)."""
        postings = self._postings.get(key)
        if postings is None:
            postings = self._postings[key] = LOBTree()
            self._addCombination(key)
        _add_num(postings, ts, num)
        tree = self._times[_timeSlot(num)]
        times = tree.get(ts)
        if times is None:
            times = tree[ts] = LLTreeSet()
        times.add(num)

    def _addCombination(self, key):
        taskId, runId, userName = key
        combos = self._byUser.get(userName)
        if combos is None:
            combos = self._byUser[userName] = OOTreeSet()
        combos.add(key)
        runs = self._taskRuns.get(taskId)
        if runs is None:
            runs = self._taskRuns[taskId] = LLTreeSet()
        if runId not in runs:            # read first: most pairs exist
            runs.add(runId)
            tasks = self._runTasks.get(runId)
            if tasks is None:
                tasks = self._runTasks[runId] = OOTreeSet()
            tasks.add(taskId)

    def remove(self, key, ts, num):
        """Remove what ``insert(key, ts, num)`` added; absent is no error."""
        postings = self._postings.get(key)
        if postings is not None:
            _remove_num(postings, ts, num)
            if not postings:
                del self._postings[key]
                self._removeCombination(key)
        tree = self._times[_timeSlot(num)]
        times = tree.get(ts)
        if times is not None and num in times:
            times.remove(num)
            if not times:
                del tree[ts]

    def _removeCombination(self, key):
        taskId, runId, userName = key
        combos = self._byUser[userName]
        combos.remove(key)
        if not combos:
            del self._byUser[userName]
        if not any(True for _ in self._runCombinations(taskId, runId)):
            runs = self._taskRuns[taskId]
            runs.remove(runId)
            if not runs:
                del self._taskRuns[taskId]
            tasks = self._runTasks[runId]
            tasks.remove(taskId)
            if not tasks:
                del self._runTasks[runId]

    def clear(self):
        for tree in ((self._postings, self._byUser, self._taskRuns,
                      self._runTasks) + self._times):
            tree.clear()

    # reading

    def contains(self, key, ts, num):
        """Whether track ``num`` is indexed under ``key`` at ``ts``."""
        postings = self._postings.get(key)
        found = None if postings is None else postings.get(ts)
        return found == num if isinstance(found, int) else (
            found is not None and num in found)

    def locate(self, num, key=None):
        """``(key, ts)`` track ``num`` is indexed under, or None.

        For repairs after a track changed behind the index's back: it
        scans the postings of ``key`` first, then of every combination.
        """
        keys = sorted(self._postings.keys())
        for k in ([key] if key in self._postings else []) + keys:
            for ts, n in _pairs(self._postings[k], None, None):
                if n == num:
                    return k, ts
        return None

    def last(self, key):
        """The number of the combination's last track, or None."""
        postings = self._postings.get(key)
        if not postings:
            return None
        return _max_num(postings[postings.maxKey()])

    def nums(self, key):
        """The numbers of the combination's tracks, ascending."""
        postings = self._postings.get(key)
        if not postings:
            return []
        return list(_union(postings.values()))

    def _range(self, low, high):
        """Combinations from ``low`` (inclusive) to ``high`` (exclusive),
        from every shard."""
        for tree in self._postings._shards:
            yield from tree.keys(min=low, max=high, excludemax=True)

    def _taskCombinations(self, taskId):
        # (taskId,) sorts before every (taskId, ...) key; taskId + '\0'
        # after them (and before any longer task id but one that starts
        # with taskId + '\0', hence the check).
        for key in self._range((taskId,), (taskId + '\x00',)):
            if key[0] == taskId:
                yield key

    def _runCombinations(self, taskId, runId):
        return self._range((taskId, runId), (taskId, runId + 1))

    def taskIds(self):
        return list(self._taskRuns.keys())

    def userNames(self, taskId):
        return sorted({key[2] for key in self._taskCombinations(taskId)})

    def _candidates(self, criteria):
        """Combinations that may match: those of the criterion that names
        the fewest, users first (a set each), then runs, then tasks."""
        if 'userName' in criteria:
            for value in criteria['userName']:
                names = (Prefix.matching(value, self._byUser)
                         if isinstance(value, Prefix) else (value,))
                for name in names:
                    yield from self._byUser.get(name, ())
        elif 'runId' in criteria:
            for runId in criteria['runId']:
                for taskId in self._runTasks.get(runId, ()):
                    yield from self._runCombinations(taskId, runId)
        else:
            for value in criteria['taskId']:
                tasks = (Prefix.matching(value, self._taskRuns)
                         if isinstance(value, Prefix) else (value,))
                for taskId in tasks:
                    yield from self._taskCombinations(taskId)

    def select(self, criteria, timeFrom=None, timeTo=None):
        """Return ``(ts, num)`` pairs matching the criteria.

        ``criteria`` maps dimension names to lists of exact values or
        ``Prefix`` objects; the lists are ORed, the dimensions ANDed.
        Without dimension criteria, the time map answers alone.
        """
        if not criteria:
            return self.timePairs(timeFrom, timeTo)
        tests = [(DIMENSIONS.index(dim), _matcher(values))
                 for dim, values in criteria.items()]
        result = []
        for key in set(self._candidates(criteria)):
            if all(test(key[position]) for position, test in tests):
                result.extend(_pairs(self._postings[key], timeFrom, timeTo))
        return result

    def timePairs(self, timeFrom=None, timeTo=None):
        """(ts, num) of every track in the (inclusive) time range."""
        result = []
        for tree in self._times:
            for ts, nums in tree.items(min=timeFrom, max=timeTo):
                result.extend((ts, num) for num in nums)
        return result


# The time map is written by every writer at the current second. In one
# tree, concurrent writers would append to the same buckets and split them
# (and their parent) together, which BTrees cannot merge. So there are
# TIME_SLOTS trees, made up front, and a track goes to the one of its
# number's partition: processes write their own partitions (see ids), so
# they append to different trees. A time range reads every tree.
TIME_SLOTS = 16


def _timeSlot(num):
    return (num // PARTITION) % TIME_SLOTS


def _matcher(values):
    """A test of one key element against exact values and prefixes."""
    exact = {v for v in values if not isinstance(v, Prefix)}
    prefixes = tuple(str(v) for v in values if isinstance(v, Prefix))
    if not prefixes:
        return exact.__contains__
    return lambda value: value in exact or (
        isinstance(value, str) and value.startswith(prefixes))


def _pairs(tree, timeFrom, timeTo):
    """(ts, num) pairs of a ts -> num-or-set tree within a time range."""
    result = []
    for ts, nums in tree.items(min=timeFrom, max=timeTo):
        if isinstance(nums, int):
            result.append((ts, nums))
        else:
            result.extend((ts, num) for num in nums)
    return result


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

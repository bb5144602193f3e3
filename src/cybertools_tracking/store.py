"""The tracks of a storage, clustered by combination.

A combination is a (taskId, runId, userName) key. Each has one LOBTree,
second -> row group (see ``rows``): that tree is at once the store of the
combination's tracks and their index by time, so a user's last track is
one bucket and a user's ~1,000 tracks are a few dozen records, and a
commit of 1,000 tracks writes tens to a few hundred records, not one per
track. Around the trees:

- the registry, key -> (cid, tree), sharded by user (``CombinationTree``)
  so that writers adding combinations rarely meet; sorted by task first,
  so that a task's combinations are a key range in each shard;
- ``cid``: a 62-bit number per combination, a hash of its key (a
  collision takes the next free number), and cid -> key in ``_keys``
  (slots by cid; the key pickled into one bytes value, see
  ``_packKey``); the location map stores cids, 8 bytes where a key
  would be dozens;
- ``locations``: track number -> (cid, second), see ``locations``;
- user -> combinations, task -> runs and run -> tasks, written only when
  a combination appears or goes, for queries by user, run and task (the
  last two are ``MemberSet`` objects, made when a run of a task starts,
  so that writers adding the new run's first tracks merge; see
  ``runStarted``);
- the time map, second -> numbers, in ``TIME_SLOTS`` trees by partition
  (writers append to different trees), for queries by time alone.

Numbers in a second's rows and in the time map are in ascending order;
of two tracks of a combination in one second the higher number (the
newer track) is the last.
"""

import hashlib
import pickle

from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking.index import (CombinationTree, Prefix, UserTree,
                                       _add_num, _remove_num)
from cybertools_tracking.interfaces import ITrackStore
from cybertools_tracking.locations import LocationMap
from cybertools_tracking.partitions import PARTITION, MemberSet
from cybertools_tracking.rows import own_core, pack, unpack, unpack_plain

__all__ = ['TrackStore', 'RowTree', 'DIMENSIONS']

DIMENSIONS = ('taskId', 'runId', 'userName')
TIME_SLOTS = 16
# Shards of the registry, of the map by user and slots of cid -> key in a
# new store (a store keeps the numbers it was made with: the code reads
# them off the tuples). A new combination inserts into one shard and one
# slot (a new user into one shard by user too), and an insert reads the
# tree's root as current (BTrees do, against concurrent splits): a writer
# whose insert splits a bucket (every 15 to 30 inserts into an OOBTree,
# 30 to 60 into an LOBTree) fails every other writer that inserted into
# the same tree meanwhile. With 64 shards the first splits came at about
# 2,000 combinations, the population of the concurrency benchmark, and
# cost 4 writers on ZEO and on PostgreSQL 10 retries per 1,000 commits
# (benchmarks/RESULTS.md); with 256 they come at about 7,500 (15,000 for
# the slots), and later ones meet a writer in the same tree a quarter as
# often. The price: a new store is 576 more empty records (some 56 kB and
# 20 ms, once), and a query by task alone asks 256 shards.
COMBINATION_SHARDS = 256
USER_SHARDS = 256
KEY_SLOTS = 256
CID_MAX = 2 ** 62


def combination_id(key):
    """The preferred cid of a key: stable across processes."""
    text = '%s\x00%d\x00%s' % key
    digest = hashlib.blake2b(text.encode('utf-8', 'surrogatepass'),
                             digest_size=8).digest()
    return int.from_bytes(digest, 'big') % CID_MAX or 1


class RowTree(LOBTree):
    """A combination's tree, second -> row group, with buckets of up to
    ROW_LEAF seconds instead of an LOBTree's 60.

    A tree of one bucket is one record (the bucket is kept inside the
    tree's); past max_leaf_size seconds it splits into a tree record and
    two or more bucket records. At 1M tracks of 1,000 users a combination
    has ~50 seconds of rows, ~100 at the high end, so with 60 about a
    third of a user's ~20 combinations split and a cold read of the
    user's tracks loaded ~7 records more; with 120 nearly none do. The
    price is a bigger record to rewrite per track when consecutive
    tracks go to different combinations (up to 120 row groups, ~5 kB),
    measured in benchmarks/RESULTS.md (2026-11-30, "reads of issue 8").
    Trees written before this class are plain LOBTrees and keep working
    with buckets of 60."""

    max_leaf_size = 120


def _renewedEntry(entry):
    """A registry entry (cid, tree) with its tree copied into a RowTree,
    or None if it has one."""
    cid, tree = entry
    if type(tree) is RowTree:
        return None
    renewed = RowTree()
    renewed.update(tree)
    return cid, renewed
def _packKey(key):
    """The value of a key in ``_keys``: one bytes value, so that pickling
    the slot's bucket, rewritten for every new combination, sees two
    objects per entry instead of five (ZODB's pickler calls
    ``persistent_id`` for each; in an import that meets new combinations
    all the time, the slots and their buckets were a third of those
    calls). Stores written before keep tuples there; ``_unpackKey`` takes
    both."""
    return pickle.dumps(key, 5)


# Keys unpacked lately, by their bytes (a find by number unpacks one);
# dropped all at once when full, which is cheap and safe with threads.
_unpacked = {}
UNPACKED_MAX = 65536


def _unpackKey(value):
    global _unpacked
    if type(value) is not bytes:
        return value            # None, or a tuple of a store made before
    key = _unpacked.get(value)
    if key is None:
        key = pickle.loads(value)
        if len(_unpacked) >= UNPACKED_MAX:
            _unpacked = {}
        _unpacked[value] = key
    return key


def _timeSlot(num):
    return (num // PARTITION) % TIME_SLOTS


def _numOf(row):
    return row[0]


@implementer(ITrackStore)
class TrackStore(Persistent):
    """See the module docstring. Written once; its parts are records of
    their own."""

    # Row groups are written with marshal where they can be (see rows);
    # stores made before that write pickles, which every version reads,
    # until ``useMarshal`` (the ``upgrade`` command) switches them.
    _marshal = False

    def __init__(self):
        self._marshal = True
        self._combinations = CombinationTree(COMBINATION_SHARDS)
        self._keys = tuple(LOBTree() for _ in range(KEY_SLOTS))
        self._byUser = UserTree(USER_SHARDS)  # userName -> OOTreeSet of keys
        # taskId -> run ids, runId -> task ids (MemberSets; LLTreeSets and
        # OOTreeSets in stores made before); a set may be empty.
        self._taskRuns = OOBTree()
        self._runTasks = LOBTree()
        self._times = tuple(LOBTree() for _ in range(TIME_SLOTS))
        self._locations = LocationMap()

    # combinations

    def keyOf(self, cid):
        keys = self._keys
        return _unpackKey(keys[cid % len(keys)].get(cid))

    def _newCombination(self, key):
        cid = combination_id(key)
        slots = self._keys
        while True:
            keys = slots[cid % len(slots)]
            if keys.get(cid) is None:
                break
            cid = cid % (CID_MAX - 1) + 1       # a collision: the next
        keys[cid] = _packKey(key)
        entry = self._combinations[key] = (cid, RowTree())
        taskId, runId, userName = key
        combos = self._byUser.get(userName)
        if combos is None:
            combos = self._byUser[userName] = OOTreeSet()
        combos.add(key)
        runs = self._taskRuns.get(taskId)
        if runs is None:
            runs = self._taskRuns[taskId] = MemberSet()
        if runId not in runs:            # read first: most pairs exist
            runs.add(runId)
            tasks = self._runTasks.get(runId)
            if tasks is None:
                tasks = self._runTasks[runId] = MemberSet()
            tasks.add(taskId)
        return entry

    @property
    def rowEncoding(self):
        """'marshal' or 'pickle': how row groups are written (see rows)."""
        return 'marshal' if self._marshal else 'pickle'

    def useMarshal(self):
        """Write row groups with marshal from now on (see rows); return
        whether that changed anything. Processes of versions before
        marshal rows cannot read what is written then."""
        if self._marshal:
            return False
        self._marshal = True
        return True

    def runStarted(self, taskId, runId):
        """Make the (empty) sets the first tracks of run ``runId`` of
        ``taskId`` will be listed in: then the writers that save those
        tracks at once only add to the sets, which merges, instead of
        each making the sets, which conflicts. Called in the transaction
        that starts the run (which conflicts with another start anyway)."""
        if self._taskRuns.get(taskId) is None:
            self._taskRuns[taskId] = MemberSet()
        if self._runTasks.get(runId) is None:
            self._runTasks[runId] = MemberSet()

    def _dropCombination(self, key, cid):
        del self._combinations[key]
        del self._keys[cid % len(self._keys)][cid]
        taskId, runId, userName = key
        combos = self._byUser[userName]
        combos.remove(key)
        if not combos:
            del self._byUser[userName]
        if not any(True for _ in self._runCombinations(taskId, runId)):
            # Emptied sets stay (``taskIds`` skips them): the next first
            # tracks of the pair only add to them.
            self._taskRuns[taskId].remove(runId)
            self._runTasks[runId].remove(taskId)

    # rows

    def add(self, key, ts, num, data, extras=None):
        """File a new row for track ``num`` under ``key`` at ``ts``."""
        entry = self._combinations.get(key)
        if entry is None:
            entry = self._newCombination(key)
        cid, tree = entry
        row = (num, data, extras)
        group = tree.get(ts)
        if group is None:
            tree[ts] = pack((row,), self._marshal)
        else:
            rows = unpack_plain(group)
            if rows[-1][0] < num:
                rows = rows + (row,)
            else:
                rows = tuple(sorted(rows + (row,), key=_numOf))
            tree[ts] = pack(rows, self._marshal)
        self._locations.set(num, cid, ts)
        _add_num(self._times[_timeSlot(num)], ts, num)

    def find(self, num):
        """(key, ts, row) of track ``num``, or None."""
        location = self._locations.get(num)
        if location is None:
            return None
        cid, ts = location
        key = self.keyOf(cid)
        entry = None if key is None else self._combinations.get(key)
        group = None if entry is None else entry[1].get(ts)
        if group is None:
            return None
        for row in unpack(group):
            if row[0] == num:
                return key, ts, row
        return None

    def __contains__(self, num):
        return self._locations.get(num) is not None

    def rewrite(self, key, ts, num, data, extras):
        """Replace the row of track ``num`` (filed under key and ts)."""
        tree = self._combinations[key][1]
        tree[ts] = pack(tuple((num, data, extras) if row[0] == num else row
                              for row in unpack_plain(tree[ts])),
                        self._marshal)

    def take(self, key, ts, num):
        """Remove the row of track ``num`` filed under key and ts, with
        its location and time entry."""
        self._dropRow(key, ts, num)
        self._locations.remove(num)
        _remove_num(self._times[_timeSlot(num)], ts, num)

    def _dropRow(self, key, ts, num):
        cid, tree = self._combinations[key]
        rows = tuple(row for row in unpack_plain(tree[ts]) if row[0] != num)
        if rows:
            tree[ts] = pack(rows, self._marshal)
        else:
            del tree[ts]
            if not tree:
                self._dropCombination(key, cid)

    def dropRow(self, num):
        """Remove track ``num``'s row and nothing else: its location,
        time entry and count stay. Only for repair tools and the tests of
        ``check``, which must find what this breaks."""
        found = self.find(num)
        if found is None:
            raise KeyError(num)
        key, ts, row = found
        self._dropRow(key, ts, num)
        return row

    def clear(self):
        for tree in ((self._combinations, self._byUser, self._taskRuns,
                      self._runTasks, self._locations) + self._keys
                     + self._times):
            tree.clear()

    # reading

    def last(self, key):
        """(ts, row) of the combination's last track, or None."""
        entry = self._combinations.get(key)
        if entry is None or not entry[1]:
            return None
        tree = entry[1]
        ts = tree.maxKey()
        return ts, unpack(tree[ts])[-1]

    def groups(self, key, timeFrom=None, timeTo=None):
        """(ts, rows) of the combination within the (inclusive) range."""
        entry = self._combinations.get(key)
        if entry is None:
            return
        for ts, group in entry[1].items(min=timeFrom, max=timeTo):
            yield ts, unpack(group)

    def stored(self, key, timeFrom=None, timeTo=None):
        """(ts, stored value) of the combination's row groups within the
        (inclusive) range, not decoded: for a reader of many that decodes
        each when it needs it (``rows.numbers_of``, ``rows.unpack_once``).
        """
        entry = self._combinations.get(key)
        if entry is None:
            return iter(())
        return entry[1].items(min=timeFrom, max=timeTo)

    def everything(self):
        """(key, ts, rows) of every row group, by combination."""
        for key, (cid, tree) in self._combinations.items():
            for ts, group in tree.items():
                yield key, ts, unpack(group)

    def numbers(self):
        """The numbers of every track, ascending."""
        for num, cid, ts in self._locations.items():
            yield num

    def locations(self):
        """(num, key, ts) of every track, by number."""
        for num, cid, ts in self._locations.items():
            yield num, self.keyOf(cid), ts

    def timePairs(self, timeFrom=None, timeTo=None):
        """(ts, num) of every track filed in the (inclusive) time range."""
        result = []
        for tree in self._times:
            for ts, nums in tree.items(min=timeFrom, max=timeTo):
                if isinstance(nums, int):
                    result.append((ts, nums))
                else:
                    result.extend((ts, num) for num in nums)
        return result

    def _range(self, low, high):
        """Combinations from ``low`` (inclusive) to ``high`` (exclusive),
        from every shard."""
        for tree in self._combinations._shards:
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
        return [taskId for taskId, runs in self._taskRuns.items() if runs]

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

    def combinations(self, criteria):
        """The keys matching ``criteria``: dimension names -> lists of
        exact values or ``Prefix`` objects, the lists ORed, the dimensions
        ANDed (at least one dimension)."""
        tests = [(DIMENSIONS.index(dim), _matcher(values))
                 for dim, values in criteria.items()]
        for key in set(self._candidates(criteria)):
            if all(test(key[position]) for position, test in tests):
                yield key

    # renewing trees written by earlier versions

    def oldTrees(self):
        """How many parts predate the current classes: combination trees
        that are plain LOBTrees, registry shards that are plain OOBTrees
        (see RowTree and index.CombinationShard). They work as they are;
        ``renewTrees`` gives them the bigger buckets."""
        shards = self._combinations.oldShards()
        trees = sum(1 for cid, tree in self._combinations.values()
                    if type(tree) is not RowTree)
        return shards + trees

    def renewTrees(self, limit=None):
        """Copy up to ``limit`` old parts (all for None) into the current
        classes in the current transaction: the registry's shards first,
        then combination trees; return (renewed now, left). The rows keep
        their stored values (the same bytes objects); the old records are
        garbage for the next pack."""
        count = self._combinations.renewShards(limit)
        if limit is not None and count >= limit:
            return count, self.oldTrees() > 0
        more, left = self._combinations.renewValues(
            _renewedEntry, None if limit is None else limit - count)
        return count + more, left

    # checking

    def check(self, problem):
        """Report every disagreement between the parts by calling
        ``problem(text, *args)``; return {num: (key, ts, row)} of the
        rows found, for the caller's own checks."""
        rows = {}
        own_times = {}
        for key, (cid, tree) in self._combinations.items():
            if self.keyOf(cid) != key:
                problem('combination %r has id %d, which names %r', key,
                        cid, self.keyOf(cid))
            if not tree:
                problem('combination %r has an empty tree', key)
            for ts, group in tree.items():
                nums = [row[0] for row in unpack(group)]
                if nums != sorted(set(nums)):
                    problem('the rows of %r at %d are out of order: %r',
                            key, ts, nums)
                for row in unpack(group):
                    num = row[0]
                    if num in rows:
                        problem('track %d is filed twice', num)
                    rows[num] = key, ts, row
                    ownKey, ownTs = own_core(key, ts, row[2])
                    if (ownKey, ownTs) != (key, ts):
                        problem('track %d is missing from the index of %r '
                                'at %r (it is filed under %r at %d)', num,
                                ownKey, ownTs, key, ts)
                    own_times.setdefault(ownTs, set()).add(num)
                    if self._locations.get(num) != (cid, ts):
                        problem('track %d is at %r in the location map, '
                                'not at %r', num, self._locations.get(num),
                                (cid, ts))
        for num, key, ts in self.locations():
            if num not in rows:
                problem('the location map lists track %d in %r at %d, '
                        'which is not there', num, key, ts)
        for slot, keys in enumerate(self._keys):
            for cid, key in keys.items():
                key = _unpackKey(key)
                if cid % len(self._keys) != slot or \
                        self._combinations.get(key, (None,))[0] != cid:
                    problem('combination id %d names %r wrongly', cid, key)
        for text in self._locations.check():
            problem('%s', text)
        self._checkMaps(problem)
        indexed = {}
        for slot, tree in enumerate(self._times):
            for ts, nums in tree.items():
                for num in ((nums,) if isinstance(nums, int) else nums):
                    indexed.setdefault(ts, set()).add(num)
                    if _timeSlot(num) != slot:
                        problem('track %d is in time slot %d', num, slot)
        if indexed != own_times:
            for ts in sorted(set(indexed) | set(own_times)):
                if indexed.get(ts, set()) != own_times.get(ts, set()):
                    problem('the time index at %d lists %s, the tracks are '
                            '%s', ts, sorted(indexed.get(ts, ())),
                            sorted(own_times.get(ts, ())))
        return rows

    def _checkMaps(self, problem):
        keys = set(self._combinations.keys())
        for userName, combos in self._byUser.items():
            if not combos:
                problem('an empty set of combinations for user %r', userName)
            for key in combos:
                if key[2] != userName or key not in keys:
                    problem('%r is listed under user %r wrongly', key,
                            userName)
        for key in keys:
            combos = self._byUser.get(key[2])
            if combos is None or key not in combos:
                problem('%r is not listed under user %r', key, key[2])
        pairs = {key[:2] for key in keys}
        by_task = {(task, run) for task, runs in self._taskRuns.items()
                   for run in runs}
        by_run = {(task, run) for run, tasks in self._runTasks.items()
                  for task in tasks}
        for name, listed in (('tasks', by_task), ('runs', by_run)):
            for pair in sorted(listed - pairs):
                problem('the map of %s lists (task, run) %r, which has no '
                        'tracks', name, pair)
            for pair in sorted(pairs - listed):
                problem('the map of %s misses (task, run) %r', name, pair)


def _matcher(values):
    """A test of one key element against exact values and prefixes."""
    exact = {v for v in values if not isinstance(v, Prefix)}
    prefixes = tuple(str(v) for v in values if isinstance(v, Prefix))
    if not prefixes:
        return exact.__contains__
    return lambda value: value in exact or (
        isinstance(value, str) and value.startswith(prefixes))

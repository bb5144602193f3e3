"""Prototype track layouts for issue 8: measurement groundwork, not the
library.

Each prototype keeps what a TrackingStorage keeps per track (its run, a
count, the checked copy of the data) and answers what the benchmark asks
(a combination's last track, one user's tracks, a track by number, an
update of a combination's last track). The one thing that differs from
the current storage is where a track's bytes live:

``ClusteredRows`` (A)
    per (userName, taskId, runId) an LOBTree ts -> the rows of that second
    as one bytes value (the pickled ``((num, data), ...)``); the
    combination's tree is its index and its store at once. A number ->
    (combination, ts) map in pages of ``LOCATION_ROWS`` numbers finds a
    track by id.
``ArrivalRows`` (B)
    rows in pages by number, in arrival order (one record per
    ``ARRIVAL_ROWS`` numbers), and per combination an LOBTree ts ->
    number(s), as the current composite index keeps them.
``PagedRows`` (C)
    per combination one record holding its newest rows (up to ``tail``)
    packed in a few bytes values, older rows in sealed pages of up to
    ``page`` rows; the same number map as A. ``tail`` is the knob BTrees
    do not have: a bucket's size is fixed per BTree class (60 entries for
    LOBTree), a page's is ours to choose.
``compact`` (H, with B and C)
    moves the rows of B's full arrival pages into a C store: append in
    arrival order, cluster later.

Combinations are keyed (userName, taskId, runId): one user's combinations
are neighbours in one registry bucket, so a user's tracks are one key
range. A second map keyed by task serves task queries; it is written only
when a combination appears.

Why packed bytes: ZODB's pickler calls ``persistent_id`` for every object
in a record, ints and strings included, so a row kept as one bytes value
costs one call, and a page kept as four bytes values costs four, whatever
its size. Rows are pickled (protocol 5) rather than marshalled: the
library's data may hold dates, Decimals and tuples, and a stored format
must outlive the Python version.
"""

import pickle
from array import array
from bisect import bisect_left, bisect_right

from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from cybertools_tracking.track import Run
from cybertools_tracking.validation import check_name, check_timestamp
from cybertools_tracking.validation import copy_data

PARTITION = 1000         # numbers per partition, as partitions.py
BLOCK = 16 * PARTITION   # numbers reserved per write of the counter
# Numbers per location page: a page is 16 bytes a number, rewritten
# whole when one of its tracks moves (an update), so smaller than a
# partition; an import writes a few per commit.
LOCATION_ROWS = 250
ARRIVAL_ROWS = 250       # rows per arrival page (B)
KEY_END = 2 ** 62         # above every number: compact everything


def pack(data):
    return pickle.dumps(data, 5)


unpack = pickle.loads


class Tally(Persistent):
    """A number in a record of its own (runs, combinations, blocks)."""

    value = 0

    def next(self, step=1):
        self.value += step
        return self.value


class _Store(Persistent):
    """What every prototype shares: runs, numbers, the combination
    registry. Subclasses say how a combination keeps its rows."""

    def __init__(self):
        self._runs = OOBTree()        # taskId -> Run (implicit runs)
        self._runIds = Tally()
        self._numbers = Tally()       # the highest number reserved
        self._cids = Tally()
        self._count = Length()
        self._combos = OOBTree()      # (user, task, run) -> rows
        self._byTask = OOBTree()      # (task, run, user) -> cid
        self._keys = LOBTree()        # cid -> (user, task, run)

    def _allocate(self):
        # Numbers from a block held in memory, as ids.py does; the
        # counter is written once per BLOCK numbers.
        if getattr(self, '_v_next', 1) > getattr(self, '_v_end', 0):
            end = self._numbers.next(BLOCK)
            self._v_next, self._v_end = end - BLOCK + 1, end
        num = self._v_next
        self._v_next = num + 1
        return num

    def allocated(self):
        """A number above every number handed out."""
        return getattr(self, '_v_next', self._numbers.value + 1)

    def run_of(self, taskId):
        return self._runs[taskId].id

    def __len__(self):
        return self._count()

    def add(self, taskId, userName, ts, data):
        """Save a track in the task's current run; return its number."""
        taskId = check_name('taskId', taskId)
        userName = check_name('userName', userName)
        ts = check_timestamp(ts)
        data = copy_data(data)
        run = self._runs.get(taskId)
        if run is None:
            run = self._runs[taskId] = Run(self._runIds.next(), taskId, ts)
        key = (userName, taskId, run.id)
        rows = self._combos.get(key)
        if rows is None:
            cid = self._cids.next()
            rows = self._combos[key] = self._newRows(cid)
            self._keys[cid] = key
            self._byTask[(taskId, run.id, userName)] = cid
        num = self._allocate()
        self._insert(rows, ts, num, data)
        run.extendTo(ts)
        self._count.change(1)
        return num

    def _userCombinations(self, userName):
        """(key, rows) of the user's combinations: one key range."""
        return self._combos.items(min=(userName,), max=(userName + '\0',),
                                  excludemax=True)

    def update_last(self, taskId, runId, userName, data, ts):
        """Merge ``data`` into the combination's last track and move it
        to ``ts``; return its number."""
        ts = check_timestamp(ts)
        data = copy_data(data)
        rows = self._combos[(userName, taskId, runId)]
        num, old = self._popLast(rows)
        merged = dict(old)
        merged.update(data)
        self._insert(rows, ts, num, merged)
        run = self._runs[taskId]
        run.extendTo(ts)
        return num


# A: clustered rows, one LOBTree per combination

class ClusteredRows(_Store):
    """See the module docstring (A)."""

    label = 'A clustered rows (LOBTree ts -> rows)'

    def __init__(self):
        super().__init__()
        self._locations = LocationMap()

    def _newRows(self, cid):
        return (cid, LOBTree())

    def _insert(self, rows, ts, num, data):
        cid, tree = rows
        packed = tree.get(ts)
        if packed is None:
            tree[ts] = pack(((num, data),))
        else:
            tree[ts] = pack(tuple(sorted(unpack(packed) + ((num, data),),
                                         key=_first)))
        self._locations.set(num, cid, ts)

    def _popLast(self, rows):
        cid, tree = rows
        ts = tree.maxKey()
        second = unpack(tree[ts])
        if len(second) > 1:
            tree[ts] = pack(second[:-1])
        else:
            del tree[ts]
        return second[-1]

    def last(self, taskId, runId, userName):
        rows = self._combos.get((userName, taskId, runId))
        if rows is None or not rows[1]:
            return None
        tree = rows[1]
        return unpack(tree[tree.maxKey()])[-1]

    def user_rows(self, userName):
        result = []
        for key, (cid, tree) in self._userCombinations(userName):
            for packed in tree.values():
                result.extend(unpack(packed))
        result.sort(key=_first)
        return result

    def get(self, num):
        cid, ts = self._locations.get(num)
        cid, tree = self._combos[self._keys[cid]]
        for n, data in unpack(tree[ts]):
            if n == num:
                return data
        raise KeyError(num)


def _first(row):
    return row[0]


# The number -> location map of A and C

class LocationPage(Persistent):
    """Where LOCATION_ROWS consecutive numbers are: the combination and
    the second of each (0, 0 for none). Two arrays, pickled as two bytes
    values: a record of 4 kB that an import writes a few times per
    commit, since numbers are handed out in order."""

    def __init__(self):
        self.cids = array('q', bytes(8 * LOCATION_ROWS))
        self.tss = array('q', bytes(8 * LOCATION_ROWS))

    def __getstate__(self):
        return (self.cids.tobytes(), self.tss.tobytes())

    def __setstate__(self, state):
        self.cids, self.tss = array('q'), array('q')
        self.cids.frombytes(state[0])
        self.tss.frombytes(state[1])


class LocationMap(Persistent):
    """num -> (cid, ts), in LocationPages of consecutive numbers. The
    pages also hold every track's second in number order, which is what a
    time-range query without other criteria would scan (not measured)."""

    def __init__(self):
        self._pages = LOBTree()

    def set(self, num, cid, ts):
        page = self._pages.get(num // LOCATION_ROWS)
        if page is None:
            page = self._pages[num // LOCATION_ROWS] = LocationPage()
        i = num % LOCATION_ROWS
        if page.cids[i] != cid or page.tss[i] != ts:
            page.cids[i], page.tss[i] = cid, ts
            page._p_changed = True

    def get(self, num):
        page = self._pages[num // LOCATION_ROWS]
        i = num % LOCATION_ROWS
        if not page.cids[i]:
            raise KeyError(num)
        return page.cids[i], page.tss[i]


# Rows packed in arrays and one bytearray (B's pages, C's records)

class _Rows:
    """Rows sorted by (ts, num): the keys in two arrays, each row's packed
    data ending at ``ends[i]`` in one bytearray. Pickled as four bytes
    values, whatever the number of rows."""

    def _initRows(self):
        self._tss, self._nums, self._ends = array('q'), array('q'), array('q')
        self._blob = bytearray()

    def _rowsState(self):
        return (self._tss.tobytes(), self._nums.tobytes(),
                self._ends.tobytes(), bytes(self._blob))

    def _setRowsState(self, tss, nums, ends, blob):
        self._initRows()
        self._tss.frombytes(tss)
        self._nums.frombytes(nums)
        self._ends.frombytes(ends)
        self._blob[:] = blob

    def rowCount(self):
        return len(self._tss)

    def firstKey(self):
        return (self._tss[0], self._nums[0])

    def lastKey(self):
        return (self._tss[-1], self._nums[-1])

    def _position(self, ts, num):
        lo = bisect_left(self._tss, ts)
        hi = bisect_right(self._tss, ts, lo)
        while lo < hi and self._nums[lo] < num:     # ties are few
            lo += 1
        return lo

    def _start(self, i):
        return self._ends[i - 1] if i else 0

    def packedAt(self, i):
        return bytes(self._blob[self._start(i):self._ends[i]])

    def rowAt(self, i):
        """(num, data) of the i-th row."""
        return self._nums[i], unpack(self._blob[self._start(i):self._ends[i]])

    def rows(self):
        start, blob, nums = 0, self._blob, self._nums
        for i, end in enumerate(self._ends):
            yield nums[i], unpack(blob[start:end])
            start = end

    def find(self, ts, num):
        i = self._position(ts, num)
        if i < len(self._tss) and self._tss[i] == ts and self._nums[i] == num:
            return i
        return -1

    def insertPacked(self, ts, num, packed):
        n = len(self._tss)
        # Appending is the common case: rows mostly arrive in order.
        if n and (ts > self._tss[-1]
                  or (ts == self._tss[-1] and num > self._nums[-1])):
            i = n
        else:
            i = self._position(ts, num)
        size = len(packed)
        if i == n:
            self._ends.append(self._start(n) + size)
            self._blob += packed
        else:
            start = self._start(i)
            self._blob[start:start] = packed
            ends = self._ends
            for j in range(i, n):
                ends[j] += size
            ends.insert(i, start + size)
        self._tss.insert(i, ts)
        self._nums.insert(i, num)
        self._p_changed = True

    def removeAt(self, i):
        """Remove the i-th row; return (ts, num, packed)."""
        start, end = self._start(i), self._ends[i]
        packed = bytes(self._blob[start:end])
        del self._blob[start:end]
        ends = self._ends
        for j in range(i + 1, len(ends)):
            ends[j] -= end - start
        del ends[i]
        ts, num = self._tss.pop(i), self._nums.pop(i)
        self._p_changed = True
        return ts, num, packed

    def takeFrom(self, k):
        """Remove the rows from the k-th on; return them as
        [(ts, num, packed)]."""
        start = self._start(k)
        moved = []
        for i in range(k, len(self._tss)):
            moved.append((self._tss[i], self._nums[i],
                          bytes(self._blob[self._start(i):self._ends[i]])))
        del self._tss[k:], self._nums[k:], self._ends[k:]
        del self._blob[start:]
        self._p_changed = True
        return moved

    def takeUntil(self, k):
        """Remove the first k rows; return them as [(ts, num, packed)]."""
        moved = [(self._tss[i], self._nums[i], self.packedAt(i))
                 for i in range(k)]
        cut = self._start(k)
        del self._tss[:k], self._nums[:k], self._ends[:k]
        del self._blob[:cut]
        ends = self._ends
        for j in range(len(ends)):
            ends[j] -= cut
        self._p_changed = True
        return moved


# C: one record per combination with its newest rows, sealed pages

class Page(_Rows, Persistent):
    """Up to ``page`` sealed rows of one combination."""

    def __init__(self):
        self._initRows()

    def __getstate__(self):
        return self._rowsState()

    def __setstate__(self, state):
        self._setRowsState(*state)


class Combination(_Rows, Persistent):
    """A combination's rows: the newest (the tail) in this record, older
    ones in sealed pages, every page's rows before every tail row.

    The pages are a tuple of references with their first keys in an array,
    both in this record: a combination of fewer than ``tail`` rows is one
    record, one of thousands is this record and a few pages. (Past some
    hundred pages the tuple would want to be a tree; not needed here.)
    """

    def __init__(self, cid):
        self.cid = cid
        self._pages = ()
        self._pageKeys = array('q')    # ts, num of each page's first row
        self._initRows()

    def __getstate__(self):
        return (self.cid, self._pages, self._pageKeys.tobytes()) \
            + self._rowsState()

    def __setstate__(self, state):
        self.cid, self._pages = state[0], state[1]
        self._pageKeys = array('q')
        self._pageKeys.frombytes(state[2])
        self._setRowsState(*state[3:])

    def _pageIndex(self, ts, num):
        """The page a row (ts, num) older than the tail belongs to."""
        keys = self._pageKeys
        firsts = [(keys[2 * i], keys[2 * i + 1])
                  for i in range(len(self._pages))]
        return max(bisect_right(firsts, (ts, num)) - 1, 0)

    def _inTail(self, ts, num):
        if not self._pages:
            return True
        if self.rowCount():
            return (ts, num) >= self.firstKey()
        return (ts, num) > self._pages[-1].lastKey()

    def insert(self, ts, num, packed, tail, page):
        if self._inTail(ts, num):
            self.insertPacked(ts, num, packed)
            if self.rowCount() > tail:
                # Keep the newest quarter here: the next appends then
                # rewrite a small record, and the last rows stay at hand.
                self._seal(self.takeUntil(self.rowCount() - tail // 4),
                           page)
            return
        i = self._pageIndex(ts, num)
        target = self._pages[i]
        target.insertPacked(ts, num, packed)
        if target.rowCount() > page:
            rest = target.takeFrom(target.rowCount() // 2)
            self._addPage(i + 1, rest)
        self._setPageKey(i, target.firstKey())

    def _seal(self, moved, page):
        """Append ``moved`` (the oldest tail rows) to the sealed pages."""
        if self._pages:
            last = self._pages[-1]
            room = page - last.rowCount()
            for ts, num, packed in moved[:room]:
                last.insertPacked(ts, num, packed)
            moved = moved[room:]
        while moved:
            self._addPage(len(self._pages), moved[:page])
            moved = moved[page:]

    def _addPage(self, i, rows):
        new = Page()
        for ts, num, packed in rows:
            new.insertPacked(ts, num, packed)
        self._pages = self._pages[:i] + (new,) + self._pages[i:]
        self._pageKeys[2 * i:2 * i] = array('q', new.firstKey())
        self._p_changed = True

    def _setPageKey(self, i, key):
        if (self._pageKeys[2 * i], self._pageKeys[2 * i + 1]) != key:
            self._pageKeys[2 * i], self._pageKeys[2 * i + 1] = key
            self._p_changed = True

    def _dropPage(self, i):
        self._pages = self._pages[:i] + self._pages[i + 1:]
        del self._pageKeys[2 * i:2 * i + 2]
        self._p_changed = True

    def popLast(self):
        """Remove the newest row; return (num, data)."""
        if self.rowCount():
            ts, num, packed = self.removeAt(self.rowCount() - 1)
        else:
            last = self._pages[-1]
            ts, num, packed = last.removeAt(last.rowCount() - 1)
            if not last.rowCount():
                self._dropPage(len(self._pages) - 1)
        return num, unpack(packed)

    def last(self):
        if self.rowCount():
            return self.rowAt(self.rowCount() - 1)
        last = self._pages[-1]
        return last.rowAt(last.rowCount() - 1)

    def allRows(self):
        for page in self._pages:
            yield from page.rows()
        yield from self.rows()

    def get(self, ts, num):
        rows = (self if self._inTail(ts, num)
                else self._pages[self._pageIndex(ts, num)])
        i = rows.find(ts, num)
        if i < 0:
            raise KeyError(num)
        return rows.rowAt(i)[1]


class PagedRows(_Store):
    """See the module docstring (C)."""

    def __init__(self, tail=64, page=256):
        super().__init__()
        self.tail, self.page = tail, page
        self._locations = LocationMap()

    @property
    def label(self):
        return 'C paged rows (tail %d, pages of %d)' % (self.tail, self.page)

    def _newRows(self, cid):
        return Combination(cid)

    def _insert(self, rows, ts, num, data):
        self._insertPacked(rows, ts, num, pack(data))

    def _insertPacked(self, rows, ts, num, packed):
        rows.insert(ts, num, packed, self.tail, self.page)
        self._locations.set(num, rows.cid, ts)

    def _popLast(self, rows):
        return rows.popLast()

    def last(self, taskId, runId, userName):
        rows = self._combos.get((userName, taskId, runId))
        return None if rows is None else rows.last()

    def user_rows(self, userName):
        result = []
        for key, rows in self._userCombinations(userName):
            result.extend(rows.allRows())
        result.sort(key=_first)
        return result

    def get(self, num):
        cid, ts = self._locations.get(num)
        return self._combos[self._keys[cid]].get(ts, num)


# B: rows in arrival order, a composite index of numbers

class ArrivalPage(Persistent):
    """The rows of ARRIVAL_ROWS consecutive numbers, in number order: the
    number, combination and second of each, and its packed data."""

    def __init__(self):
        self.nums, self.cids, self.tss = array('q'), array('q'), array('q')
        self.ends = array('q')
        self.blob = bytearray()

    def __getstate__(self):
        return (self.nums.tobytes(), self.cids.tobytes(), self.tss.tobytes(),
                self.ends.tobytes(), bytes(self.blob))

    def __setstate__(self, state):
        self.nums, self.cids, self.tss = array('q'), array('q'), array('q')
        self.ends = array('q')
        for a, b in zip((self.nums, self.cids, self.tss, self.ends), state):
            a.frombytes(b)
        self.blob = bytearray(state[4])

    def append(self, num, cid, ts, packed):
        self.nums.append(num)
        self.cids.append(cid)
        self.tss.append(ts)
        self.blob += packed
        self.ends.append(len(self.blob))
        self._p_changed = True

    def _index(self, num):
        i = bisect_left(self.nums, num)
        if i == len(self.nums) or self.nums[i] != num:
            raise KeyError(num)
        return i

    def _slice(self, i):
        return (self.ends[i - 1] if i else 0), self.ends[i]

    def data(self, num):
        start, end = self._slice(self._index(num))
        return unpack(self.blob[start:end])

    def replace(self, num, ts, packed):
        i = self._index(num)
        start, end = self._slice(i)
        self.blob[start:end] = packed
        shift = len(packed) - (end - start)
        for j in range(i, len(self.ends)):
            self.ends[j] += shift
        self.tss[i] = ts
        self._p_changed = True

    def rows(self):
        start = 0
        for i, end in enumerate(self.ends):
            yield (self.nums[i], self.cids[i], self.tss[i],
                   bytes(self.blob[start:end]))
            start = end


class ArrivalRows(_Store):
    """See the module docstring (B)."""

    label = 'B arrival-order rows + composite index'

    def __init__(self):
        super().__init__()
        self._pages = LOBTree()       # num // ARRIVAL_ROWS -> ArrivalPage

    def _newRows(self, cid):
        return (cid, LOBTree())       # ts -> num, or a tuple of nums

    def _insert(self, rows, ts, num, data):
        cid, postings = rows
        _addNum(postings, ts, num)
        page = self._pages.get(num // ARRIVAL_ROWS)
        if page is None:
            page = self._pages[num // ARRIVAL_ROWS] = ArrivalPage()
        page.append(num, cid, ts, pack(data))

    def _page(self, num):
        return self._pages[num // ARRIVAL_ROWS]

    def last(self, taskId, runId, userName):
        rows = self._combos.get((userName, taskId, runId))
        if rows is None or not rows[1]:
            return None
        postings = rows[1]
        nums = postings[postings.maxKey()]
        num = nums if isinstance(nums, int) else nums[-1]
        return num, self._page(num).data(num)

    def user_rows(self, userName):
        nums = []
        for key, (cid, postings) in self._userCombinations(userName):
            for value in postings.values():
                if isinstance(value, int):
                    nums.append(value)
                else:
                    nums.extend(value)
        nums.sort()
        return [(num, self._page(num).data(num)) for num in nums]

    def get(self, num):
        return self._page(num).data(num)

    def update_last(self, taskId, runId, userName, data, ts):
        # The row stays in its page; its second and data change there.
        ts = check_timestamp(ts)
        data = copy_data(data)
        cid, postings = self._combos[(userName, taskId, runId)]
        old = postings.maxKey()
        nums = postings[old]
        num = nums if isinstance(nums, int) else nums[-1]
        _removeNum(postings, old, num)
        _addNum(postings, ts, num)
        page = self._page(num)
        merged = dict(page.data(num))
        merged.update(data)
        page.replace(num, ts, pack(merged))
        self._runs[taskId].extendTo(ts)
        return num


def _addNum(tree, ts, num):
    current = tree.get(ts)
    if current is None:
        tree[ts] = num
    elif isinstance(current, int):
        tree[ts] = tuple(sorted((current, num)))
    else:
        tree[ts] = tuple(sorted(current + (num,)))


def _removeNum(tree, ts, num):
    current = tree[ts]
    if isinstance(current, int):
        del tree[ts]
        return
    rest = tuple(n for n in current if n != num)
    tree[ts] = rest[0] if len(rest) == 1 else rest


# H: cluster later

def compact(arrival, paged, upTo):
    """Move the rows of ``arrival`` (B) numbered below ``upTo`` into
    ``paged`` (C), combination by combination; return the rows moved.

    Only whole arrival pages move, so a page is deleted, not rewritten.
    Each combination they touch is written once per compaction, however
    many of its rows move: that is the saving over clustering at once,
    where it is written once per track.
    """
    moved = 0
    last = upTo // ARRIVAL_ROWS          # pages before this one are full
    byCid = {}
    for pageNo in list(arrival._pages.keys(max=last, excludemax=True)):
        for num, cid, ts, packed in arrival._pages[pageNo].rows():
            byCid.setdefault(cid, []).append((ts, num, packed))
        del arrival._pages[pageNo]
    for cid, rows in byCid.items():
        key = arrival._keys[cid]
        target = paged._combos.get(key)
        if target is None:
            pcid = paged._cids.next()
            target = paged._combos[key] = paged._newRows(pcid)
            paged._keys[pcid] = key
            paged._byTask[(key[1], key[2], key[0])] = pcid
            run = paged._runs.get(key[1])
            if run is None:
                paged._runs[key[1]] = Run(key[2], key[1], rows[0][0])
        postings = arrival._combos[key][1]
        for ts, num, packed in rows:
            paged._insertPacked(target, ts, num, packed)
            _removeNum(postings, ts, num)
            moved += 1
        paged._runs[key[1]].extendTo(rows[-1][0])
    paged._count.change(moved)
    return moved

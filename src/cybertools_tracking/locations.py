"""Where each track is: track number -> (combination id, second).

A track lives inside its combination's tree, filed by second (see
``store``); this map finds it by number, for ``storage['0000123']``,
``keys()`` in id order, updates and removal. It is kept in pages of
``PAGE`` consecutive numbers, each two arrays of int64 pickled as two
bytes values (a 4 kB record): an import, which numbers tracks in order,
writes a few pages per commit.

Concurrency: a connection numbers its tracks from whole partitions of
its own (see ``ids``), so two writers append to different pages, and the
pages are spread over ``SLOTS`` trees by partition, so they rarely add
to the same tree either. A page two writers do change at once (an update
of an older track moves it to another second while its page's writer
appends) merges slot by slot in ``_p_resolveConflict``.
"""

from array import array

from BTrees.LOBTree import LOBTree
from persistent import Persistent
from ZODB.POSException import ConflictError

from cybertools_tracking.partitions import PARTITION

__all__ = ['LocationMap', 'LocationPage', 'PAGE']

PAGE = 250          # numbers per page; PARTITION is a multiple of it
SLOTS = 16


class LocationPage(Persistent):
    """The combination id and second of PAGE consecutive numbers; a
    combination id of 0 means no track."""

    def __init__(self):
        self.cids = array('q', bytes(8 * PAGE))
        self.tss = array('q', bytes(8 * PAGE))

    def __getstate__(self):
        return (self.cids.tobytes(), self.tss.tobytes())

    def __setstate__(self, state):
        self.cids, self.tss = array('q'), array('q')
        self.cids.frombytes(state[0])
        self.tss.frombytes(state[1])

    def _p_resolveConflict(self, oldState, savedState, newState):
        # A slot changed by one side only takes that change; a slot both
        # sides changed to different places is a real conflict.
        old, saved, new = ([array('q', part) for part in state]
                           for state in (oldState, savedState, newState))
        for i in range(PAGE):
            o = (old[0][i], old[1][i])
            s = (saved[0][i], saved[1][i])
            n = (new[0][i], new[1][i])
            if s != o and n != s:
                if n != o:
                    raise ConflictError('track at slot %d of a location '
                                        'page moved by two writers' % i)
                new[0][i], new[1][i] = s
        return (new[0].tobytes(), new[1].tobytes())


class LocationMap(Persistent):
    """num -> (cid, ts), see the module docstring. This object itself is
    written once."""

    def __init__(self):
        self._trees = tuple(LOBTree() for _ in range(SLOTS))

    def _tree(self, num):
        return self._trees[(num // PARTITION) % SLOTS]

    def get(self, num):
        """(cid, ts) of track ``num``, or None."""
        page = self._tree(num).get(num // PAGE)
        if page is None:
            return None
        i = num % PAGE
        cid = page.cids[i]
        return None if not cid else (cid, page.tss[i])

    def set(self, num, cid, ts):
        tree = self._tree(num)
        page = tree.get(num // PAGE)
        if page is None:
            page = tree[num // PAGE] = LocationPage()
        i = num % PAGE
        if page.cids[i] != cid or page.tss[i] != ts:
            page.cids[i], page.tss[i] = cid, ts
            page._p_changed = True

    def remove(self, num):
        page = self._tree(num).get(num // PAGE)
        i = num % PAGE
        if page is not None and page.cids[i]:
            page.cids[i] = page.tss[i] = 0
            page._p_changed = True
        # An emptied page stays: numbers are never reused.

    def clear(self):
        for tree in self._trees:
            tree.clear()

    def items(self):
        """(num, cid, ts) of every track, in number order."""
        pages = sorted((key, tree) for tree in self._trees
                       for key in tree.keys())
        for key, tree in pages:
            page = tree[key]
            base = key * PAGE
            for i, cid in enumerate(page.cids):
                if cid:
                    yield base + i, cid, page.tss[i]

    def check(self):
        """Problems of the map itself (as sentences)."""
        problems = []
        for slot, tree in enumerate(self._trees):
            for key in tree.keys():
                if (key * PAGE // PARTITION) % SLOTS != slot:
                    problems.append('location page %d is in slot %d'
                                    % (key, slot))
        return problems

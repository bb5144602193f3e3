"""Leaderboards: the groups ranked by one tracker's progress.

``top(n)`` and ``rank(group_id)`` must stay fast at a hundred thousand
groups, and every evaluation that moves a tracker moves its group on the
board, in the same transaction, from many writers at once.  Two choices
make that work:

- **Counted trees.**  A BTree finds a key in O(log n) but cannot say how
  many keys are smaller than it without walking them.  ``RankTree`` is a
  small B+tree of its own whose inner nodes keep, per child, the number of
  keys below it; the rank of a key is the sum of the counts left of the
  path to it, O(log n).  Keys are ``(-score, group_id)``, so the tree's
  order is the board's: highest score first, ties by group id.
- **Shards that resolve their conflicts.**  A board is split by a stable
  hash of the group id over ``SHARDS`` trees; ``rank`` adds the counts of
  every shard (a constant factor), ``top`` sorts their first n each.  Writers
  of different groups rarely meet in one shard, and when they do their
  changes merge: a leaf takes both writers' keys (``_p_resolveConflict``,
  as BTrees' buckets do) and an inner node both writers' count changes,
  as long as neither split anything; a split in both at once is a
  ConflictError, retried like any other.

A board may be kept per period: given a ``period`` (any stored object
with ``key(time) -> hashable``, such as a calendar period), scores go to
the board of the period the evaluation's time falls in.
"""

import zlib
from bisect import bisect_left
from bisect import bisect_right
from bisect import insort

from BTrees.OOBTree import OOBTree
from persistent import Persistent
from ZODB.POSException import ConflictError
from zope.interface import implementer

from cybertools_tracking.goals.checks import check_group_id
from cybertools_tracking.goals.checks import check_time
from cybertools_tracking.goals.checks import now as _now
from cybertools_tracking.goals.interfaces import ILeaderboard

__all__ = ["Leaderboard", "Board", "RankTree", "FixedPeriod", "SHARDS",
           "boards_of"]

#: Shards of a new board.  Each costs a descent per ``rank``; conflicts
#: are resolved within a shard, so a few are enough (measured: 4 shards
#: rank twice as fast as 8 at 100,000 groups).
SHARDS = 4
#: Most keys in a leaf and children of an inner node.
MAX_LEAF = 128
MAX_NODE = 128


def _oids(refs):
    # Conflict resolution sees persistent references, comparable by oid.
    try:
        return [ref.oid for ref in refs]
    except AttributeError:
        return None


class _Leaf(Persistent):
    """Sorted keys; merges concurrent inserts and removals of others."""

    def __init__(self, keys=None):
        self.keys = keys if keys is not None else []

    def _p_resolveConflict(self, old, committed, new):
        before = set(old["keys"])
        mine, theirs = set(new["keys"]), set(committed["keys"])
        added_mine, added_theirs = mine - before, theirs - before
        gone_mine, gone_theirs = before - mine, before - theirs
        if added_mine & added_theirs or gone_mine & gone_theirs:
            raise ConflictError("both changed the same leaderboard entry")
        merged = (before - gone_mine - gone_theirs) | added_mine | (
            added_theirs)
        if len(merged) > MAX_LEAF:
            raise ConflictError("a leaderboard leaf would overflow")
        state = dict(new)
        state["keys"] = sorted(merged)
        return state


class _Node(Persistent):
    """Children, the separating keys between them, and their key counts.

    Child ``i`` holds keys ``>= seps[i-1]`` and ``< seps[i]``.
    """

    def __init__(self, children, seps, counts):
        self.children = children
        self.seps = seps
        self.counts = counts

    def _p_resolveConflict(self, old, committed, new):
        # Only count changes merge; a changed shape (a split) conflicts.
        shape = _oids(old["children"])
        if (shape is None or _oids(committed["children"]) != shape
                or _oids(new["children"]) != shape
                or not old["seps"] == committed["seps"] == new["seps"]):
            raise ConflictError("a leaderboard node split in both")
        state = dict(new)
        state["counts"] = [
            o + (c - o) + (n - o) for o, c, n in zip(
                old["counts"], committed["counts"], new["counts"])]
        return state


def _size(node):
    return len(node.keys) if type(node) is _Leaf else sum(node.counts)


class RankTree(Persistent):
    """A counted B+tree of keys: insert, remove, count below, iterate."""

    def __init__(self):
        self.root = _Leaf()

    def __len__(self):
        return _size(self.root)

    def insert(self, key):
        split = self._insert(self.root, key)
        if split is not None:
            sep, right = split
            left = self.root
            self.root = _Node([left, right], [sep],
                              [_size(left), _size(right)])

    def _insert(self, node, key):
        if type(node) is _Leaf:
            keys = node.keys
            insort(keys, key)
            node._p_changed = True
            if len(keys) <= MAX_LEAF:
                return None
            half = len(keys) // 2
            right = _Leaf(keys[half:])
            node.keys = keys[:half]
            return right.keys[0], right
        i = bisect_right(node.seps, key)
        node.counts[i] += 1
        node._p_changed = True
        split = self._insert(node.children[i], key)
        if split is None:
            return None
        sep, right = split
        node.children.insert(i + 1, right)
        node.seps.insert(i, sep)
        node.counts[i:i + 1] = [_size(node.children[i]), _size(right)]
        if len(node.children) <= MAX_NODE:
            return None
        half = len(node.children) // 2
        up = node.seps[half - 1]
        right = _Node(node.children[half:], node.seps[half:],
                      node.counts[half:])
        node.children = node.children[:half]
        node.seps = node.seps[:half - 1]
        node.counts = node.counts[:half]
        return up, right

    def remove(self, key):
        """Take *key* out; False if it was not there."""
        path = []
        node = self.root
        while type(node) is _Node:
            i = bisect_right(node.seps, key)
            path.append((node, i))
            node = node.children[i]
        keys = node.keys
        i = bisect_left(keys, key)
        if i == len(keys) or keys[i] != key:
            return False
        del keys[i]
        node._p_changed = True
        # Leaves may run empty: no rebalancing, so a removal never changes
        # the tree's shape (and never conflicts with another writer's).
        for parent, i in path:
            parent.counts[i] -= 1
            parent._p_changed = True
        return True

    def move(self, old, new):
        """Replace key *old* by *new* (a score changed).

        When both belong in the same leaf, as a small change of score
        usually does, the leaf alone changes: one descent, and no count
        above it moves (so no inner node is written).
        """
        node = self.root
        while type(node) is _Node:
            seps = node.seps
            i = bisect_right(seps, old)
            if bisect_right(seps, new) != i:
                self.remove(old)
                self.insert(new)
                return
            node = node.children[i]
        keys = node.keys
        i = bisect_left(keys, old)
        if i == len(keys) or keys[i] != old:
            raise KeyError(old)
        del keys[i]
        insort(keys, new)
        node._p_changed = True

    def count_below(self, key):
        """How many keys are smaller than *key*; O(log n)."""
        below = 0
        node = self.root
        while type(node) is _Node:
            i = bisect_right(node.seps, key)
            below += sum(node.counts[:i])
            node = node.children[i]
        return below + bisect_left(node.keys, key)

    def __iter__(self):
        return self._walk(self.root)

    def first(self, n):
        """The *n* smallest keys, as a list."""
        found = []
        self._first(self.root, n, found)
        return found

    def _first(self, node, n, found):
        if type(node) is _Leaf:
            found.extend(node.keys[:n - len(found)])
            return
        for child in node.children:
            if len(found) >= n:
                return
            self._first(child, n, found)

    def _walk(self, node):
        if type(node) is _Leaf:
            yield from list(node.keys)
        else:
            for child in list(node.children):
                yield from self._walk(child)


class _Shard(Persistent):
    """The groups of one shard: their scores, and the counted tree."""

    def __init__(self):
        self.scores = OOBTree()
        self.tree = RankTree()


def _shard_of(group_id, count):
    return zlib.crc32(group_id.encode("utf-8")) % count


class Board(Persistent):
    """Scores of groups, ranked; one leaderboard or one of its periods."""

    def __init__(self, shards=SHARDS):
        self.shards = tuple(_Shard() for _ in range(shards))

    def _shard(self, group_id):
        return self.shards[_shard_of(group_id, len(self.shards))]

    def update(self, group_id, score):
        shard = self._shard(group_id)
        old = shard.scores.get(group_id)
        if old is None:
            shard.tree.insert((-score, group_id))
        elif old == score and type(old) is type(score):
            return False
        else:
            shard.tree.move((-old, group_id), (-score, group_id))
        shard.scores[group_id] = score
        return True

    def discard(self, group_id):
        shard = self._shard(group_id)
        old = shard.scores.get(group_id)
        if old is None:
            return False
        shard.tree.remove((-old, group_id))
        del shard.scores[group_id]
        return True

    def score(self, group_id):
        return self._shard(group_id).scores.get(group_id)

    def rank(self, group_id):
        score = self.score(group_id)
        if score is None:
            return None
        # Competition ranking: 1 + the groups with a higher score.
        key = (-score,)
        return 1 + sum(shard.tree.count_below(key) for shard in self.shards)

    def top(self, n):
        result = []
        rank = previous = None
        keys = sorted(key for shard in self.shards
                      for key in shard.tree.first(n))[:n]
        for position, (neg, group_id) in enumerate(keys, 1):
            if neg != previous:
                rank, previous = position, neg
            result.append((rank, group_id, -neg))
        return result

    def __len__(self):
        return sum(len(shard.tree) for shard in self.shards)


@implementer(ILeaderboard)
class Leaderboard(Persistent):
    """The groups ranked by the progress of the trackers named *name*;
    see ``ILeaderboard``."""

    period = None
    _board = None
    _periods = None

    def __init__(self, name, period=None, shards=SHARDS):
        if not isinstance(name, str) or not name:
            raise TypeError("name must be a non-empty str, got %r" % (name,))
        if period is not None and not callable(getattr(period, "key", None)):
            raise TypeError("period must have a key(time) method, got %r"
                            % (period,))
        if isinstance(shards, bool) or not isinstance(shards, int) \
                or shards < 1:
            raise ValueError("shards must be a positive int, got %r"
                             % (shards,))
        self.name = name
        self._shards = shards
        if period is None:
            self._board = Board(shards)
        else:
            self.period = period
            self._periods = OOBTree()

    def __repr__(self):
        return "<Leaderboard %r%s>" % (
            self.name, "" if self.period is None else " per %r" % (
                self.period,))

    def board(self, at=None, create=False):
        """The ``Board`` for time *at* (default now): the one board, or
        that of *at*'s period; None if that period has none yet."""
        if self.period is None:
            return self._board
        key = self.period.key(_now(at))
        board = self._periods.get(key)
        if board is None and create:
            board = self._periods[key] = Board(self._shards)
        return board

    def start(self, groups, now):
        """Put on the board every group (``GoalGroup``) of *groups* with a
        tracker of the board's name not expired at *now*."""
        for group in groups:
            tracker = group.find(self.name)
            if tracker is not None and not tracker.is_expired(now):
                self.update(group.group_id, tracker.progress, now)

    def update(self, group_id, score, at=None):
        return self.board(at, create=True).update(group_id, score)

    def discard(self, group_id, at=None):
        board = self.board(at)
        return board is not None and board.discard(group_id)

    def forget(self, group_id):
        """Take the group off every board, of every period (the right to
        erasure); returns how many boards it was on."""
        check_group_id(group_id)
        boards = ([self._board] if self.period is None
                  else list(self._periods.values()))
        return sum(1 for board in boards if board.discard(group_id))

    def score(self, group_id, at=None):
        check_group_id(group_id)
        board = self.board(at)
        return None if board is None else board.score(group_id)

    def rank(self, group_id, at=None):
        check_group_id(group_id)
        board = self.board(at)
        return None if board is None else board.rank(group_id)

    def top(self, n=10, at=None):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError("n must be an int >= 0, got %r" % (n,))
        board = self.board(at)
        return [] if board is None else board.top(n)

    def __len__(self):
        board = self.board()
        return 0 if board is None else len(board)


class FixedPeriod:
    """Periods of *seconds* each, counted from *origin* (seconds, UTC):
    the simplest ``period`` for a board.  Calendar periods in a time zone
    (a week, a month) have the same ``key(time)`` method."""

    def __init__(self, seconds, origin=0):
        check_time("seconds", seconds, finite=True)
        check_time("origin", origin, finite=True)
        if seconds <= 0:
            raise ValueError("seconds must be positive, got %r" % (seconds,))
        self.seconds = seconds
        self.origin = origin

    def __repr__(self):
        return "<FixedPeriod of %ss from %s>" % (self.seconds, self.origin)

    def key(self, time):
        """The number of the period *time* falls in."""
        return int((time - self.origin) // self.seconds)


def boards_of(registry, create=False):
    """The leaderboards kept with *registry* (an OOBTree, name -> board),
    or None; with *create*, made in the current transaction."""
    boards = getattr(registry, "leaderboards", None)
    if boards is None and create:
        boards = registry.leaderboards = OOBTree()
    return boards

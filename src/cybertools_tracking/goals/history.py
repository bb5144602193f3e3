"""The durable record of outcomes: what happened to which goal, and when.

Every stage completion, completion, reset, limit reached, expiry, grant and
revoke is kept as an ``Outcome`` in a ``GoalHistory``, in the transaction
that caused it (so an abort leaves no record, and a retry records once).
Records outlive what they are about: a tracker reset, removed or replaced,
a group flushed, all keep their records.

The design rule is the one of the storage's tracks: no object that every
writer rewrites.  Records are spread over ``SHARDS`` shards by a stable
hash of the group id; each shard has two BTrees:

- ``by_group``: ``(group_id, -time, -seq, salt) -> record``, so one group's
  records, newest first, are one range of one tree (a few buckets for the
  last hundred, whatever the size of the history);
- ``by_time``: a set of ``(-time, -seq, salt, group_id)``, newest first,
  for questions that name no group; the shards are merged on reading.

- ``recent``: group id -> ``RecentOutcomes``, the group's newest
  ``RECENT`` records in one record of their own, newest first, which is
  what a history page or a dashboard asks for ("the last 100"): read
  cold, that is three or four records (shard, tree, page) where the range
  of ``by_group`` is a bucket for every 15 to 30 records, about ten
  loads for 100.  Histories made before it have none (``recent`` is
  None) and are read from ``by_group`` as before.

``seq`` counts up in this process and ``salt`` is drawn once per process,
so keys never collide across processes and a group's records made at one
second read back in the order they were made.  Writers of different groups
meet in a shard only by chance, and then in different keys of a bucket,
which BTrees merge by themselves (only a bucket split in both at once is a
ConflictError, retried like any other).  Times are seconds since the epoch,
UTC.
"""

import heapq
import itertools
import os
import zlib
from collections import namedtuple
from datetime import datetime
from datetime import timezone

from BTrees.OOBTree import OOBTree
from BTrees.OOBTree import OOTreeSet
from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking.goals.checks import check_group_id
from cybertools_tracking.goals.checks import check_text
from cybertools_tracking.goals.checks import check_time
from cybertools_tracking.goals.interfaces import IGoalHistory

__all__ = ["Outcome", "GoalHistory", "KINDS", "RECENT", "SHARDS",
           "RecentOutcomes", "history_of"]

#: The kinds of record, in the order of their codes (stored as ints).
KINDS = ("stage_completed", "completed", "reset", "limited", "expired",
         "granted", "revoked", "failed")
_CODES = {kind: code for code, kind in enumerate(KINDS)}

#: Shards of a new history (a history keeps the number it was made with).
SHARDS = 32

_TOP = float("inf")
_SALT = int.from_bytes(os.urandom(6), "big")
_sequence = itertools.count(1)


class Outcome(namedtuple("Outcome", "group_id tracker kind stage progress "
                                    "time track_id grantor reason")):
    """One record of the history (see ``IGoalHistory``).

    ``time`` is seconds since the epoch (UTC) and ``when`` the same as an
    aware ``datetime``; ``track_id`` is the id of the track that caused it
    (or None); ``grantor`` and ``reason`` are given for grants and revokes.
    """

    __slots__ = ()

    @property
    def when(self):
        return datetime.fromtimestamp(self.time, timezone.utc)


def _shard_of(group_id, count):
    return zlib.crc32(group_id.encode("utf-8")) % count


#: Records a group's ``RecentOutcomes`` keeps.
RECENT = 100


def _first(item):
    return item[0]


class RecentOutcomes(Persistent):
    """The newest records of one group, at most ``RECENT``, as a tuple of
    ``(tail, value)`` pairs sorted by ``tail``, which is the ``by_group``
    key without the group id (so newest first), and ``count``, the
    number of records the group has in all.  The entries are the newest
    of them: when ``len(entries) == count`` they are all of them.

    Writers of one group meet here; their changes merge (below)."""

    entries = ()
    count = 0

    def add(self, tail, value):
        entries = self.entries
        if not entries or tail < entries[0][0]:
            entries = ((tail, value),) + entries   # the usual: the newest
        else:
            entries = tuple(sorted(entries + ((tail, value),), key=_first))
        self.entries = entries[:RECENT]
        self.count += 1

    def remove(self, tail):
        """Forget the record ``tail`` (pruned) from the count and, if it
        is here, from the entries."""
        self.entries = tuple(e for e in self.entries if e[0] != tail)
        self.count -= 1

    def _p_resolveConflict(self, old, saved, new):
        # Two transactions changed the group's records: keep what either
        # added, drop what either dropped (pruned, or pushed out by newer
        # ones), the newest RECENT of that; counts add up as changes.
        # Keys are unique (seq and salt), so no entry is ever both.
        before = set(old.get('entries', ()))
        ours = set(saved.get('entries', ()))
        theirs = set(new.get('entries', ()))
        gone = (before - ours) | (before - theirs)
        entries = sorted((ours | theirs) - gone, key=_first)[:RECENT]
        count = saved.get('count', 0) + new.get('count', 0) \
            - old.get('count', 0)
        return {'entries': tuple(entries), 'count': count}


class HistoryShard(Persistent):
    """The records of the groups that hash to one shard."""

    recent = None       # shards made before it: no pages

    def __init__(self):
        self.by_group = OOBTree()
        self.by_time = OOTreeSet()
        self.recent = OOBTree()

    def page(self, group_id, create=False):
        """The group's ``RecentOutcomes``; None if the shard keeps none or
        (unless ``create``) the group has no records."""
        recent = self.recent
        if recent is None:
            return None
        page = recent.get(group_id)
        if page is None and create:
            page = recent[group_id] = RecentOutcomes()
        return page


@implementer(IGoalHistory)
class GoalHistory(Persistent):
    """Outcome records, sharded by group; see ``IGoalHistory``."""

    def __init__(self, shards=SHARDS):
        if isinstance(shards, bool) or not isinstance(shards, int) \
                or shards < 1:
            raise ValueError("shards must be a positive int, got %r"
                             % (shards,))
        self.shards = tuple(HistoryShard() for _ in range(shards))

    def __repr__(self):
        return "<GoalHistory (%d shards)>" % len(self.shards)

    def record(self, group_id, tracker, kind, stage=None, progress=None,
               time=None, track_id=None, grantor=None, reason=None):
        check_group_id(group_id)
        if kind not in _CODES:
            raise ValueError("kind must be one of %s, got %r"
                             % (", ".join(KINDS), kind))
        if not isinstance(tracker, str):
            raise TypeError("tracker must be a str, got %r" % (tracker,))
        check_time("time", time, finite=True)
        for name, value in (("grantor", grantor), ("reason", reason)):
            if value is not None:
                if not isinstance(value, str):
                    raise TypeError("%s must be a str or None, got %r"
                                    % (name, value))
                check_text(name, value)
        when = float(time)
        seq = -next(_sequence)
        shard = self.shards[_shard_of(group_id, len(self.shards))]
        value = (_CODES[kind], tracker, stage, progress, track_id, grantor,
                 reason)
        shard.by_group[(group_id, -when, seq, _SALT)] = value
        shard.by_time.add((-when, seq, _SALT, group_id))
        if shard.recent is not None:
            shard.page(group_id, create=True).add((-when, seq, _SALT), value)
        return Outcome(group_id, tracker, kind, stage, progress, when,
                       track_id, grantor, reason)

    def query(self, group_id=None, tracker=None, kind=None, time_from=None,
              time_to=None, limit=None):
        trackers = _as_set("tracker", tracker)
        kinds = _as_set("kind", kind)
        if kinds is not None:
            unknown = kinds - set(_CODES)
            if unknown:
                raise ValueError("kind must be one of %s, got %r"
                                 % (", ".join(KINDS), sorted(unknown)))
            kinds = {_CODES[k] for k in kinds}
        # Keys hold -time: the newest (time_to) end is the smallest key.
        newest = -_TOP if time_to is None else -float(
            check_time("time_to", time_to))
        oldest = _TOP if time_from is None else -float(
            check_time("time_from", time_from))
        limit = _check_limit(limit)
        if group_id is not None:
            check_group_id(group_id)
            shard = self.shards[_shard_of(group_id, len(self.shards))]
            if limit == 0:
                return []
            if shard.recent is not None:
                result = self._from_page(shard.page(group_id), group_id,
                                         trackers, kinds, newest, oldest,
                                         limit)
                if result is not None:
                    return result
            found = shard.by_group.items((group_id, newest),
                                         (group_id, oldest, _TOP))
        else:
            found = self._merged(newest, oldest)
        result = []
        if limit == 0:
            return result
        for key, value in found:
            code, name = value[0], value[1]
            if kinds is not None and code not in kinds:
                continue
            if trackers is not None and name not in trackers:
                continue
            result.append(Outcome(key[0], name, KINDS[code], value[2],
                                  value[3], -key[1], value[4], value[5],
                                  value[6]))
            if limit is not None and len(result) >= limit:
                break
        return result

    @staticmethod
    def _from_page(page, group_id, trackers, kinds, newest, oldest, limit):
        """The answer from the group's page, or None if the page does not
        hold all of it (then ``by_group`` answers)."""
        if page is None:
            return []                   # the group has no records
        result = []
        entries = page.entries
        for tail, value in entries:
            if tail[0] < newest:
                continue                # newer than time_to
            if tail[0] > oldest:
                return result           # older than time_from: done
            code, name = value[0], value[1]
            if kinds is not None and code not in kinds:
                continue
            if trackers is not None and name not in trackers:
                continue
            result.append(Outcome(group_id, name, KINDS[code], value[2],
                                  value[3], -tail[0], value[4], value[5],
                                  value[6]))
            if limit is not None and len(result) >= limit:
                return result
        if len(entries) == page.count:
            return result               # every record of the group
        return None

    def prune(self, before, limit=None):
        check_time("before", before)
        limit = _check_limit(limit)
        # Keys hold -time: records older than *before* have -time > -before,
        # i.e. sort after (-before, inf) (a record at *before* stays).
        low = (-float(before), _TOP)
        doomed = []
        for shard in self.shards:
            for key in shard.by_time.keys(low):
                if limit is not None and len(doomed) >= limit:
                    break
                doomed.append((shard, key))
        for shard, key in doomed:
            shard.by_time.remove(key)
            del shard.by_group[(key[3], key[0], key[1], key[2])]
            page = shard.page(key[3])
            if page is not None:
                page.remove(key[:3])
                if not page.count:
                    del shard.recent[key[3]]
        return len(doomed)

    def forget(self, group_id):
        check_group_id(group_id)
        shard = self.shards[_shard_of(group_id, len(self.shards))]
        keys = list(shard.by_group.keys((group_id,), (group_id, _TOP)))
        for key in keys:
            del shard.by_group[key]
            shard.by_time.remove((key[1], key[2], key[3], group_id))
        if shard.page(group_id) is not None:
            del shard.recent[group_id]
        return len(keys)

    def _merged(self, newest, oldest):
        # Newest first over all shards: each shard's time set is ordered by
        # (-time, ...), so a merge of the shards' ranges is too.
        ranges = [shard.by_time.keys((newest,), (oldest, _TOP))
                  for shard in self.shards]
        count = len(self.shards)
        for key in heapq.merge(*ranges):
            group_id = key[3]
            shard = self.shards[_shard_of(group_id, count)]
            group_key = (group_id, key[0], key[1], key[2])
            yield group_key, shard.by_group[group_key]


def _check_limit(limit):
    if limit is not None and (isinstance(limit, bool)
                              or not isinstance(limit, int) or limit < 0):
        raise ValueError("limit must be an int >= 0 or None, got %r"
                         % (limit,))
    return limit


def _as_set(name, value):
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    if isinstance(value, (list, tuple, set, frozenset)) and all(
            isinstance(v, str) for v in value):
        return set(value)
    raise TypeError("%s must be a str, a list of str or None, got %r"
                    % (name, value))


def history_of(registry, create=False):
    """The ``GoalHistory`` kept with *registry* (a ``GoalRegistry``).

    None if there is none yet; with *create*, it is made (in the current
    transaction) and kept in the registry's ``history`` attribute.
    """
    history = getattr(registry, "history", None)
    if history is None and create:
        history = registry.history = GoalHistory()
    return history

"""The outbox: events stored with the change that caused them.

After-commit listeners (``goals/listeners.py``) run only in the process
that committed, and are gone when it stops. Whatever must leave the
process (to a browser, a second app process on ZEO, a webhook) is
written here instead, into the database, *in the transaction that made
it*: an abort, a retry or a rolled-back savepoint leaves no entry, a
commit publishes the change and its events together.

Two rules shape the structure:

- *Writers must not conflict.* A single log that every transaction
  appends to would be one record that every writer rewrites. Instead
  each writer (a connection, which one thread at a time uses; see
  ``ids.py`` for the same rule for track numbers) appends to a segment
  of its own; the segments are kept in an OOBTree under a random token,
  and adding a key is a change BTrees merge. A transaction's events go
  into one ``_Batch`` record, written once.
- *Readers must not miss an event.* Numbers handed out while a
  transaction runs do not follow the order of commits: a transaction
  that took number 5 may commit after one that took 7, and a reader that
  had seen 7 would skip 5 for ever. So the position of an event comes
  from the commit itself: the batch's serial, the transaction id (tid)
  ZODB gives it. Tids grow with every commit of the database, across all
  clients of a ZEO server or a RelStorage database, and a commit that a
  reader has not seen yet gets a higher tid than everything it has seen.
  The position is ``tid << 20 | index`` (the index within the batch): a
  large integer, increasing in commit order, with gaps. A reader keeps
  the last position it saw and asks for what came after.

Reading merges the segments: in each, the batches are in commit order
(one writer commits one transaction after the other), so the first
batch after a position is found by bisection, and ``heapq.merge`` joins
the segments' streams.

Retention: ``prune`` drops batches committed more than ``max_age``
seconds ago. A segment left empty and idle for that long is retired (see
``prune``). ``forget`` (erasure) blanks single events: the entry becomes
None, so the others keep their positions, and the batch keeps the tid it
was committed with (``_Batch.tid``), as rewriting it gives it a new
serial.
"""

import heapq
import itertools
import json
import math
import os
import threading
import time
import weakref
from collections import namedtuple

from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from persistent.TimeStamp import TimeStamp
from ZODB.utils import u64, z64
from zope.interface import implementer

from cybertools_tracking import jsoncodec
from cybertools_tracking.interfaces import IEventOutbox, ITrackObserver
from cybertools_tracking.readonly import read_only

__all__ = ['EventOutbox', 'OutboxEvent', 'INDEX_BITS', 'DEFAULT_MAX_AGE',
           'DEFAULT_LIMIT', 'track_json', 'position_time']

INDEX_BITS = 20                     # events per transaction: up to 2**20
MAX_INDEX = (1 << INDEX_BITS) - 1
DEFAULT_MAX_AGE = 7 * 24 * 3600     # seconds
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000


OutboxEvent = namedtuple('OutboxEvent', 'position type timestamp data')
OutboxEvent.__doc__ = """One event read from the outbox: its ``position``
(an int, increasing in commit order, with gaps), its ``type`` (a string
such as ``'goal.all_completed'`` or ``'track.saved'``), its ``timestamp``
(seconds since the epoch, UTC, when it happened) and its ``data`` (a dict
of JSON values)."""


def _as_json(event):
    # Positions pass 2**53 (a tid is 64 bits, shifted by 20), past the
    # integers a JavaScript number (and many JSON parsers) hold exactly:
    # JSON carries them as strings of digits.
    return {'id': str(event.position), 'position': str(event.position),
            'type': event.type, 'timestamp': event.timestamp,
            'committed': position_time(event.position), 'data': event.data}


OutboxEvent.as_json = _as_json
OutboxEvent.as_json.__doc__ = """The event as a JSON object: ``id`` (the
position as a string: what SSE and receivers de-duplicate by),
``position`` (the same string of decimal digits: positions exceed 2**53,
which JavaScript's numbers cannot hold exactly; ``int()`` gives it back),
``type``, ``timestamp``, ``committed`` (when its transaction committed)
and ``data``."""


def position_time(position):
    """When the transaction of the event at ``position`` committed, in
    seconds since the epoch (UTC)."""
    tid = (position >> INDEX_BITS).to_bytes(8, 'big')
    return TimeStamp(tid).timeTime()


def track_json(track, eventId=None):
    """A track as the JSON object the CLI writes (``query --format
    jsonl``, ``export``; ``import`` reads it), the HTTP API returns and a
    ``track.saved`` event carries: id, taskId, runId, userName, timeStamp
    (seconds, UTC), data, and ``eventId`` when one is given (the caller
    looks it up: ``storage.getEventId(track)``)."""
    result = {'id': track.__name__, 'taskId': track.taskId,
              'runId': track.runId, 'userName': track.userName,
              'timeStamp': track.timeStamp, 'data': track.data}
    if eventId is not None:
        result['eventId'] = eventId
    return result


# connection -> its writer token; weak, so that a token goes with its
# connection (its segment is then idle and, once empty, retired).
_tokens = weakref.WeakKeyDictionary()
_tokens_lock = threading.Lock()
_UNSTORED = 'unstored'     # the token of an outbox not in a database


def _token(jar):
    if jar is None:
        return _UNSTORED
    token = _tokens.get(jar)
    if token is None:
        with _tokens_lock:
            token = _tokens.setdefault(jar, os.urandom(8).hex())
    return token


def _committed(obj):
    """The tid that wrote ``obj`` as an int; 0 if not committed yet."""
    obj._p_activate()       # a ghost's serial is not known until loaded
    serial = obj._p_serial
    return 0 if serial == z64 else u64(serial)


def _batch_tid(batch):
    """The tid a batch was first committed with (its position base): the
    one ``forget`` recorded, else its serial; 0 if not committed yet."""
    return _committed(batch) if batch.tid is None else batch.tid


class _Batch(Persistent):
    """The events one transaction of one writer appended; written in that
    transaction only, so its serial is the tid of that commit."""

    tid = None      # the first commit's tid, once rewritten by forget

    def __init__(self):
        self.entries = []       # (type, timestamp, data), None if forgotten


class _Segment(Persistent):
    """One writer's batches, numbered in the order they were made (which
    is the order of their commits)."""

    retired = False

    def __init__(self):
        self.batches = LOBTree()
        self.next = 0
        self.last = None

    def append(self, entry):
        batch = self.last
        if batch is None or _committed(batch):
            batch = self.last = _Batch()
            self.batches[self.next] = batch
            self.next += 1
        elif len(batch.entries) > MAX_INDEX:
            raise ValueError('a transaction can add at most %d events to '
                             'the outbox' % (MAX_INDEX + 1))
        batch.entries.append(entry)
        batch._p_changed = True

    def after(self, tid, index):
        """The committed events after position (tid, index), in order, as
        OutboxEvents; lazily."""
        batches = self.batches
        if not batches:
            return
        # Keys are consecutive: made one by one, dropped from the front.
        low, high = batches.minKey(), batches.maxKey() + 1
        if not _batch_tid(batches[high - 1]):
            high -= 1                   # this transaction's own, open
        end = high
        while low < high:               # the first batch with serial >= tid
            middle = (low + high) // 2
            if _batch_tid(batches[middle]) < tid:
                low = middle + 1
            else:
                high = middle
        for key in range(low, end):
            batch = batches[key]
            serial = _batch_tid(batch)
            base = serial << INDEX_BITS
            start = index + 1 if serial == tid else 0
            for number, entry in enumerate(batch.entries[start:], start):
                if entry is not None:           # None: forgotten
                    kind, ts, data = entry
                    yield OutboxEvent(base | number, kind, ts,
                                      read_only(data))


@implementer(IEventOutbox, ITrackObserver)
class EventOutbox(Persistent):
    """See ``IEventOutbox``."""

    max_age = DEFAULT_MAX_AGE
    _cursors = None     # made by the first set_cursor (older outboxes)

    def __init__(self):
        self._segments = OOBTree()      # writer token -> _Segment
        self._cursors = OOBTree()       # reader name -> position

    def __repr__(self):
        return '<EventOutbox (%d writers)>' % len(self._segments)

    # writing

    def append(self, type, data, timestamp=None):
        if not isinstance(type, str) or not type:
            raise TypeError('type must be a non-empty string, got %r'
                            % (type,))
        if not isinstance(data, dict):
            raise TypeError('data must be a dict, got %r' % (data,))
        if timestamp is None:
            timestamp = time.time()
        elif (isinstance(timestamp, bool)
              or not isinstance(timestamp, (int, float))
              or not math.isfinite(timestamp)):
            raise TypeError('timestamp must be seconds since the epoch (an '
                            'int or a finite float), got %r' % (timestamp,))
        try:
            text = json.dumps(data, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError('data must be JSON (dicts, lists, strings, '
                             'numbers, booleans, None): %s' % error) from None
        # Stored as parsed again: plain JSON values, nothing of the caller's
        # (no tuples, no subclasses, no object shared with the caller).
        entry = (type, timestamp, json.loads(text))
        token = _token(self._p_jar)
        segment = self._segments.get(token)
        if segment is None or segment.retired:
            segment = self._segments[token] = _Segment()
        segment.append(entry)

    def trackAdded(self, storage, track):
        """An ``ITrackObserver``: with the outbox among a storage's
        observers, each new track is a ``track.saved`` event. Its data
        as ``export`` writes it (``jsoncodec``): an infinity, a
        Decimal, a date are one-key objects (``{"$float": "inf"}``), so
        that any data a track may hold makes an event."""
        event = track_json(track, storage.getEventId(track))
        event['data'] = jsoncodec.encode(event['data'])
        self.append('track.saved', event, timestamp=track.timeStamp)

    # reading

    def since(self, position=0, limit=DEFAULT_LIMIT):
        _check_position(position)
        if (isinstance(limit, bool) or not isinstance(limit, int)
                or not 1 <= limit <= MAX_LIMIT):
            raise ValueError('limit must be an int from 1 to %d, got %r'
                             % (MAX_LIMIT, limit))
        tid, index = position >> INDEX_BITS, position & MAX_INDEX
        streams = [segment.after(tid, index)
                   for segment in self._segments.values()
                   # a segment not written since the position has nothing
                   if _committed(segment) >= tid and segment.batches]
        return list(itertools.islice(heapq.merge(*streams), limit))

    def last_position(self):
        last = 0
        for segment in self._segments.values():
            batches = segment.batches
            if not batches:
                continue
            key = batches.maxKey()
            serial = _batch_tid(batches[key])
            if not serial and key > batches.minKey():
                key -= 1                # the open batch of this transaction
                serial = _batch_tid(batches[key])
            if serial:
                last = max(last, serial << INDEX_BITS
                           | (len(batches[key].entries) - 1))
        return last

    def __len__(self):
        return sum(1 for segment in self._segments.values()
                   for batch in segment.batches.values()
                   if _batch_tid(batch)
                   for entry in batch.entries if entry is not None)

    # where named readers (forwarders) got to

    def cursor(self, name):
        cursors = self._cursors
        return 0 if cursors is None else cursors.get(name, 0)

    def set_cursor(self, name, position):
        if not isinstance(name, str) or not name:
            raise TypeError('name must be a non-empty string, got %r'
                            % (name,))
        _check_position(position)
        if self._cursors is None:
            self._cursors = OOBTree()
        if self._cursors.get(name) != position:
            self._cursors[name] = position

    # retention

    def prune(self, max_age=None, now=None):
        if max_age is None:
            max_age = self.max_age
        if (isinstance(max_age, bool) or not isinstance(max_age, (int, float))
                or not 0 <= max_age < float('inf')):
            raise ValueError('max_age must be a number of seconds, 0 or '
                             'more, got %r' % (max_age,))
        cutoff = (time.time() if now is None else now) - max_age
        dropped = 0
        for token, segment in list(self._segments.items()):
            batches = segment.batches
            old = []
            for key, batch in batches.items():
                serial = _batch_tid(batch)
                if not serial or _tid_time(serial) >= cutoff:
                    break
                old.append(key)
                dropped += sum(1 for entry in batch.entries
                               if entry is not None)
            for key in old:
                del batches[key]
            if segment.last is not None and not segment.batches:
                segment.last = None
            if (not segment.batches and _committed(segment)
                    and _tid_time(_committed(segment)) < cutoff):
                # Retire it, and write it: a writer that still holds it
                # writes it too, so one of the two commits conflicts and
                # is retried, and the writer's retry finds no segment under
                # its token and starts a new one. Without the write, the
                # writer's events would go to a segment no one reads.
                segment.retired = True
                del self._segments[token]
        return dropped

    def forget(self, groups=(), users=(), limit=None):
        groups, users = set(groups), set(users)
        if limit is not None and (isinstance(limit, bool)
                                  or not isinstance(limit, int)
                                  or limit < 1):
            raise ValueError('limit must be an int, 1 or more, or None, '
                             'got %r' % (limit,))
        dropped = 0
        # Segments are per writer, not per user: every batch is read.
        for segment in self._segments.values():
            for batch in segment.batches.values():
                serial = _committed(batch)
                if not serial:
                    continue            # this transaction's own, open
                entries = batch.entries
                hits = [number for number, entry in enumerate(entries)
                        if entry is not None
                        and _names(entry, groups, users)]
                if not hits:
                    continue
                if limit is not None:
                    hits = hits[:limit - dropped]
                if batch.tid is None:
                    batch.tid = serial  # rewritten: its serial changes
                for number in hits:
                    entries[number] = None
                batch._p_changed = True
                dropped += len(hits)
                if dropped == limit:
                    return dropped
        return dropped


def _names(entry, groups, users):
    """Whether an outbox entry is of one of the goal ``groups`` (its
    ``group_id``) or of one of the ``users`` (a ``track.saved`` event's
    ``userName``)."""
    kind, timestamp, data = entry
    if data.get('group_id') in groups:
        return True
    return kind == 'track.saved' and data.get('userName') in users


def _tid_time(tid):
    return TimeStamp(tid.to_bytes(8, 'big')).timeTime()


def _check_position(position):
    if (isinstance(position, bool) or not isinstance(position, int)
            or position < 0):
        raise ValueError('position must be an int, 0 or more (0 for the '
                         'beginning), got %r' % (position,))

"""Event ids: a re-sent track is stored once (xAPI's statement id rule).

A caller may give a track an *event id*, a string of its own choosing (an
xAPI statement id, a UUID, a message id). The first save with an id
stores the track; a later save with the same id and the same content
stores nothing and returns the first track's id, so a client that is not
sure its save arrived (a timeout, a crash, an import run again) can
simply send it again. The same id with other content is a mistake, and
is refused naming both tracks (xAPI answers 409 Conflict). Tracks saved
without an id behave as before.

*Content* is what the caller sent: taskId, userName, data, and timeStamp
as given (None stays None, so a re-send later in time is still the
same). The run is not part of it: it says where the storage put the
event, not what happened (a re-send after the task's current run changed,
or an export imported again with its runs made anew, is the same event).
Content is kept as a 16-byte digest, not compared with the stored track,
so that updating a track later does not turn a re-send of its event into
a conflict.

Layout for concurrent writers (see ``partitions``): id -> (number,
digest) lives in SHARDS trees picked by a CRC-32 of the id, so two
writers adding different ids seldom touch one bucket; two adding the
*same* id write the same key of one bucket, which BTrees refuse to
merge: one of them gets a ConflictError, retries, and finds the id. The
way back, number -> id (to forget an id with its track), lives in
partitions of track numbers like the tracks themselves.
"""

import hashlib
import zlib

from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking.interfaces import IEventIdIndex
from cybertools_tracking.partitions import PartitionedTree, ShardedTree
from cybertools_tracking.validation import InvalidValueError, check_name
from cybertools_tracking.validation import shorten

__all__ = ['EventIdIndex', 'EventIdConflictError', 'check_event_id',
           'content_digest']


class EventIdConflictError(InvalidValueError):
    """An event id already names a track with other content."""


def check_event_id(eventId):
    """Return ``eventId`` as a plain str; None passes as None. Raises
    InvalidTypeError for a non-string and InvalidValueError for an empty
    one or one UTF-8 cannot encode."""
    if eventId is None:
        return None
    eventId = check_name('eventId', eventId)
    if not eventId:
        raise InvalidValueError('eventId must not be empty, got %r'
                                % eventId)
    return eventId


def _canonical(value):
    """Text that is the same for equal content and differs otherwise:
    dict keys sorted, types named (1, 1.0 and True differ)."""
    kind = type(value)
    if isinstance(value, dict):         # track.data is a read-only dict
        return '{%s}' % ','.join(sorted(
            '%s:%s' % (_canonical(k), _canonical(v))
            for k, v in value.items()))
    if isinstance(value, list):
        return '[%s]' % ','.join(_canonical(v) for v in value)
    if isinstance(value, tuple):
        return '(%s)' % ','.join(_canonical(v) for v in value)
    if kind is float:
        return 'f' + value.hex()
    return kind.__name__ + repr(value)


def content_digest(taskId, userName, data, timeStamp):
    """16 bytes standing for a save's content (checked values)."""
    text = _canonical((taskId, userName, data, timeStamp))
    return hashlib.blake2b(text.encode('utf-8', 'surrogatepass'),
                           digest_size=16).digest()


class _ById(ShardedTree):

    @staticmethod
    def shard_of(key):
        return zlib.crc32(key.encode('utf-8'))


@implementer(IEventIdIndex)
class EventIdIndex(Persistent):
    """See IEventIdIndex. Written once, when made: entries live in the
    trees below it."""

    def __init__(self):
        self._byId = _ById()              # eventId -> (num, digest)
        self._byNum = PartitionedTree()   # num -> eventId

    def find(self, eventId):
        entry = self._byId.get(eventId)
        return None if entry is None else entry[0]

    def match(self, eventId, digest, describe):
        entry = self._byId.get(eventId)
        if entry is None:
            return None
        num, stored = entry
        if stored != digest:
            raise EventIdConflictError(
                'eventId %s names track %s already, with other content than '
                'the track now saved (%s); an event id stands for one '
                'content (xAPI)' % (shorten(eventId), describe(num),
                                    describe(None)))
        return num

    def add(self, eventId, num, digest):
        self._byId[eventId] = (num, digest)
        self._byNum[num] = eventId

    def eventIdOf(self, num):
        return self._byNum.get(num)

    def discard(self, num):
        eventId = self._byNum.pop(num, None)
        if eventId is not None:
            entry = self._byId.get(eventId)
            if entry is not None and entry[0] == num:
                del self._byId[eventId]
        return eventId

    def __len__(self):
        return sum(len(tree) for tree in self._byId._shards)

    def check(self, has_track, limit=100):
        problems = []

        def problem(text, *args):
            if len(problems) < limit:
                problems.append(text % args)

        shards = self._byId._shards
        for position, tree in enumerate(shards):
            for eventId, (num, digest) in tree.items():
                if _ById.shard_of(eventId) % len(shards) != position:
                    problem('event id %r is in shard %d, not in its own',
                            eventId, position)
                if not has_track(num):
                    problem('event id %r names track %d, which is not '
                            'there', eventId, num)
                elif self._byNum.get(num) != eventId:
                    problem('event id %r names track %d, whose event id is '
                            '%r', eventId, num, self._byNum.get(num))
        for num, eventId in self._byNum.items():
            entry = self._byId.get(eventId)
            if entry is None or entry[0] != num:
                problem('track %d has event id %r, which names %s', num,
                        eventId, 'no track' if entry is None
                        else 'track %d' % entry[0])
        return problems


# what TrackingStorage.saveUserTrack asks, in this order

def check_save(eventId, update):
    """The checked event id of a save. Raises a ValidationError for a bad
    id, or for an id given with ``update`` (an event id names a new
    track)."""
    eventId = check_event_id(eventId)
    if update:
        raise InvalidValueError('eventId %s names a new track; it cannot be '
                                'given with update or replace'
                                % shorten(eventId))
    return eventId


def known(index, storage, eventId, digest, track):
    """The id of the track ``storage`` saved with ``eventId`` and content
    ``digest``, or None for a new id; EventIdConflictError for other
    content, naming that track and ``track`` (made, not stored yet)."""
    if index is None:
        return None

    def describe(num):
        if num is None:
            found = track
        else:
            found = storage.get(storage.idFromNum(num))
            if found is None:
                return 'a track %d that is gone' % num
        return '%s taskId %s, userName %s, data %s' % (
            'the new track:' if num is None else found.__name__ + ':',
            shorten(found.taskId), shorten(found.userName),
            shorten(found.data))
    num = index.match(eventId, digest, describe)
    return None if num is None else storage.idFromNum(num)

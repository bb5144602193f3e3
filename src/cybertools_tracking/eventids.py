"""Event ids: a re-sent track is stored once (xAPI's statement id rule).

A caller may give a track an *event id*, a string of its own choosing (an
xAPI statement id, a UUID, a message id). The first save with an id
stores the track; a later save with the same id and the same content
stores nothing and returns the first track's id, so a client that is not
sure its save arrived (a timeout, a crash, an import run again) can
simply send it again. The same id with other content is a mistake, and
is refused naming both tracks (xAPI answers 409 Conflict). Tracks saved
without an id behave as before.

*Content* is what the caller sent: taskId, userName and data, and the
time. A re-send may leave the time out even if the first save gave one,
and may give the time the first save got from the clock even if that
save gave none (a client that keeps the answer of the first save sends
what it got): the time is checked only when the re-send gives one, and
then against the time the first save stored (whole seconds, as stored).
The run is not part of it: it says where the storage put the event, not
what happened (a re-send after the task's current run changed, or an
export imported again with its runs made anew, is the same event).
Content is kept as a 16-byte digest of taskId, userName and data, and
the first save's time, not compared with the stored track, so that
updating a track later does not turn a re-send of its event into a
conflict. A conflict names each field that differs, with the value
first sent where the stored track still shows it.

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
from collections import namedtuple

from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking.interfaces import IEventIdIndex
from cybertools_tracking.partitions import PartitionedTree, ShardedTree
from cybertools_tracking.validation import InvalidValueError, check_name
from cybertools_tracking.validation import shorten

__all__ = ['EventIdIndex', 'EventIdConflictError', 'EventContent',
           'check_event_id', 'content_digest', 'describe_differences',
           'conflict_message']


class EventIdConflictError(InvalidValueError):
    """An event id already names a track with other content.

    ``eventId``: the id; ``trackId``: the id of the track saved with it;
    ``differences``: (field, value first sent, value now sent) for each
    field that differs, as far as the stored track still shows it
    (empty if it was changed since). A caller that saves several tracks
    at once (an HTTP batch) words its own message from these."""

    def __init__(self, message, eventId=None, trackId=None,
                 differences=()):
        super().__init__(message)
        self.eventId = eventId
        self.trackId = trackId
        self.differences = tuple(differences)


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


def _digest(values):
    text = _canonical(values)
    return hashlib.blake2b(text.encode('utf-8', 'surrogatepass'),
                           digest_size=16).digest()


def content_digest(taskId, userName, data):
    """16 bytes standing for a save's content without its time (checked
    values)."""
    return _digest((taskId, userName, data))


class EventContent(namedtuple('EventContent',
                              'taskId userName data timeStamp given')):
    """What a save with an event id sent, checked: ``timeStamp`` is the
    second the track gets (whole seconds, UTC), ``given`` whether the
    caller gave it (else it is the clock's)."""

    __slots__ = ()

    def digest(self):
        return content_digest(self.taskId, self.userName, self.data)

    def same_as(self, stored_digest, stored_time):
        """Whether this save sends the event stored as ``stored_digest``
        at ``stored_time`` (see the module doc: a time left out matches)."""
        return stored_digest == self.digest() and (
            not self.given or self.timeStamp == stored_time)

    def _legacy_digest(self):
        # Entries of the first version: (num, digest of the four values,
        # the time as given or None).
        return _digest((self.taskId, self.userName, self.data,
                        self.timeStamp if self.given else None))


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

    def match(self, eventId, content, describe):
        entry = self._byId.get(eventId)
        if entry is None:
            return None
        if len(entry) == 2:     # an entry of the first version
            num, stored = entry
            first_time = None
            same = stored == content._legacy_digest()
            fields_same = False
        else:
            num, stored, first_time = entry
            same = content.same_as(stored, first_time)
            fields_same = stored == content.digest()
        if not same:
            raise describe(num, first_time, fields_same)
        return num

    def add(self, eventId, num, content):
        self._byId[eventId] = (num, content.digest(), content.timeStamp)
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
            for eventId, entry in tree.items():
                num = entry[0]
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


def known(index, storage, eventId, content, track):
    """The id of the track ``storage`` saved with ``eventId`` and the
    same ``content`` (an EventContent), or None for a new id;
    EventIdConflictError for other content, naming each field that
    differs from the stored track (``track``: the one made, not
    stored)."""
    if index is None:
        return None

    def conflict(num, first_time, fields_same):
        # fields_same: taskId, userName and data are those first sent
        # (the digest says so), whatever the track shows now.
        trackId = storage.idFromNum(num)
        found = storage.get(trackId)
        differences = []
        if found is not None and not fields_same:
            for field, before, now in (
                    ('taskId', found.taskId, content.taskId),
                    ('userName', found.userName, content.userName),
                    ('data', found.data, track.data)):
                if _canonical(before) != _canonical(now):
                    differences.append((field, before, now))
        if content.given and first_time is not None \
                and first_time != content.timeStamp:
            differences.append(('timeStamp', first_time, content.timeStamp))
        return EventIdConflictError(
            'eventId %s names track %s already, with other content: %s; '
            'an event id stands for one content (xAPI)' % (
                shorten(eventId), trackId if found is not None else
                '%s (gone)' % trackId, describe_differences(differences)),
            eventId, trackId, differences)
    num = index.match(eventId, content, conflict)
    return None if num is None else storage.idFromNum(num)


def describe_differences(differences):
    """``differences`` of an EventIdConflictError as text: "data {'a':
    1}, now {'a': 2}; ..." ."""
    if not differences:
        return ('not the content first sent (the track was changed since, '
                'so its first content cannot be shown)')
    return '; '.join('%s %s, now %s' % (field, shorten(before), shorten(now))
                     for field, before, now in differences)


def conflict_message(error, show):
    """The message of an EventIdConflictError ``error`` with its values
    (the event id, and each difference "field FIRST, now NOW") shown by
    ``show``, a function of a value that returns text: a front end shows
    them as its users write them (HTTP and ``import``: JSON), not as
    Python reprs. One wording for every front end."""
    message = str(error)
    differences = getattr(error, 'differences', ())
    if differences:
        python = describe_differences(differences)
        message = message.replace(python, '; '.join(
            '%s %s, now %s' % (field, show(before), show(now))
            for field, before, now in differences), 1)
    eventId = getattr(error, 'eventId', None)
    if eventId is not None:
        message = message.replace('eventId %s' % shorten(eventId),
                                  'eventId %s' % show(eventId), 1)
    return message

"""Hostile values into every method of the storage that writes.

Each call either succeeds, and the storage is still consistent
(``check_storage`` finds nothing), or it raises a documented error and
leaves the storage exactly as it was (``snapshot``): a ValidationError
(a TypeError or ValueError) for a bad argument, a KeyError for a track
that is not stored there. Nothing else may come out: a RecursionError, an
OverflowError or a bare TypeError from a BTree is a check that ran too
late, or not at all.
"""

import collections
import datetime
import decimal
import enum
import fractions
import types

from hypothesis import given, settings
from hypothesis import strategies as st

from cybertools_tracking.check import check_storage
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.track import Track
from cybertools_tracking.validation import ValidationError

from tests.snapshot import snapshot

T0 = 1_700_000_000


class Visit(Track):
    """Two extra indexes, one of numbers, one of strings."""
    index_attributes = Track.index_attributes + ('level', 'page')
    typeName = 'Visit'


class Colour(enum.IntEnum):
    RED = 1


class KeysFail:
    def keys(self):
        raise KeyError('gone')


SURROGATE = st.builds(lambda a, b: a + b, st.text(max_size=2),
                      st.sampled_from(['\udcff', '\ud800', '\udfff']))
TEXT = st.one_of(st.sampled_from(['t', 'u', 'v', '', 'x*', '*']),
                 st.text(max_size=4), SURROGATE)
BIG = [2 ** 63 - 1, 2 ** 63, -2 ** 63, -2 ** 63 - 1, 2 ** 64, -2 ** 64,
       10 ** 30, 253402300799, 253402300800, -62135596801]
INTS = st.one_of(st.integers(-2, 5), st.integers(), st.sampled_from(BIG))
FLOATS = st.one_of(st.floats(), st.sampled_from([1e19, -1e19, 1.5, -0.0]))
ODD = st.sampled_from([
    b'x', bytearray(b'y'), object(), dict, len, {1, 2}, frozenset([1]),
    decimal.Decimal('1.5'), decimal.Decimal('NaN'), decimal.Decimal('sNaN'),
    fractions.Fraction(1, 3), datetime.date(2020, 1, 1),
    datetime.datetime(1, 1, 1), datetime.timedelta(1), Colour.RED,
    KeysFail(), types.MappingProxyType({'a': 1}),
    collections.OrderedDict(level=2), (1, [2]), [], {},
])
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT,
                    st.binary(max_size=3), ODD)
KEYS = st.one_of(TEXT, INTS, FLOATS, st.none(),
                 st.sampled_from([(1, 2), b'k', Colour.RED]))


def nested(levels):
    value = 'leaf'
    for level in range(levels):
        value = {'k': value} if level % 2 else [value]
    return {'deep': value}


VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(KEYS, inner, max_size=3),
                            st.tuples(inner, inner)),
    max_leaves=8)
PLAIN = st.one_of(st.integers(), st.floats(allow_nan=False),
                  st.text(max_size=3))
DATA = st.one_of(
    st.dictionaries(st.text(max_size=3), PLAIN, max_size=3),
    st.fixed_dictionaries({}, optional={'level': PLAIN, 'page': PLAIN}),
    st.dictionaries(KEYS, VALUES, max_size=4),
    st.fixed_dictionaries({}, optional={'level': SCALARS, 'page': SCALARS,
                                        'x': VALUES}),
    st.integers(95, 520).map(nested),
    SCALARS)
TIMES = st.one_of(st.none(), st.integers(T0, T0 + 9), INTS, FLOATS,
                  st.datetimes(), st.sampled_from(['now', True]))
RUN_IDS = st.one_of(st.integers(0, 4), INTS, FLOATS, st.none(),
                    st.booleans(), TEXT)
# A track: one stored (by position, most often), by id, or something else.
TRACKS = st.integers(0, 9).flatmap(lambda k: (
    st.integers(0, 9).map(lambda i: ('stored', i)) if k < 6 else
    st.integers(0, 9).map(lambda i: ('id', i)) if k < 8 else
    SCALARS.map(lambda v: ('value', v))))
INDEX_NAMES = st.one_of(st.sampled_from(Visit.index_attributes), st.none(),
                        TEXT, INTS)

OPERATIONS = st.one_of(
    st.tuples(st.just('save'), TEXT, RUN_IDS, TEXT, DATA, st.booleans(),
              TIMES, st.booleans(), st.booleans()),
    # ... and with good arguments but the data, to get past the first check
    st.tuples(st.just('save'), st.sampled_from(['t', 's']),
              st.integers(0, 3), st.sampled_from(['u', 'v']), DATA,
              st.booleans(), st.integers(T0, T0 + 9) | st.none(),
              st.booleans(), st.booleans()),
    st.tuples(st.just('updateTrack'), TRACKS, DATA, st.booleans(), TIMES),
    st.tuples(st.just('setTrackData'), TRACKS, DATA),
    st.tuples(st.just('assign'), TRACKS, DATA),
    st.tuples(st.just('update'), TRACKS, DATA, st.booleans()),
    st.tuples(st.just('indexTrack'), st.one_of(st.integers(0, 9), SCALARS),
              TRACKS, INDEX_NAMES),
    st.tuples(st.just('behind'), st.integers(0, 9),
              st.sampled_from(['userName', 'timeStamp', 'level', 'page']),
              SCALARS, st.booleans()),
    st.tuples(st.just('startRun'), st.one_of(TEXT, SCALARS)),
    st.tuples(st.just('stopRun'), st.one_of(TEXT, SCALARS), RUN_IDS,
              SCALARS),
    st.tuples(st.just('query'), st.dictionaries(
        st.sampled_from(['taskId', 'runId', 'userName', 'timeStamp', 'level',
                         'page', 'timeFrom', 'timeTo', 'timeFromTo', 'limit',
                         'newestFirst', 'other']),
        st.one_of(SCALARS, st.lists(SCALARS, max_size=2)), max_size=3)),
)


def filled():
    storage = TrackingStorage(trackFactory=Visit)
    storage.saveUserTrack('t', 0, 'u', {'level': 1, 'page': 'a'},
                          timeStamp=T0)
    storage.saveUserTrack('t', 0, 'v', {'level': 2.5, 'x': [1]},
                          timeStamp=T0 + 1)
    storage.saveUserTrack('s', 0, 'u', {'page': 'b'}, timeStamp=T0 + 2)
    return storage


def resolve(storage, ref):
    kind, value = ref
    tracks = list(storage.values())
    if kind == 'stored':
        return tracks[value % len(tracks)] if tracks else None
    if kind == 'id':
        return '%07i' % value
    return value


def call(storage, operation):
    """Run one operation; return a function that undoes what the test
    itself did behind the storage's back, if it has to be undone."""
    name, *args = operation
    if name == 'save':
        taskId, runId, userName, data, update, ts, overwrite, replace = args
        storage.saveUserTrack(taskId, runId, userName, data, update=update,
                              timeStamp=ts, overwrite=overwrite,
                              replace=replace)
    elif name == 'updateTrack':
        ref, data, overwrite, ts = args
        storage.updateTrack(resolve(storage, ref), data, overwrite=overwrite,
                            timeStamp=ts)
    elif name == 'setTrackData':
        ref, data = args
        storage.setTrackData(resolve(storage, ref), data)
    elif name in ('assign', 'update'):
        track = resolve(storage, args[0])
        if not isinstance(track, Track):
            return
        if name == 'assign':
            track.data = args[1]
        else:
            track.update(args[1], overwrite=args[2])
    elif name == 'indexTrack':
        num, ref, idx = args
        storage.indexTrack(num, resolve(storage, ref), idx)
    elif name == 'query':
        storage.query(**args[0])
    elif name == 'startRun':
        storage.startRun(args[0])
    elif name == 'stopRun':
        storage.stopRun(*args)
    else:
        raise AssertionError(name)


def behind_the_back(storage, position, attribute, value, everything):
    """Assign a stored track's attribute (an index key is checked and
    filed at once, or refused leaving everything as it was), then ask the
    storage to index the track again (or everything)."""
    tracks = list(storage.values())
    if not tracks:
        return
    track = tracks[position % len(tracks)]
    missing = object()
    old = track.__dict__.get(attribute, missing)
    before = snapshot(storage)
    try:
        setattr(track, attribute, value)
    except ValidationError:
        assert snapshot(storage) == before
        assert track.__dict__.get(attribute, missing) == old
        assert check_storage(storage) == []
        return
    before = snapshot(storage)
    try:
        if everything:
            storage.reindexTracks()
        else:
            storage.indexTrack(0, track)
    except ValidationError as error:
        # The track the indexes cannot hold is named: this one, or for a
        # rebuild, one whose kind of value now differs from the first's.
        assert str(error).startswith('track 00000')
        assert snapshot(storage) == before
        if old is missing:
            delattr(track, attribute)
        else:
            setattr(track, attribute, old)
    assert check_storage(storage) == []


@settings(max_examples=120, deadline=None)
@given(st.lists(OPERATIONS, min_size=1, max_size=6))
def test_hostile_values_are_refused_or_stored_consistently(operations):
    storage = filled()
    for operation in operations:
        if operation[0] == 'behind':
            behind_the_back(storage, *operation[1:])
            continue
        before = snapshot(storage)
        try:
            call(storage, operation)
        except ValidationError as error:
            assert isinstance(error, (TypeError, ValueError))
            assert snapshot(storage) == before
        except KeyError:
            # Only for a track that is not stored here.
            assert operation[0] in ('updateTrack', 'setTrackData',
                                    'indexTrack')
            assert snapshot(storage) == before
        else:
            if operation[0] == 'query':
                assert snapshot(storage) == before
        assert check_storage(storage) == []

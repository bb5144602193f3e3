"""The row format: how tracks are kept inside the records of a storage.

A track is not a record of its own. The tracks of one combination
(taskId, runId, userName) that share a second are one *row group*: the
value stored under that second in the combination's tree (see
``store``). A row is ``(num, data, extras)``:

``num``
    the track number (its id is ``'%07i' % num``);
``data``
    the plain dict that ``validation.copy_data`` made;
``extras``
    None, or a dict of what else the track carries: attributes a
    ``Track`` subclass sets, and a metadata attribute (taskId, runId,
    userName, timeStamp) set on the track behind the index's back, that
    is, to something else than the combination and second the row is
    filed under, until ``indexTrack`` or ``reindexTracks`` moves it.

A row group is the tuple of its rows in number order, encoded into one
bytes value: ZODB's pickler then sees one object where the rows hold
dozens (it calls ``persistent_id`` for each, about half the cost of a
commit).

The encoding is Python's ``marshal`` (format version 4) when no row has
extras and the data holds only what marshal writes (None, bools, ints,
floats, strings, bytes, lists, tuples and dicts: JSON-like data), and a
pickle otherwise (dates, Decimals, extras). Both read back as they were
written. Marshal is the one to read fast: a cold read decodes a group
per second of each combination it reads, and on a user's ~1,000 tracks
(~630 groups) ``marshal.loads`` took 0.45 ms where ``pickle.loads``
took 1.0 ms; its bytes are ~15% fewer too. A pickle starts with a byte
(0x80, PROTO) that no marshal value does, so the first byte tells them
apart. Marshal's format is Python's own; version 4 is asked for by
name, and newer Pythons read the older versions. Like ZODB's pickles,
marshal trusts the database it reads; neither is meant for data from
elsewhere. Stores made before marshal rows write pickles until
``upgrade`` switches them (``TrackStore.rowEncoding``): a process of an
older version, a ZEO client not yet upgraded, reads only pickles.

Data passed ``copy_data`` always pickles. Extras may hold anything a
subclass puts there: a group whose extras would not pickle plainly (a
persistent object, which must stay a reference, or a value pickle
refuses) is kept as the tuple itself, pickled by ZODB with the bucket as
a track record was before; it fails at commit exactly where a track
record would have failed.
"""

import io
import marshal
import pickle

from persistent import Persistent

__all__ = ['CORE', 'MISSING', 'VIEW_ONLY', 'extras_of', 'own_core', 'pack',
           'numbers_of', 'unpack', 'unpack_once', 'unpack_plain',
           'view_state']

PROTOCOL = 5
MARSHAL_VERSION = 4      # written explicitly: a newer Python's default may
                         # be a format older Pythons cannot read
_PICKLED = 0x80          # the first byte of a pickle (PROTO); see above

# The metadata a row does not repeat: its filing says it.
CORE = ('taskId', 'runId', 'userName', 'timeStamp')
# Names of a track view that are not kept in extras: the storage, the
# number and the data (a row's own fields), and the properties that
# change them through the storage.
VIEW_ONLY = frozenset(('__parent__', '_num', '_data', 'data', '__name__'))


class _Reference(Exception):
    pass


class _PlainPickler(pickle.Pickler):
    """A pickler that refuses persistent objects (they must stay
    references, which only ZODB's own pickler writes)."""

    def persistent_id(self, obj):
        if isinstance(obj, Persistent):
            raise _Reference()
        return None


def pack(rows, marshalled=True):
    """The stored value of a row group: ``rows`` is a tuple of rows
    ``(num, data, extras)`` in number order. ``marshalled``: whether a
    group that marshal can write is written so (see the module docstring;
    False writes what versions before marshal rows read)."""
    for row in rows:
        if row[2] is not None:
            break
    else:
        if marshalled:
            try:
                return marshal.dumps(rows, MARSHAL_VERSION)
            except ValueError:      # a value marshal does not write
                pass
        return pickle.dumps(rows, PROTOCOL)
    out = io.BytesIO()
    try:
        _PlainPickler(out, PROTOCOL).dump(rows)
    except Exception:
        return rows           # kept as it is; see the module docstring
    return out.getvalue()


# Row groups decoded lately, by their bytes: reading the same group again
# (a warm lookup) costs a dict lookup instead of decoding, and hands out
# the same row tuples while the stored bytes are the same. A decoded row
# is what was packed: its data is a plain dict, shared by every reader of
# the group, so nothing may change it in place. Nothing here does: a
# track hands out a read-only view of it (``Track.data``, made when first
# asked for; see readonly), and writers repack new dicts. (The views were
# made here once, for every row decoded; made when asked for, a cold read
# makes one object less per track, and only a plain dict of plain values,
# which the cyclic garbage collector does not track.) Two generations of
# up to DECODED_MAX groups each: when the young one is full it becomes the
# old one (the old one is dropped), and a group found in the old one moves
# to the young one; so a group read again and again stays, and a sweep
# over more groups than fit costs no more than before. Only whole dicts
# are swapped (no iteration), which is safe with threads.
_decoded = {}
_older = {}
DECODED_MAX = 16384


def _loads(value):
    """The rows of a stored row group (bytes), as they were packed."""
    if value[0] == _PICKLED:
        return pickle.loads(value)
    return marshal.loads(value)


def unpack(value):
    """The tuple of rows of a stored row group."""
    global _decoded, _older
    if type(value) is not bytes:
        return value
    rows = _decoded.get(value)
    if rows is None:
        rows = _older.get(value)
        if rows is None:
            rows = _loads(value)
        young = _decoded
        if len(young) >= DECODED_MAX:
            _older, _decoded = young, {}
            young = _decoded
        young[value] = rows
    return rows


def unpack_once(value):
    """The tuple of rows of a stored row group, as ``unpack`` gives it, for
    a reader that reads each group once (a sweep over many, such as a goal
    backfill): taken from ``unpack``'s groups when it is there, else
    decoded without being kept. A sweep over more groups than those hold
    would only churn them, and that costs more than decoding: every group
    kept is garbage two generations later, and until then the cyclic
    garbage collector walks it with everything else alive (measured: a
    sweep of 100,000 one-row groups 0.40 s through ``unpack``, 0.14 s
    decoding each)."""
    if type(value) is not bytes:
        return value
    rows = _decoded.get(value)
    if rows is None:
        rows = _older.get(value)
        if rows is None:
            rows = _loads(value)
    return rows


def numbers_of(value):
    """The track numbers of a stored row group, in order."""
    rows = _decoded.get(value) if type(value) is bytes else value
    if rows is None:
        rows = _older.get(value)
        if rows is None:
            rows = _loads(value)
    return [row[0] for row in rows]


def unpack_plain(value):
    """The rows of a stored row group as they were packed (plain data),
    decoded afresh: for writers, which repack them at once."""
    return _loads(value) if type(value) is bytes else value


def extras_of(state, key, ts):
    """The extras of a track whose attributes are ``state`` (its
    ``__dict__``) filed under ``key`` (taskId, runId, userName) and
    ``ts``: None when it has nothing beyond its filing and data."""
    if state.keys() <= _PLAIN and state.get('taskId') is key[0] \
            and state.get('userName') is key[2] \
            and type(state.get('runId')) is int \
            and state['runId'] == key[1] \
            and type(state.get('timeStamp')) is int \
            and state['timeStamp'] == ts:
        return None                     # the common case, quickly
    extras = None
    for name, value in state.items():
        if name in VIEW_ONLY or name.startswith('_v_') or name in CORE:
            continue
        if extras is None:
            extras = {}
        extras[name] = value
    for name, filed in zip(CORE, key + (ts,)):
        value = state.get(name, _MISSING)
        if value is _MISSING or type(value) is not type(filed) \
                or value != filed:
            if extras is None:
                extras = {}
            extras[name] = value
    return extras


_PLAIN = frozenset(CORE) | VIEW_ONLY | {'_v_data', '_v_store', '_v_row'}


class _Missing:
    """An attribute a track does not have (deleted behind the index's
    back); kept in extras so that the view lacks it too."""

    def __reduce__(self):
        return 'MISSING'

    def __repr__(self):
        return 'MISSING'


MISSING = _MISSING = _Missing()


def view_state(num, key, ts, data, extras, parent):
    """The ``__dict__`` of the view of a row."""
    state = {'taskId': key[0], 'runId': key[1], 'userName': key[2],
             'timeStamp': ts, '_data': data, '__parent__': parent,
             '_num': num}
    if extras:
        for name, value in extras.items():
            if value is _MISSING:
                state.pop(name, None)
            else:
                state[name] = value
    return state


def own_core(key, ts, extras):
    """(key, ts) a row's track says it has: its filing, unless its extras
    say otherwise (a metadata attribute set behind the index's back)."""
    if not extras:
        return key, ts
    values = [extras.get(name, filed)
              for name, filed in zip(CORE, key + (ts,))]
    return tuple(values[:3]), values[3]

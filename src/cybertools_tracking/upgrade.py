"""Converting a storage written before the row layout.

Before, every track was a record of its own, in ``_tracks`` (a
``PartitionedTree`` of number -> Track), indexed by a ``CompositeIndex``
in ``_index``. Now tracks are rows in their combination's records (see
``store``). What stays as it is: the track numbers (so ids, the extra
field indexes and the count stay valid), the runs, the current runs and
the id counters.

Conversion copies every track into the new store, in number order and in
batches, each committed on its own (``upgrade``); the number converted so
far is stored with the storage, so a conversion stopped half-way goes on
from there. Until the last batch is done, the storage keeps its old
layout and refuses to be used (``layout`` says 'records'); the last
batch drops the old tracks and index, whose records a pack then removes.

A small storage is converted when it is opened (``get_storage``) in the
caller's transaction: it takes effect when the caller commits.

Storages of the first row layout have combination trees and registry
shards of smaller buckets (plain LOBTrees and OOBTrees; see
``store.RowTree``). They work as they are; ``renew_trees`` copies them
into the current classes, in batches, each committed, so that a user's
tracks are fewer records to load. It needs no progress record: what is
left is what still has an old class.

Stores made before marshal rows write their row groups as pickles, which
every version reads; ``use_marshal`` switches a store to marshal (see
``rows``), faster to read and smaller. It is a step of its own, taken by
the ``upgrade`` command, because processes of the versions before cannot
read marshal rows: run it once every process (every ZEO client) has this
version. Groups written before stay pickles and read as they are.
"""

import transaction
from persistent import Persistent

from cybertools_tracking.partitions import PARTITION
from cybertools_tracking.rows import extras_of
from cybertools_tracking.store import TrackStore
from cybertools_tracking.validation import ValidationError

__all__ = ['LayoutError', 'ON_OPEN_MAX', 'convert', 'convert_on_open',
           'needs_upgrade', 'old_trees', 'renew_trees', 'upgrade',
           'use_marshal']

# Storages of at most this many tracks are converted on open.
ON_OPEN_MAX = 20_000
BATCH = 5_000
TREE_BATCH = 1_000       # combination trees (~50 rows each at 1M tracks)


class LayoutError(Exception):
    """A storage of the layout before rows that is too big to convert on
    open: run ``cybertools-tracking upgrade``."""


class Progress(Persistent):
    """How far a conversion got: the highest number converted."""

    done = 0


def needs_upgrade(storage):
    storage._p_activate()
    return storage.__dict__.get('_store') is None \
        or storage.__dict__.get('_upgrade') is not None


def _old_tracks(storage):
    storage._p_activate()
    return storage.__dict__['_tracks']


def convert(storage, limit=None):
    """Convert up to ``limit`` tracks (all for None) of ``storage`` in the
    current transaction; return (converted now, left). When none are left
    the old layout is dropped and the storage is ready."""
    storage._p_activate()
    state = storage.__dict__
    if state.get('_store') is None:
        storage._store = TrackStore()
        storage._upgrade = Progress()
    progress = state['_upgrade']
    store = state['_store']
    old = _old_tracks(storage)
    count = 0
    for partition in old._partitions.values(min=progress.done // PARTITION):
        for num, track in partition.items(min=progress.done + 1):
            if limit is not None and count >= limit:
                return count, True
            _convertTrack(storage, store, num, track)
            progress.done = num
            count += 1
    for name in ('_tracks', '_index', '_upgrade'):
        state.pop(name, None)
    storage._p_changed = True
    return count, False


def _convertTrack(storage, store, num, track):
    track._p_activate()
    state = dict(track.__dict__)
    try:
        key, ts = storage._coreOf(track)
    except ValidationError as error:
        raise ValidationError('track %07i cannot be converted: %s; repair '
                              'it with the version that wrote it'
                              % (num, error)) from None
    data = state.get('_data')
    store.add(key, ts, num, {} if data is None else data,
              extras_of(state, key, ts))


def upgrade(db, name, batch=BATCH, progress=None):
    """Convert the storage ``name`` of ``db`` in batches of ``batch``
    tracks, each in a transaction of its own; resumable. ``progress``,
    if given, is called with the number of tracks converted after each
    batch. Returns the number converted (0 if there was nothing to do)."""
    def step(storage):
        if not needs_upgrade(storage):
            return 0, False
        return convert(storage, batch)
    return _in_batches(db, name, step, '%d tracks', progress)


def old_trees(storage):
    """How many combination trees and registry shards of ``storage`` (of
    the row layout) have the classes of the first row layout."""
    return storage._store.oldTrees()


def renew_trees(db, name, batch=TREE_BATCH, progress=None):
    """Copy the old combination trees and registry shards of the storage
    ``name`` of ``db`` into the current classes, up to ``batch`` in each
    transaction; resumable. ``progress``, if given, is called with the
    number renewed after each batch. Returns the number renewed."""
    return _in_batches(db, name,
                       lambda storage: storage._store.renewTrees(batch),
                       '%d trees renewed', progress)


def use_marshal(storage):
    """Make the row store of ``storage`` (of the row layout) write its row
    groups with marshal from now on, in the caller's transaction; return
    whether that changed anything. See the module docstring."""
    return storage._store.useMarshal()


def _in_batches(db, name, step, note, progress):
    """Run ``step(storage)`` -> (count, more left) on a connection of its
    own, committing after each step (the last may finish the work with a
    count of 0), until none is left; return the sum of the counts."""
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    total = 0
    try:
        while True:
            count, left = step(connection.root()[name])
            manager.get().note('cybertools-tracking upgrade: '
                               + note % count)
            manager.commit()
            connection.cacheGC()
            if count:
                total += count
                if progress is not None:
                    progress(count)
            if not left:
                return total
    finally:
        manager.abort()
        connection.close()


def convert_on_open(storage):
    """Convert a small storage of the layout before rows in the caller's
    transaction; a big one is refused (LayoutError)."""
    old = _old_tracks(storage) if storage.__dict__.get('_tracks') is not None \
        else None
    size = len(storage)
    if old is not None and size > ON_OPEN_MAX:
        raise LayoutError(
            'this tracking storage has the layout before rows and %d tracks, '
            'too many to convert on open (at most %d): run '
            '"cybertools-tracking upgrade" first' % (size, ON_OPEN_MAX))
    convert(storage)

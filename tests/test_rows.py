"""The row layout: row format, location pages, track views, the store."""

import pickle

import pytest
import transaction
from persistent.mapping import PersistentMapping
from ZODB.POSException import ConflictError
from zope.interface.verify import verifyObject

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.interfaces import ITrackStore
from cybertools_tracking.locations import PAGE, LocationPage
from cybertools_tracking.rows import MISSING, extras_of, pack, unpack
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.track import Track

T0 = 1_700_000_000


class Visit(Track):
    index_attributes = Track.index_attributes + ('device',)
    typeName = 'Visit'
    device = None

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.source = 'web'


def test_store_provides_its_interface():
    assert verifyObject(ITrackStore, TrackingStorage()._store)


def test_a_row_group_is_one_bytes_value_unless_it_holds_references():
    rows = ((1, {'a': [1, 2]}, None), (2, {}, {'device': 'tv'}))
    packed = pack(rows)
    assert type(packed) is bytes and unpack(packed) == rows
    # A persistent object must stay a reference: kept as the tuple.
    ref = PersistentMapping()
    kept = pack(((3, {}, {'owner': ref}),))
    assert type(kept) is tuple and unpack(kept)[0][2]['owner'] is ref
    # So is what pickle refuses (it fails at commit, as a record would).
    odd = pack(((4, {}, {'x': (i for i in ())}),))
    assert type(odd) is tuple


def test_extras_hold_attributes_and_metadata_off_the_filing():
    key, ts = ('t', 1, 'u'), T0
    state = {'taskId': 't', 'runId': 1, 'userName': 'u', 'timeStamp': ts,
             '_data': {}, '__parent__': None, '_num': 5, '_v_data': {}}
    assert extras_of(state, key, ts) is None
    state.update(device='tv', runId=True)
    del state['userName']
    assert extras_of(state, key, ts) == {'device': 'tv', 'runId': True,
                                         'userName': MISSING}
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING


def _page(changes):
    page = LocationPage()
    for i, (cid, ts) in changes.items():
        page.cids[i], page.tss[i] = cid, ts
    return page.__getstate__()


def test_location_pages_merge_changes_to_different_slots():
    old = _page({1: (7, T0), 2: (8, T0)})
    saved = _page({1: (7, T0 + 5), 2: (8, T0), 3: (9, T0)})  # moved 1, +3
    new = _page({1: (7, T0), 2: (8, T0 + 9), 4: (9, T0)})    # moved 2, +4
    merged = LocationPage()
    merged.__setstate__(LocationPage()._p_resolveConflict(old, saved, new))
    assert [(merged.cids[i], merged.tss[i]) for i in range(5)] == [
        (0, 0), (7, T0 + 5), (8, T0 + 9), (9, T0), (9, T0)]
    assert len(merged.cids) == PAGE
    with pytest.raises(ConflictError, match='two writers'):
        LocationPage()._p_resolveConflict(
            old, _page({1: (7, T0 + 1), 2: (8, T0)}),
            _page({1: (7, T0 + 2), 2: (8, T0)}))


def test_views_write_assignments_back(tmp_path):
    path = str(tmp_path / 'v.fs')
    db = open_db(path)
    conn = db.open()
    st = get_storage(conn, trackFactory=Visit)
    tid = st.saveUserTrack('t', 0, 'u', {'k': 1}, timeStamp=T0)
    other = st.saveUserTrack('t', 0, 'u', {'k': 2}, timeStamp=T0)
    track = st[tid]
    assert track is st[tid] and track.source == 'web'
    track.device = 'phone'                 # an indexed attribute
    track.note = 'hello'                   # any attribute
    st.indexTrack(0, track, 'device')
    del track.source
    transaction.commit()
    conn.close()
    db.close()

    db = open_db(path)
    conn = db.open()
    st = get_storage(conn, create=False)
    track = st[tid]
    assert (track.device, track.note) == ('phone', 'hello')
    assert not hasattr(track, 'source') and st[other].source == 'web'
    assert [t.__name__ for t in st.query(device='phone')] == [tid]
    assert st.getLastUserTrack('t', 0, 'u').__name__ == other   # a tie
    assert check_storage(st) == []
    # A view from an aborted transaction writes back only what is
    # assigned to it, not its stale rest.
    st.updateTrack(tid, {'k': 10})
    stale = st[tid]
    transaction.abort()
    stale.note = 'later'
    assert st[tid].data == {'k': 1} and st[tid].note == 'later'
    # A removed track's view cannot store a change, and says so.
    st.removeTrack(tid)
    with pytest.raises(KeyError, match="not stored .* the change of 'note'"):
        stale.note = 'gone'
    assert tid not in st and check_storage(st) == []
    transaction.commit()
    conn.close()
    db.close()


def test_records_stay_few_per_track(tmp_path):
    """A commit of many tracks of one user writes a few records, not one
    (or two) per track as before the row layout."""
    from ZODB.FileStorage import FileStorage

    class Counting(FileStorage):
        stores = 0

        def store(self, *args):
            Counting.stores += 1
            return FileStorage.store(self, *args)

    import ZODB
    db = ZODB.DB(Counting(str(tmp_path / 'c.fs')))
    conn = db.open()
    st = get_storage(conn)
    transaction.commit()
    Counting.stores = 0
    for i in range(1000):
        st.saveUserTrack('t', 0, 'u%d' % (i % 10), {'i': i},
                         timeStamp=T0 + i)
    transaction.commit()
    assert Counting.stores < 250
    conn.close()
    db.close()


def test_views_are_kept_across_transactions_while_their_row_is(tmp_path):
    # A view is handed out again in a later transaction while nothing
    # changed its row; a change (here or in another connection) or an
    # aborted change makes the next read show what is stored.
    db = open_db(str(tmp_path / 'k.fs'))
    conn = db.open()
    st = get_storage(conn)
    tid = st.saveUserTrack('t', 0, 'u', {'k': 1}, timeStamp=T0)
    transaction.commit()
    track = st[tid]
    transaction.commit()
    assert st[tid] is track and st.getLastUserTrack('t', 0, 'u') is track
    track.note = 'kept?'                       # written back ...
    transaction.abort()                        # ... and undone
    assert not hasattr(st[tid], 'note')
    st.updateTrack(tid, {'k': 2})
    assert st[tid].data == {'k': 2}
    transaction.abort()
    assert st[tid].data == {'k': 1}
    assert st.query(userName='u')[0].data == {'k': 1}
    manager = transaction.TransactionManager()
    other = db.open(manager)
    get_storage(other, create=False).updateTrack(tid, {'k': 3})
    manager.commit()
    other.close()
    transaction.begin()                        # sees the other's commit
    assert st[tid].data == {'k': 3} and st.getLastUserTrack(
        't', 0, 'u').data == {'k': 3}
    transaction.abort()
    conn.close()
    db.close()

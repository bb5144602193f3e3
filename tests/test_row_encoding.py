"""Row groups written with marshal, and pickles as before (see rows).

Plain groups of a new store are marshal; groups with values marshal does
not write (dates, Decimals), with extras, or of a store made before
marshal rows are pickles. Both read back as they were written, side by
side in one tree; ``upgrade`` switches an old store to marshal.
"""

import datetime
import decimal
import marshal
import os
import pickle
import shutil

import pytest
import transaction

from cybertools_tracking import rows as rowsmodule
from cybertools_tracking import upgrade as upgrading
from cybertools_tracking.check import check_storage
from cybertools_tracking.cli import main
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.readonly import ReadOnlyDataError, ReadOnlyDict
from cybertools_tracking.rows import pack, unpack, unpack_once, unpack_plain
from cybertools_tracking.storage import TrackingStorage
from tests.fixtures.make_old_layout import answers

T0 = 1_700_000_000
HERE = os.path.join(os.path.dirname(__file__), 'fixtures')

PLAIN = [
    {},
    {'page': 'p1', 'score': 7, 'duration': 1.5},
    {'n': None, 't': True, 'f': False, 'big': 2 ** 100, 'neg': -0.0,
     'e': 'é ☃ 𝄞', 'b': b'\x00\xff', 1: 'int key', None: 'none key'},
    {'nested': {'a': [1, [2, {'b': (3, 4)}]], 'c': ()}, 'list': []},
]
NOT_MARSHAL = [
    {'when': datetime.date(2026, 11, 30)},
    {'at': datetime.datetime(2026, 11, 30, 12, 0)},
    {'price': decimal.Decimal('1.10')},
    {'deep': [{'d': datetime.timedelta(seconds=3)}]},
]


def _fresh(value):
    """Decode as a cold reader would (not from the decoded groups)."""
    rowsmodule._decoded.clear()
    rowsmodule._older.clear()
    return unpack(value)


@pytest.mark.parametrize('data', PLAIN)
def test_plain_groups_are_marshal_and_read_back_equal(data):
    rows = ((1, data, None), (2, dict(data), None))
    packed = pack(rows)
    assert type(packed) is bytes and packed[0] != 0x80
    assert marshal.loads(packed) == rows
    back = _fresh(packed)
    assert back == rows
    # Types kept exactly: tuples stay tuples, lists lists, bools bools.
    assert [type(v) for v in back[0][1].values()] == \
        [type(v) for v in data.values()]
    assert unpack_plain(packed) == rows == unpack_once(packed)


@pytest.mark.parametrize('data', NOT_MARSHAL)
def test_values_marshal_does_not_write_make_a_pickle(data):
    packed = pack(((1, {'a': 1}, None), (2, data, None)))
    assert packed[0] == 0x80
    assert _fresh(packed) == ((1, {'a': 1}, None), (2, data, None))


def test_groups_with_extras_and_old_stores_write_pickles():
    with_extras = pack(((1, {'a': 1}, {'device': 'tv'}),))
    assert with_extras[0] == 0x80
    assert _fresh(with_extras)[0][2] == {'device': 'tv'}
    old_style = pack(((1, {'a': 1}, None),), marshalled=False)
    assert old_style == pickle.dumps(((1, {'a': 1}, None),), 5)


def test_decoded_data_is_shared_and_never_changed_in_place(tmp_path):
    db = open_db(str(tmp_path / 'shared.fs'))
    try:
        conn = db.open()
        st = get_storage(conn)
        st.saveUserTrack('t', 0, 'u', {'a': {'b': 1}}, timeStamp=T0)
        transaction.commit()
        other = db.open(transaction_manager=transaction.TransactionManager())
        st2 = get_storage(other, create=False)
        one, two = st.getUserTracks('t', 0, 'u')[0], \
            st2.getUserTracks('t', 0, 'u')[0]
        assert one is not two
        # Each view hands out a read-only copy of the shared row data.
        assert type(one.data) is ReadOnlyDict and one.data is not two.data
        with pytest.raises(ReadOnlyDataError):
            one.data['a']['b'] = 2
        with pytest.raises(ReadOnlyDataError):
            two.data['c'] = 1
        one.update({'c': 3})
        transaction.commit()
        other.transaction_manager.abort()
        assert st2.getUserTracks('t', 0, 'u')[0].data == {'a': {'b': 1},
                                                          'c': 3}
        assert dict(two.data) == {'a': {'b': 1}, 'c': 3}
        other.close()
        conn.close()
    finally:
        db.close()


def _old_store_storage(conn):
    """A storage whose row store behaves as one made before marshal rows
    (the class default)."""
    st = get_storage(conn)
    del st._store._marshal
    st._store._p_changed = True
    transaction.commit()
    return st


def test_an_old_store_writes_pickles_until_switched(tmp_path):
    path = str(tmp_path / 'old.fs')
    db = open_db(path)
    conn = db.open()
    st = _old_store_storage(conn)
    assert st.rowEncoding == 'pickle'
    st.saveUserTrack('t', 0, 'u', {'n': 1}, timeStamp=T0)
    transaction.commit()
    key = ('t', st.getRun('t').id, 'u')
    tree = st._store._combinations[key][1]
    assert tree[T0][0] == 0x80
    assert upgrading.use_marshal(st) is True
    assert upgrading.use_marshal(st) is False
    transaction.commit()
    # A new group is marshal; the old one is rewritten so when changed.
    st.saveUserTrack('t', 0, 'u', {'n': 2}, timeStamp=T0 + 1)
    transaction.commit()
    assert tree[T0][0] == 0x80 and tree[T0 + 1][0] != 0x80
    conn.close()
    db.close()
    db = open_db(path)
    conn = db.open()
    st = get_storage(conn, create=False)
    assert st._store.rowEncoding == 'marshal'
    assert [t.data for t in st.getUserTracks('t', 0, 'u')] == [{'n': 1},
                                                               {'n': 2}]
    first = st.getUserTracks('t', 0, 'u')[0]
    st.setTrackData(first, {'m': 0})         # rewritten where it is filed
    transaction.commit()
    tree = st._store._combinations[('t', st.getRun('t').id, 'u')][1]
    assert tree[T0][0] != 0x80
    assert st.getUserTracks('t', 0, 'u')[0].data == {'m': 0}
    assert check_storage(st) == []
    conn.close()
    db.close()


def test_a_new_storage_writes_marshal():
    assert TrackingStorage().rowEncoding == 'marshal'


@pytest.fixture
def rows_layout(tmp_path):
    path = str(tmp_path / 'rows1.fs')
    shutil.copy(os.path.join(HERE, 'rows_layout.fs'), path)
    return path


def test_upgrade_switches_a_database_of_pickled_rows(rows_layout, capsys):
    db = open_db(rows_layout)
    conn = db.open()
    st = get_storage(conn, create=False)
    assert st._store.rowEncoding == 'pickle'
    before = answers(st)
    conn.close()
    db.close()
    assert main(['--db', rows_layout, 'upgrade']) == 0
    assert 'writes its rows with marshal from now on' \
        in capsys.readouterr().out
    db = open_db(rows_layout)
    conn = db.open()
    st = get_storage(conn, create=False)
    try:
        assert st._store.rowEncoding == 'marshal'
        assert answers(st) == before
        assert check_storage(st) == []
    finally:
        conn.close()
        db.close()
    assert main(['--db', rows_layout, 'upgrade']) == 0
    assert 'nothing to do' in capsys.readouterr().out

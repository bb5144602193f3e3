"""The storage in a real FileStorage: persistence, loading, locking."""

import os
import subprocess
import sys
import textwrap

import pytest
import transaction

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import (DEFAULT_CACHE_SIZE, DatabaseLockedError,
                                    as_uri, file_path, get_storage, open_db,
                                    tracking_transaction)
from cybertools_tracking.partitions import PARTITION
from cybertools_tracking.storage import TrackingStorage

T0 = 1_700_000_000


@pytest.fixture
def fs_path(tmp_path):
    return str(tmp_path / 'var' / 'tracking.fs')


def test_open_db_creates_the_directory_and_reopens(fs_path):
    db = open_db(fs_path)
    with tracking_transaction(db) as st:
        st.saveUserTrack('a', 0, 'u1', {'n': 1}, timeStamp=T0)
        st.saveUserTrack('a', 0, 'u2', {'n': 2}, timeStamp=T0 + 5)
        st.startRun('b')
        st.stopRun('a')
    db.close()
    db = open_db(fs_path)
    with tracking_transaction(db) as st:
        assert len(st) == 2
        assert st.getUserNames('a') == ['u1', 'u2']
        assert st.getLastUserTrack('a', 1, 'u2').data == {'n': 2}
        run = st.getRun(1)
        assert run.finished and run.end >= T0 + 5 and run.taskId == 'a'
        assert st.getCurrentRuns() == {'b': 2}
        assert st['0000001'].__parent__ is st
        assert [t.__name__ for t in st.query(taskId='a')] == ['0000001',
                                                              '0000002']
    db.close()


def test_file_uri_and_memory_uri(tmp_path):
    db = open_db('file://' + str(tmp_path / 'a.fs'))
    with tracking_transaction(db) as st:
        st.saveUserTrack('a', 0, 'u', {})
    db.close()
    db = open_db('memory://')
    with tracking_transaction(db) as st:
        assert len(st) == 0
    db.close()


ODD_NAMES = ['what?.fs', 'what?x=1.fs', 'with space.fs', 'a#b.fs',
             '100%.fs', 'a%20b.fs', 'caf\u00e9 \u2713.fs', 'memory:x.fs']


@pytest.mark.parametrize('name', ODD_NAMES)
def test_a_path_is_a_path_whatever_its_characters(tmp_path, name):
    path = tmp_path / 'dir' / name
    db = open_db(str(path))
    with tracking_transaction(db) as st:
        st.saveUserTrack('a', 0, 'u', {'name': name})
    db.close()
    assert path.is_file()
    # Only the file and its companions (.index, .lock ...), nothing cut
    # off at a "?" or "#".
    assert all(p.name.startswith(name + '.') or p.name == name
               for p in (tmp_path / 'dir').iterdir())
    assert file_path(str(path)) == str(path)
    db = open_db(path)                  # a pathlib.Path as well
    with tracking_transaction(db) as st:
        assert [t.data for t in st.values()] == [{'name': name}]
    db.close()


def test_a_relative_path_is_below_the_current_directory(tmp_path,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = open_db('var/what?.fs')
    db.close()
    assert (tmp_path / 'var' / 'what?.fs').exists()
    assert not (tmp_path / 'var' / 'what').exists()
    assert file_path('var/what?.fs') == str(tmp_path / 'var' / 'what?.fs')
    # The default is relative too: var/tracking.fs below the current
    # directory, as zodburi reads the file:// URI.
    assert file_path(None) == 'var/tracking.fs'


def test_file_uris_keep_zodburis_options(tmp_path):
    path = str(tmp_path / 'opts.fs')
    db = open_db('file://' + path + '?connection_cache_size=123')
    assert db.getCacheSize() == 123
    with tracking_transaction(db) as st:
        st.saveUserTrack('a', 0, 'u', {})
    db.close()
    assert file_path('file://' + path + '?read_only=1') == path
    db = open_db('file://' + path + '?read_only=1')
    assert db.storage.isReadOnly()
    assert db.getCacheSize() == DEFAULT_CACHE_SIZE
    db.close()
    # A path with the same characters is only a path.
    db = open_db(path + '?read_only=1&connection_cache_size=7')
    assert not db.storage.isReadOnly()
    assert db.getCacheSize() == DEFAULT_CACHE_SIZE
    db.close()
    assert os.path.exists(path + '?read_only=1&connection_cache_size=7')


def test_as_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert as_uri('x.fs') == 'file://' + str(tmp_path / 'x.fs')
    assert as_uri('a b#%.fs') == 'file://' + str(tmp_path / 'a b#%.fs')
    for uri in ('memory://', 'file:///x.fs?read_only=1', 'zeo://h:1',
                'demo:(memory://)/(memory://)'):
        assert as_uri(uri) == uri
    with pytest.raises(ValueError, match='has no file:// URI'):
        as_uri('what?.fs')
    assert as_uri(None) == 'file://var/tracking.fs'


def test_tracking_transaction_aborts_on_error(fs_path):
    db = open_db(fs_path)
    with pytest.raises(RuntimeError):
        with tracking_transaction(db) as st:
            st.saveUserTrack('a', 0, 'u', {})
            raise RuntimeError('boom')
    with tracking_transaction(db) as st:
        assert len(st) == 0 and st.getTaskIds() == [] and st.getRuns() == []
    db.close()


def test_get_storage_create_false_and_wrong_type(fs_path):
    db = open_db(fs_path)
    conn = db.open()
    with pytest.raises(KeyError, match='no tracking storage'):
        get_storage(conn, 'other', create=False)
    conn.root()['junk'] = 1
    with pytest.raises(TypeError, match='not a TrackingStorage'):
        get_storage(conn, 'junk')
    transaction.abort()
    conn.close()
    db.close()


def _non_ghost_tracks(conn):
    """Loaded combination trees: tracks are rows in their combination's
    tree (see store), so loading another track loads another tree. (Reading
    the registry loads its buckets, the trees in them stay ghosts.)"""
    store = get_storage(conn, create=False)._store
    return sum(1 for key, (cid, tree) in store._combinations.items()
               if tree._p_changed is not None)


def test_last_track_and_update_load_no_other_track(fs_path):
    db = open_db(fs_path)
    with tracking_transaction(db) as st:
        for i in range(3000):
            st.saveUserTrack('t%d' % (i % 3), 0, 'u%d' % (i % 50), {'i': i},
                             timeStamp=T0 + i)
    conn = db.open()
    conn.cacheMinimize()
    st = get_storage(conn, create=False)
    last = st.getLastUserTrack('t1', 0, 'u7')
    assert last.data['i'] == max(i for i in range(3000)
                                 if i % 3 == 1 and i % 50 == 7)
    assert _non_ghost_tracks(conn) == 1
    st.saveUserTrack('t1', 0, 'u7', {'x': 1}, update=True)
    assert _non_ghost_tracks(conn) == 1
    transaction.commit()
    conn.close()
    db.close()


def test_cache_stays_bounded_while_importing(fs_path):
    db = open_db(fs_path, cache_size=500)
    conn = db.open()
    st = get_storage(conn)
    for i in range(20_000):
        st.saveUserTrack('t%d' % (i % 7), 0, 'u%d' % (i % 300), {'i': i})
        if i % 1000 == 999:
            transaction.commit()
            conn.cacheGC()
            assert conn._cache.cache_non_ghost_count <= 500 + 100
    transaction.commit()
    assert len(st) == 20_000
    conn.close()
    db.close()


def test_second_process_gets_a_clear_lock_error(fs_path):
    db = open_db(fs_path)
    script = textwrap.dedent('''
        import sys
        from cybertools_tracking.db import open_db, DatabaseLockedError
        try:
            open_db(sys.argv[1])
        except DatabaseLockedError as error:
            print(error)
            sys.exit(3)
    ''')
    result = subprocess.run([sys.executable, '-c', script, fs_path],
                            capture_output=True, text=True, timeout=60)
    db.close()
    assert result.returncode == 3, result.stderr
    assert 'in use by another process' in result.stdout
    assert 'ZEO' in result.stdout and 'RelStorage' in result.stdout
    assert issubclass(DatabaseLockedError, RuntimeError)


def test_concurrent_writers_do_not_conflict_on_ids_or_runs(fs_path):
    db = open_db(fs_path)
    with tracking_transaction(db) as st:
        st.saveUserTrack('a', 0, 'seed', {}, timeStamp=T0)
    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    s1, s2 = get_storage(c1), get_storage(c2)
    s1.saveUserTrack('a', 0, 'u1', {}, timeStamp=T0 + 10)
    s2.saveUserTrack('a', 0, 'u2', {}, timeStamp=T0 + 20)
    # Both moved run 1's end (the Run merges that), both added to the
    # same second's time set (BTrees merge that), and the ids come from
    # blocks reserved apart from these transactions: both commit.
    tm1.commit()
    tm2.commit()
    c1.close()
    c2.close()
    with tracking_transaction(db) as st:
        assert st.getRun(1).end == T0 + 20
        assert st.getUserNames('a') == ['seed', 'u1', 'u2']
        nums = {track.userName: int(key) for key, track in st.items()}
    # Each connection numbers from a block of its own, in its own
    # partition (one of them may go on with the seed's block).
    assert nums['seed'] == 1
    assert nums['u1'] // PARTITION != nums['u2'] // PARTITION
    db.close()


def test_aborted_numbers_are_not_reused(fs_path):
    db = open_db(fs_path)
    with tracking_transaction(db) as st:
        st.saveUserTrack('a', 0, 'u', {})
    conn = db.open()
    st = get_storage(conn)
    aborted = st.saveUserTrack('a', 0, 'u', {})
    transaction.abort()
    saved = st.saveUserTrack('a', 0, 'u', {})
    transaction.commit()
    assert int(saved) == int(aborted) + 1
    assert list(st.keys()) == ['0000001', saved]
    conn.close()
    db.close()


def test_connections_take_disjoint_blocks(fs_path):
    db = open_db(fs_path)
    with tracking_transaction(db) as st:      # the storage, its run and
        seed = [st.saveUserTrack('a', 0, 'seed', {})]   # a first block
    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    s1, s2 = get_storage(c1), get_storage(c2)
    one = [s1.saveUserTrack('a', 0, 'u', {}), s1.saveUserTrack('a', 0, 'u', {})]
    two = [s2.saveUserTrack('a', 0, 'v', {}), s2.saveUserTrack('a', 0, 'v', {})]
    tm1.commit()
    tm2.commit()
    # Sequential within a connection, and the two in different partitions
    # (the first of them may go on with the seed's).
    for ids in one, two:
        assert int(ids[1]) == int(ids[0]) + 1
    assert int(one[0]) // PARTITION != int(two[0]) // PARTITION
    with tracking_transaction(db) as st:
        assert sorted(st.keys()) == sorted(seed + one + two)
    c1.close()
    c2.close()
    db.close()


def test_run_end_merge_between_connections(fs_path):
    db = open_db(fs_path)
    with tracking_transaction(db) as st:
        st.saveUserTrack('a', 0, 'seed', {}, timeStamp=T0)
    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    get_storage(c1).getRun(1).extendTo(T0 + 30)
    get_storage(c2).stopRun('a')
    tm1.commit()
    tm2.commit()          # resolved by Run._p_resolveConflict
    c1.close()
    c2.close()
    with tracking_transaction(db) as st:
        run = st.getRun(1)
        assert run.finished and run.end >= T0 + 30
    db.close()


def test_storage_outside_a_database_works():
    st = TrackingStorage()
    assert st.saveUserTrack('a', 0, 'u', {}) == '0000001'


def test_retry_transaction_retries_conflicts_and_only_those(fs_path):
    from transaction.interfaces import TransientError
    from cybertools_tracking.db import backoff_delay, retry_transaction
    manager = transaction.TransactionManager()
    calls, retries, pauses = [], [], []

    def work():
        calls.append(1)
        if len(calls) < 3:
            raise TransientError('busy')
        return 'done'
    assert retry_transaction(work, manager, sleep=pauses.append,
                             on_retry=lambda n, e: retries.append(n)) == 'done'
    assert len(calls) == 3 and retries == [0, 1] and len(pauses) == 2
    with pytest.raises(TransientError):
        retry_transaction(lambda: (_ for _ in ()).throw(TransientError('x')),
                          manager, attempts=4, sleep=None)
    with pytest.raises(ValueError):
        retry_transaction(lambda: calls.append(1) or int('x'), manager)
    for attempt in range(12):
        delay = backoff_delay(attempt)
        ceiling = min(1.0, 0.005 * 2 ** attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_transaction_redoes_a_started_batch_after_a_conflict(fs_path):
    from cybertools_tracking.db import retry_transaction
    db = open_db(fs_path)
    with tracking_transaction(db):
        pass
    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    get_storage(c1).saveUserTrack('a', 0, 'u', {'by': 1}, timeStamp=T0)
    get_storage(c2).saveUserTrack('a', 0, 'u', {'by': 2}, timeStamp=T0)
    tm1.commit()
    redone = []

    def redo():
        redone.append(1)
        get_storage(c2).saveUserTrack('a', 0, 'u', {'by': 2}, timeStamp=T0)
    # c2's first attempt (already saved) conflicts in the user's postings:
    # both wrote the same second of the same user.
    retry_transaction(redo, tm2, sleep=None, started=True)
    assert redone == [1]
    c1.close()
    c2.close()
    with tracking_transaction(db) as st:
        assert sorted(t.data['by'] for t in st.values()) == [1, 2]
        assert check_storage(st) == []
    db.close()


def test_eight_threads_stay_within_the_pool(tmp_path, caplog):
    import threading
    from cybertools_tracking.db import run_in_transaction
    db = open_db(str(tmp_path / 'pool.fs'))

    def writer(user):
        for n in range(3):
            run_in_transaction(db, lambda st: st.saveUserTrack(
                't', 0, user, {}), sleep=None)
    threads = [threading.Thread(target=writer, args=('u%d' % n,))
               for n in range(8)]
    with caplog.at_level('WARNING', 'ZODB.DB'):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not [r for r in caplog.records if 'pool_size' in r.getMessage()]
    with db.transaction() as conn:
        assert len(get_storage(conn)) == 24
    db.close()

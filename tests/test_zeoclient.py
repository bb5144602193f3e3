"""ZEO through open_db: waiting for a server, and what a client keeps
across a server's restart. Real server processes, started and killed."""

import socket
import threading
import time

import pytest

from cybertools_tracking.db import (DEFAULT_CACHE_SIZE,
                                    DatabaseUnavailableError, open_db,
                                    tracking_transaction, wait_for_server)
from tests.conftest import start_zeo, stop

pytest.importorskip('ZEO')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_opening_without_a_server_fails_within_wait_timeout():
    port = free_port()
    told = []
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError) as raised:
        open_db('zeo://127.0.0.1:%d' % port, wait_timeout=1.5,
                on_wait=told.append)
    took = time.monotonic() - started
    assert 1.5 <= took < 5
    error = raised.value
    assert (error.address, error.timeout) == ('127.0.0.1:%d' % port, 1.5)
    assert str(error).startswith('the ZEO server at 127.0.0.1:%d did not '
                                 'answer for 1.5 seconds' % port)
    # Said once, after a second, what it waits for.
    assert told == ['waiting for the ZEO server at 127.0.0.1:%d (up to 1.5 '
                    'seconds) ...' % port]


def test_the_uris_wait_timeout_and_the_default_notice(caplog):
    port = free_port()
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError, match='for 1 second;'):
        open_db('zeo://127.0.0.1:%d?wait_timeout=1' % port)
    assert time.monotonic() - started < 4
    # wait=false: not waiting at all.
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError, match='for 0 seconds;'):
        open_db('zeo://127.0.0.1:%d?wait=false' % port)
    assert time.monotonic() - started < 1
    # Without on_wait, the notice is a warning in the log.
    with pytest.raises(DatabaseUnavailableError):
        open_db('zeo://127.0.0.1:%d' % port, wait_timeout=1.2)
    assert [r.getMessage() for r in caplog.records
            if r.name == 'cybertools_tracking.zeoclient'] == [
        'waiting for the ZEO server at 127.0.0.1:%d (up to 1.2 seconds) ...'
        % port]


def test_a_server_that_starts_late_is_waited_for(tmp_path):
    port = free_port()
    told = []
    opened = []
    opener = threading.Thread(target=lambda: opened.append(open_db(
        'zeo://127.0.0.1:%d' % port, wait_timeout=30, on_wait=told.append)))
    opener.start()
    time.sleep(1.5)
    process, uri = start_zeo(str(tmp_path / 'late.fs'), port)
    try:
        opener.join(30)
        [db] = opened
        with tracking_transaction(db) as st:
            st.saveUserTrack('a', 0, 'u', {})
        db.close()
    finally:
        stop(process)
    assert told == [
        'waiting for the ZEO server at 127.0.0.1:%d (up to 30 seconds) ...'
        % port,
        'connected to the ZEO server at 127.0.0.1:%d' % port]


def test_cache_size_options(zeo_uri):
    # A ZEO URI's cache_size is the client's disk cache, not the DB's.
    db = open_db(zeo_uri + '?cache_size=1MB')
    assert db.getCacheSize() == DEFAULT_CACHE_SIZE
    db.close()
    db = open_db(zeo_uri + '?connection_cache_size=500')
    assert db.getCacheSize() == 500
    db.close()


def test_a_restarted_server_does_not_get_oids_back(tmp_path):
    """The cause of "A different object already has the same oid": a
    client kept the oids it had fetched in advance across a server's
    restart, and the new server handed the same ones out again."""
    path = str(tmp_path / 'oids.fs')
    process, uri = start_zeo(path)
    port = int(uri.rsplit(':', 1)[1])
    told = []
    db = open_db(uri, wait_timeout=30, on_wait=told.append)
    try:
        with tracking_transaction(db) as st:
            st.saveUserTrack('a', 0, 'u', {})
        storage = db.storage
        storage.new_oid()               # fetches a hundred, keeps the rest
        process.kill()                  # no goodbye: as in a crash
        process.wait()
        deadline = time.monotonic() + 10
        while storage.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        process, _ = start_zeo(path, port)
        wait_for_server(db)
        after = [storage.new_oid() for _ in range(250)]
        assert len(set(after)) == len(after)
        # And storing objects with them works: no oid is taken twice.
        with tracking_transaction(db) as st:
            for n in range(300):
                st.saveUserTrack('b', 0, 'u%d' % n, {'n': n})
        with tracking_transaction(db) as st:
            assert len(st) == 301
    finally:
        db.close()
        stop(process)
    assert told == [
        'the ZEO server at %s went away; waiting for it (up to 30 '
        'seconds) ...' % uri[len('zeo://'):],
        'connected to the ZEO server at %s' % uri[len('zeo://'):]]


def test_wait_for_server_gives_up_counting_from_the_loss(tmp_path):
    process, uri = start_zeo(str(tmp_path / 'gone.fs'))
    db = open_db(uri, on_wait=lambda message: None)
    try:
        with tracking_transaction(db):
            pass
        wait_for_server(db)                  # connected: at once
        process.kill()
        process.wait()
        time.sleep(1)
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError,
                           match=uri[len('zeo://'):]):
            wait_for_server(db, 2)
        assert 0.5 < time.monotonic() - started < 2
    finally:
        db.close()


def test_other_databases_need_no_waiting():
    db = open_db('memory://')
    wait_for_server(db)
    with tracking_transaction(db) as st:
        assert len(st) == 0
    db.close()


@pytest.mark.parametrize('uri, keyword, message', [
    ('zeo://127.0.0.1:1?wait_timeout=abc', None, 'wait_timeout must be'),
    ('zeo://127.0.0.1:1?wait_timeout=-1', None, 'wait_timeout must be'),
    ('zeo://127.0.0.1:1', '2', 'wait_timeout must be'),
    ('zeo://127.0.0.1:1', -1, 'wait_timeout must be'),
    ('zeo://127.0.0.1:1?cache_size=abc', None, 'wrong kind'),
    ('zeo://', None, 'names no ZEO server'),
])
def test_bad_wait_options_are_named(uri, keyword, message):
    with pytest.raises(ValueError, match=message):
        open_db(uri, wait_timeout=keyword)


def test_zero_wait_in_the_uri_is_taken():
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError):
        open_db('zeo://127.0.0.1:1?wait_timeout=0')
    assert time.monotonic() - started < 5

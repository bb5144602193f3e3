"""A new database: the tracking storage is made in a transaction of its
own, so that processes (and connections) that start on a new database at
the same moment all start, and all find the same storage; on ZEO and on
PostgreSQL, with real processes let go together."""

import json
import os
import subprocess
import sys

import pytest
import transaction

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.storage import TrackingStorage

OPENER = os.path.join(os.path.dirname(__file__), 'opener.py')
PROCESSES = 4


def test_connections_that_began_before_it_find_the_same_storage(tmp_path):
    db = open_db(str(tmp_path / 'tracking.fs'))
    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    assert 'tracking' not in c1.root() and 'tracking' not in c2.root()
    s1, s2 = get_storage(c1), get_storage(c2)
    assert s1._p_oid is not None and s1._p_oid == s2._p_oid
    s1.saveUserTrack('a', 0, 'u1', {})
    tm1.commit()
    tm2.commit()      # no storage of its own to put in the root
    s2.saveUserTrack('a', 0, 'u2', {})
    tm2.commit()
    c1.close()
    c2.close()
    with db.transaction() as connection:
        assert get_storage(connection).getUserNames('a') == ['u1', 'u2']
    db.close()


def test_a_new_storage_is_committed_at_once(tmp_path):
    db = open_db(str(tmp_path / 'tracking.fs'))
    connection = db.open()
    get_storage(connection)
    transaction.abort()
    assert isinstance(connection.root()['tracking'], TrackingStorage)
    connection.close()
    db.close()


def test_with_changes_of_its_own_a_connection_makes_it_in_its_transaction(
        tmp_path):
    # Moving such a connection to a newer view would lose its changes.
    db = open_db(str(tmp_path / 'tracking.fs'))
    connection = db.open()
    connection.root()['other'] = 1
    storage = get_storage(connection)
    # Added to this connection (so that goals use its transaction
    # manager), but committed only with the caller's transaction.
    assert storage._p_jar is connection
    assert db.storage.lastTransaction() == connection.root()._p_serial
    transaction.abort()
    assert 'tracking' not in connection.root()
    assert isinstance(get_storage({}), TrackingStorage)   # no database
    connection.close()
    db.close()


def start_together(uri, tmp_path):
    """Start PROCESSES openers; once all are loaded and waiting, let them
    go at once (a file they poll for); return their JSON results."""
    start = str(tmp_path / 'start')
    processes = [subprocess.Popen(
        [sys.executable, OPENER, uri, start, 'user-%d' % n],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(PROCESSES)]
    for process in processes:
        assert process.stdout.readline() == 'ready\n'
    open(start, 'w').close()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]
        results.append(json.loads(out))
    return results


def check_started(uri, results):
    assert len({r['storage'] for r in results}) == 1
    ids = sorted(r['track'] for r in results)
    assert len(set(ids)) == PROCESSES
    db = open_db(uri)
    connection = db.open()
    storage = get_storage(connection, create=False)
    assert storage._p_oid.hex() == results[0]['storage']
    assert sorted(storage.keys()) == ids
    assert check_storage(storage) == []
    transaction.abort()
    connection.close()
    db.close()


@pytest.mark.server
@pytest.mark.parametrize('round', range(3))
def test_processes_start_on_a_new_zeo_database_together(zeo_uri, tmp_path,
                                                        round):
    check_started(zeo_uri, start_together(zeo_uri, tmp_path))


@pytest.mark.server
@pytest.mark.parametrize('round', range(3))
def test_processes_start_on_a_new_postgresql_database_together(
        postgres_uri, tmp_path, round):
    check_started(postgres_uri, start_together(postgres_uri, tmp_path))

"""Threads of one process writing at once, each with a connection of its
own, into a FileStorage and into ZEO: every track stored under an id of
its own, ids increasing within each writer, consistent indexes, and
hardly any conflicts, since each connection numbers its tracks from a
block of its own and so appends to a partition of its own."""

import threading

import pytest
import transaction

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db, retry_transaction

THREADS, PER_THREAD, USERS = 8, 100, 10


def write_in_threads(db):
    """THREADS writers, PER_THREAD commits of one track each, for users of
    their own; return {writer: (ids, users, retries)}."""
    with db.transaction() as connection:
        get_storage(connection).startRun('task')
    barrier = threading.Barrier(THREADS)
    results, errors = {}, []

    def writer(number):
        try:
            manager = transaction.TransactionManager()
            connection = db.open(manager)
            storage = get_storage(connection, create=False)
            users = ['user-%d-%d' % (number, n) for n in range(USERS)]
            ids, saved_for, retries = [], [], []
            barrier.wait()
            for i in range(PER_THREAD):
                user = users[i % USERS]
                ids.append(retry_transaction(
                    lambda: storage.saveUserTrack('task', 0, user, {'i': i}),
                    manager, attempts=50,
                    on_retry=lambda attempt, error: retries.append(error)))
                saved_for.append(user)
            connection.close()
            results[number] = (ids, saved_for, retries)
        except BaseException as error:
            errors.append(error)
            barrier.abort()
            raise

    threads = [threading.Thread(target=writer, args=(n,))
               for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def check_written(db, results):
    every_id = [i for ids, _, _ in results.values() for i in ids]
    assert len(every_id) == len(set(every_id)) == THREADS * PER_THREAD
    for ids, _, _ in results.values():
        nums = [int(i) for i in ids]
        assert nums == sorted(set(nums))       # strictly increasing
    with db.transaction() as connection:
        storage = get_storage(connection, create=False)
        assert len(storage) == THREADS * PER_THREAD
        assert sorted(storage.keys()) == sorted(every_id)
        for ids, users, _ in results.values():
            assert [storage[i].userName for i in ids] == users
        assert check_storage(storage) == []
    retries = sum(len(r) for _, _, r in results.values())
    # The first track of each writer adds the task's first (task, run)
    # pair, which all of them do at once; after that, nothing is shared
    # that a retry would be needed for. Writers sharing a block retried
    # 25-40% of their commits.
    assert retries < 0.05 * THREADS * PER_THREAD, retries
    return retries


def test_threads_on_a_filestorage(tmp_path):
    db = open_db(str(tmp_path / 'tracking.fs'), pool_size=THREADS + 2)
    check_written(db, write_in_threads(db))
    db.close()


@pytest.mark.server
def test_threads_on_zeo(zeo_uri):
    db = open_db(zeo_uri, pool_size=THREADS + 2)
    check_written(db, write_in_threads(db))
    db.close()

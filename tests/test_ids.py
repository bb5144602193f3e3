"""Track numbers come from blocks that each connection holds."""

import threading

import transaction

from cybertools_tracking import ids
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.partitions import PARTITION


def new_db(tmp_path):
    db = open_db(str(tmp_path / 'tracking.fs'))
    with db.transaction() as connection:
        get_storage(connection).saveUserTrack('a', 0, 'seed', {})
    return db


def test_a_connection_keeps_its_block_whichever_thread_uses_it(tmp_path):
    # A pooled connection goes from thread to thread, one at a time.
    db = new_db(tmp_path)
    manager = transaction.TransactionManager()
    storage = get_storage(db.open(manager))
    saved = []

    def save():
        saved.append(int(storage.saveUserTrack('a', 0, 'u', {})))
        manager.commit()
    for n in range(3):
        thread = threading.Thread(target=save)
        thread.start()
        thread.join()
    assert saved == [saved[0], saved[0] + 1, saved[0] + 2]
    db.close()


def test_numbers_left_by_a_connection_that_is_gone_are_skipped(tmp_path):
    db = new_db(tmp_path)
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    first = int(get_storage(connection).saveUserTrack('a', 0, 'u', {}))
    manager.commit()
    # The pool drops a connection it has no room for; its block is then
    # out of reach (and goes when the connection is collected).
    connection.close()
    db.setPoolSize(0)
    db.pool.reduce_size()
    db.setPoolSize(7)
    del connection
    with db.transaction() as connection:
        later = int(get_storage(connection).saveUserTrack('a', 0, 'v', {}))
    # A new block after the old one: its rest is never handed out again.
    assert later // PARTITION > first // PARTITION
    db.close()


def test_blocks_are_whole_partitions_and_grow_as_a_connection_writes(
        tmp_path):
    db = new_db(tmp_path)
    manager = transaction.TransactionManager()
    storage = get_storage(db.open(manager))
    storage.saveUserTrack('a', 0, 'u', {})       # the connection's block
    counter = storage._trackIds
    block = ids._held[storage._p_jar][counter.token, counter._p_oid]
    sizes = []
    for n in range(6):
        block.next = block.end + 1               # as if used up
        first = int(storage.saveUserTrack('a', 0, 'u', {}))
        assert first % PARTITION == 0
        sizes.append((block.end + 1 - first) // PARTITION)
    manager.abort()
    assert all(b == min(a * 2, ids.MAX_BLOCK) for a, b in zip(sizes, sizes[1:]))
    assert sizes[-1] == ids.MAX_BLOCK
    db.close()

"""Number allocation for tracks and runs.

Runs are few: their numbers come from a plain counter in the caller's
transaction. Tracks are many, written by many processes at once, so a
shared counter written by every transaction would make every two writers
conflict. Instead a process reserves a *block* of numbers in a short
transaction of its own, committed at once, and hands them out from memory:

- numbers are unique across processes, because every block is committed
  before it is used;
- within a process they are sequential (1, 2, 3 ... from one block to
  the next), and the counter is written once per block, not per track;
- numbers of an aborted transaction are not reused: ids may have gaps,
  never duplicates.

Blocks are whole partitions of ``partitions.PARTITION`` numbers (so that
two processes never append to the same tree of tracks) and grow from
``FIRST_BLOCK`` to ``MAX_BLOCK`` partitions as a process keeps writing: a
short script skips at most one partition's worth of numbers, a bulk
import reserves rarely.
"""

import os
import threading

import transaction
from persistent import Persistent
from transaction.interfaces import TransientError
from zope.interface import implementer

from cybertools_tracking.interfaces import IIdAllocator
from cybertools_tracking.partitions import PARTITION

__all__ = ['Counter', 'allocate_track_number']

FIRST_BLOCK = 1      # partitions
MAX_BLOCK = 16
RESERVE_ATTEMPTS = 20


@implementer(IIdAllocator)
class Counter(Persistent):
    """The highest number handed out (or reserved), in a record of its own.

    It deliberately does not resolve conflicts: two transactions that took
    the same number must not both commit.
    """

    value = 0
    token = None   # random, so a block is never taken for another database

    def __init__(self):
        self.token = os.urandom(8).hex()

    def allocate(self):
        self.value += 1
        return self.value

    def peek(self):
        """The number the next ``allocate`` will return."""
        return self.value + 1

    def reserve(self, partitions):
        """Take the numbers from the next free one to the end of the
        ``partitions``-th partition from there; return (first, last).

        The next free number starts a partition, unless the numbers before
        it were allocated one by one while the storage was not yet stored,
        when no other process could see it: then the block is the rest of
        that partition and ``partitions - 1`` more.
        """
        first = self.value + 1
        self.value = (first // PARTITION + partitions) * PARTITION - 1
        return first, self.value


class _Blocks:
    """The numbers a process holds of one counter."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next, self.end = 1, 0    # numbers left while next <= end
        self.size = FIRST_BLOCK


_blocks = {}
_blocks_lock = threading.Lock()


def allocate_track_number(counter):
    """A new number from ``counter``, which must be stored in a database.

    Numbers come from a block this process reserved; when the block is
    used up, the next one is reserved in a transaction of its own.
    """
    key = (counter.token, counter._p_oid,
           counter._p_jar.db().storage.getName())
    blocks = _blocks.get(key)
    if blocks is None:
        with _blocks_lock:
            blocks = _blocks.setdefault(key, _Blocks())
    with blocks.lock:
        if blocks.next > blocks.end:
            blocks.next, blocks.end = _reserve(counter, blocks.size)
            blocks.size = min(blocks.size * 2, MAX_BLOCK)
        number = blocks.next
        blocks.next += 1
        return number


def _reserve(counter, partitions):
    db = counter._p_jar.db()
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    try:
        for attempt in range(RESERVE_ATTEMPTS):
            try:
                block = connection.get(counter._p_oid).reserve(partitions)
                manager.commit()
                return block
            except TransientError:
                # Another process reserved at the same moment: take the
                # next block. Nothing here holds locks, so no pause needed.
                manager.abort()
        raise RuntimeError('could not reserve track numbers after %d '
                           'attempts' % RESERVE_ATTEMPTS)
    finally:
        manager.abort()
        connection.close()

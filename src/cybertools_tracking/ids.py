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

Blocks grow from ``FIRST_BLOCK`` to ``MAX_BLOCK`` as a process keeps
writing, so that a short script wastes few numbers and a bulk import
reserves rarely.
"""

import os
import threading

import transaction
from persistent import Persistent
from transaction.interfaces import TransientError
from zope.interface import implementer

from cybertools_tracking.interfaces import IIdAllocator

__all__ = ['Counter', 'allocate_track_number']

FIRST_BLOCK = 100
MAX_BLOCK = 10_000
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

    def reserve(self, size):
        """Take ``size`` numbers; return the first."""
        first = self.value + 1
        self.value += size
        return first


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
            first = _reserve(counter, blocks.size)
            blocks.next, blocks.end = first, first + blocks.size - 1
            blocks.size = min(blocks.size * 2, MAX_BLOCK)
        number = blocks.next
        blocks.next += 1
        return number


def _reserve(counter, size):
    db = counter._p_jar.db()
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    try:
        for attempt in range(RESERVE_ATTEMPTS):
            try:
                first = connection.get(counter._p_oid).reserve(size)
                manager.commit()
                return first
            except TransientError:
                # Another process reserved at the same moment: take the
                # next block. Nothing here holds locks, so no pause needed.
                manager.abort()
        raise RuntimeError('could not reserve track numbers after %d '
                           'attempts' % RESERVE_ATTEMPTS)
    finally:
        manager.abort()
        connection.close()

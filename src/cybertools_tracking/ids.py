"""Number allocation for tracks and runs.

Runs are few: their numbers come from a plain counter in the caller's
transaction. Tracks are many, written by many processes and threads at
once, so a shared counter written by every transaction would make every
two writers conflict. Instead each *connection* reserves a block of
numbers in a short transaction of its own, committed at once, and hands
them out from memory:

- numbers are unique across processes, threads and connections, because
  every block is committed before it is used and belongs to one
  connection, which one thread at a time uses;
- within a connection they are sequential (1, 2, 3 ... from one block to
  the next), and the counter is written once per block, not per track;
- numbers are never reused: those of an aborted transaction are skipped,
  and so are those left in the block of a connection that is gone. Ids
  may have gaps, never duplicates.

Blocks are whole partitions of ``partitions.PARTITION`` numbers (so that
two writers never append to the same tree of tracks) and grow from
``FIRST_BLOCK`` to ``MAX_BLOCK`` partitions as a connection keeps
writing: a short script skips at most one partition's worth of numbers,
a bulk import reserves rarely.

Why per connection, not per process: the threads of an app server that
shared one block would append to the same partition, split the same
buckets and conflict on every other commit; a connection is what ZODB
gives each concurrent writer, so threads stay apart as processes do. A
pooled connection that another thread takes later keeps its block, which
is harmless: it is still one writer at a time.
"""

import os
import threading
import weakref

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
    _v_block = None   # see allocate_track_number

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


class _Block:
    """The numbers a connection holds of one counter."""

    def __init__(self):
        # A lock although a connection has one thread at a time: a
        # duplicate number would overwrite a track, so two threads that
        # share a connection by mistake still get numbers of their own.
        self.lock = threading.Lock()
        self.next, self.end = 1, 0    # numbers left while next <= end
        self.size = FIRST_BLOCK


# connection -> {(counter token, counter oid): _Block}. The connection is
# the key, not an attribute of it, so that nothing of ours rides on ZODB's
# objects; weak, so that a block goes with its connection (its remaining
# numbers are then skipped, see above).
_held = weakref.WeakKeyDictionary()
_held_lock = threading.Lock()


def allocate_track_number(counter):
    """A new number from ``counter``, which must be stored in a database.

    Numbers come from a block held by the connection ``counter`` was
    loaded in; when the block is used up, the next one is reserved in a
    transaction of its own.
    """
    # The counter object is the connection's own, so it may carry the
    # block too (volatile: it goes when the counter is invalidated, and
    # the lookup below finds the same block again).
    block = counter._v_block
    if block is None:
        connection = counter._p_jar
        blocks = _held.get(connection)
        if blocks is None:
            with _held_lock:
                blocks = _held.setdefault(connection, {})
        key = (counter.token, counter._p_oid)
        block = blocks.get(key)
        if block is None:
            block = blocks.setdefault(key, _Block())
        counter._v_block = block
    with block.lock:
        if block.next > block.end:
            block.next, block.end = _reserve(counter, block.size)
            block.size = min(block.size * 2, MAX_BLOCK)
        number = block.next
        block.next += 1
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
                # Another writer reserved at the same moment: take the
                # next block. Nothing here holds locks, so no pause needed.
                manager.abort()
        raise RuntimeError('could not reserve track numbers after %d '
                           'attempts' % RESERVE_ATTEMPTS)
    finally:
        manager.abort()
        connection.close()

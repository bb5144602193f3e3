"""Goal listeners, and the queue that hands events to them after a commit.

The rule: an event with outside effects leaves only after its transaction
committed, and exactly once.  Two kinds of listener serve it:

- *immediate* listeners (and ``zope.event`` subscribers) run inside the
  transaction, as the event happens.  When the transaction is retried they
  run again with the retry: once per attempt.  Their changes to goals join
  the transaction, which is what they are for.
- *after-commit* listeners get the events of a transaction once it has
  committed.  The events wait in an ``AfterCommitQueue``, a data manager
  joined to that transaction: an abort empties it, rolling back a savepoint
  drops the events queued since the savepoint, a failed commit delivers
  nothing.  Each transaction has its own queue (``txn.data``), so several
  transaction managers, threads and retries never see each other's events.

A ``Listeners`` object holds no transaction state, only the callbacks: it
is configuration, shared by every manager that is given it, and it outlives
transactions on purpose (an abort does not remove a listener).
"""

import logging
import threading

import zope.event
from transaction.interfaces import IDataManager
from transaction.interfaces import IDataManagerSavepoint
from zope.interface import implementer

from cybertools_tracking.goals.events import EVENT_CODES

__all__ = ["Listeners", "AfterCommitQueue", "WHEN"]

logger = logging.getLogger("cybertools_tracking.goals")

WHEN = ("immediate", "after_commit")


class Listeners:
    """Callbacks by event code, immediate or after commit; see ``add``."""

    def __init__(self):
        # Lists are replaced, never changed in place, so that dispatching in
        # one thread never sees a half-made change of another.
        self._immediate = {}
        self._after_commit = {}
        self._lock = threading.Lock()

    def add(self, code, callback, when="immediate"):
        """Call ``callback(event)`` for events of ``code`` (1001-1005,
        1011-1013; ``events.EVENT_CODES``).

        ``when`` is ``'immediate'`` (in the transaction, once per attempt)
        or ``'after_commit'`` (once, after the transaction committed).
        Raises ValueError for an unknown code or ``when``, TypeError for a
        callback that is not callable.
        """
        listeners = self._table(code, when)
        if not callable(callback):
            raise TypeError("callback must be callable, got %r" % (callback,))
        with self._lock:
            listeners[code] = listeners.get(code, ()) + (callback,)

    def remove(self, code, callback, when="immediate"):
        """Stop calling ``callback`` for ``code``; False if it was not there.
        """
        listeners = self._table(code, when)
        with self._lock:
            current = listeners.get(code, ())
            if callback not in current:
                return False
            kept = list(current)
            kept.remove(callback)
            listeners[code] = tuple(kept)
            return True

    def _table(self, code, when):
        if code not in EVENT_CODES:
            raise ValueError("code must be one of %s, got %r"
                             % (", ".join(map(str, EVENT_CODES)), code))
        if when == "immediate":
            return self._immediate
        if when == "after_commit":
            return self._after_commit
        raise ValueError("when must be 'immediate' or 'after_commit', got %r"
                         % (when,))

    def dispatch(self, event, transaction_manager):
        """Deliver ``event``: zope.event and immediate listeners now,
        after-commit listeners queued in ``transaction_manager``'s current
        transaction."""
        # zope.event subscribers belong to the application's transaction: if
        # one fails, the caller must abort, so their errors propagate.
        zope.event.notify(event)
        for callback in self._immediate.get(event.code, ()):
            try:
                callback(event)
            except Exception:
                logger.exception("goal listener %r failed on %r",
                                 callback, event)
        later = self._after_commit.get(event.code)
        if later:
            AfterCommitQueue.of(transaction_manager.get(), self).extend(
                [(callback, event) for callback in later])


@implementer(IDataManager)
class AfterCommitQueue:
    """(listener, event) pairs waiting for one transaction to commit.

    It joins the transaction as a data manager that stores nothing, only to
    hear of aborts and savepoints: the transaction package tells every
    joined resource.  Delivery is an after-commit hook, so listeners run
    once every resource has committed, and never when the commit failed.
    """

    transaction_manager = None

    def __init__(self, txn):
        self._txn = txn
        self._pending = []
        self._joined = False
        txn.addAfterCommitHook(self._deliver)

    @classmethod
    def of(cls, txn, owner):
        """The queue of ``owner`` (a Listeners) in transaction ``txn``."""
        try:
            queue = txn.data(owner)
        except KeyError:
            queue = cls(txn)
            txn.set_data(owner, queue)
        return queue

    def extend(self, pairs):
        if not self._joined:
            # (Re)join: after a savepoint rollback the transaction forgets a
            # resource that joined after the savepoint was taken.
            self._txn.join(self)
            self._joined = True
        self._pending.extend(pairs)

    def __len__(self):
        return len(self._pending)

    def _deliver(self, status):
        pending, self._pending = self._pending, []
        if not status:
            return
        for callback, event in pending:
            try:
                callback(event)
            except Exception:
                logger.exception("after-commit goal listener %r failed on %r",
                                 callback, event)

    # IDataManager: nothing to store; an abort forgets the events.

    def abort(self, txn):
        self._pending = []
        self._joined = False

    def tpc_begin(self, txn):
        pass

    def commit(self, txn):
        pass

    def tpc_vote(self, txn):
        pass

    def tpc_finish(self, txn):
        pass

    def tpc_abort(self, txn):
        self.abort(txn)

    def sortKey(self):
        return "~cybertools_tracking.goals.AfterCommitQueue:%d" % id(self)

    # Savepoints: rolling one back drops what was queued since.

    def savepoint(self):
        return _QueueSavepoint(self, len(self._pending))


@implementer(IDataManagerSavepoint)
class _QueueSavepoint:

    def __init__(self, queue, length):
        self._queue = queue
        self._length = length

    def rollback(self):
        del self._queue._pending[self._length:]

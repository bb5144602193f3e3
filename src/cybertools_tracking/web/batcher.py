"""Group commit: single-track saves of concurrent requests, one commit.

A commit is durable when the storage has synced it to disk: FileStorage
and the ZEO server ``fsync`` once per transaction, a few milliseconds on
common disks, and they commit one transaction at a time. With a commit per
request, that caps a server at a few hundred writes per second, however
many threads it has. So the saves that arrive while a commit is under way
wait for the next one and go into it together: each request still gets
its answer only after its track is committed, and the cost of the sync is
shared.

How a group is saved: one transaction (``units.write``, retried on
conflicts: a retry saves the whole group again). A save the storage
refuses (a ``ValidationError``, raised before anything is written) is that
request's 400 and does not disturb the others. Any other error fails the
group; then every save of the group is tried again alone, so that one bad
request cannot take others down with it.
"""

import asyncio
import queue
import threading
from concurrent.futures import Future

from cybertools_tracking.validation import ValidationError
from cybertools_tracking.web import units

__all__ = ['GroupCommitter', 'MAX_GROUP']

MAX_GROUP = 500         # saves per transaction, at most


class GroupCommitter:
    """Saves of ``work(storage, item)`` committed in groups by one thread.

    ``submit(item)`` blocks until the group holding it has committed and
    returns ``(result, attempts)``, or raises the HTTPException that
    request earned; ``await save(item)`` is the same for a coroutine, which
    waits without holding a thread (cancelled before its group begins,
    the save is not made).
    """

    def __init__(self, app, work, max_group=MAX_GROUP):
        self.app, self.work, self.max_group = app, work, max_group
        self._queue = queue.Queue()
        self._thread = None
        self._lock = threading.Lock()

    def _start(self):
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name='group-commit', daemon=True)
                self._thread.start()

    def stop(self):
        """Let the thread finish what it has and end."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(60)
            self._thread = None

    def submit(self, item):
        return self._submitted(item).result()

    async def save(self, item):
        return await asyncio.wrap_future(self._submitted(item))

    def _submitted(self, item):
        self._start()
        future = Future()
        self._queue.put((item, future))
        return future

    def _run(self):
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if following is None:
                    self._queue.put(None)       # stop after this group
                    break
                group.append(following)
            # A request given up while it waited (its coroutine cancelled:
            # the client went away, the server stops) cancelled its
            # future: that save is not made. The others' futures are
            # running from here on, so nothing can cancel them while
            # their group commits (setting a cancelled future's result
            # would raise here and end this thread).
            group = [(item, future) for item, future in group
                     if future.set_running_or_notify_cancel()]
            if group:
                self._commit(group)

    def _commit(self, group):
        def save_all(storage):
            results = []
            for item, _ in group:
                try:
                    results.append((True, self.work(storage, item)))
                except ValidationError as error:    # nothing was written
                    results.append((False, error))
            return results
        try:
            results, attempts = units.write_counted(self.app, save_all)
        except BaseException as error:
            if len(group) == 1:
                _fail(group[0][1], error)
                return
            for single in group:    # alone, each gets its own answer
                self._commit([single])
            return
        for (_, future), (ok, value) in zip(group, results):
            if ok:
                future.set_result((value, attempts))
            else:
                _fail(future, value)


def _fail(future, error):
    future.set_exception(units.http_error(error))

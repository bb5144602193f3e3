"""TrackingManager: trackers per group in ZODB, fed one data item at a time.

See ``ITrackingManager``.  The subtle part is where the manager's writes go:
into the current transaction of its connection, which the caller commits or
aborts.  Only a manager that created its own in-memory database (the
dictrack-compatible form) commits by itself; see ``TrackingManager``.
"""

import logging
import threading
import time
from collections import namedtuple
from collections.abc import Mapping

import transaction
import ZODB
from ZODB.Connection import Connection
from ZODB.utils import z64
from zope.interface import implementer

from cybertools_tracking.goals.conditions import MISSING
from cybertools_tracking.goals.events import EVENT_TRACKER_ADDED
from cybertools_tracking.goals.events import make_event
from cybertools_tracking.goals.interfaces import ConflictingNameError
from cybertools_tracking.goals.interfaces import IGoalHome
from cybertools_tracking.goals.interfaces import ITickingManager
from cybertools_tracking.goals.interfaces import GroupIdAlreadySetError
from cybertools_tracking.goals.interfaces import ITracker
from cybertools_tracking.goals.interfaces import ITrackingManager
from cybertools_tracking.goals.interfaces import TrackerAlreadyCompletedError
from cybertools_tracking.goals.interfaces import TrackerAlreadyRemovedError
from cybertools_tracking.goals.interfaces import TrackerLookupError
from cybertools_tracking.goals.listeners import Listeners
from cybertools_tracking.goals.registry import GoalRegistry
from cybertools_tracking.goals import ticks
from cybertools_tracking.goals.trackers import COMPLETED
from cybertools_tracking.goals.trackers import LIMITED
from cybertools_tracking.goals.trackers import REMOVED

__all__ = ["TrackingManager", "TrackResult", "MemoryDataCache", "ROOT_KEY"]

logger = logging.getLogger("cybertools_tracking.goals")

#: The key under which a manager keeps its registry in a connection's root.
ROOT_KEY = "cybertools_tracking.goals"

#: How often (in commits) a self-owned in-memory database drops old
#: revisions; MappingStorage keeps every revision until packed.
PACK_EVERY = 1000

TrackResult = namedtuple("TrackResult", "ok dirtied completed limited")
TrackResult.__doc__ = """\
What ``track`` did; unpacks like dictrack's ``(ok, dirtied, completed,
limited)``.  ``ok`` is always True: failures raise instead."""

# ``TrackResult(...)`` goes through a Python-level ``__new__``; the hot path
# builds its results directly.
_new_tuple = tuple.__new__


class MemoryDataCache:
    """Stands for dictrack's in-memory cache: asks for an in-memory database.

    dictrack's arguments (``scheduler_class``, ``check_interval``,
    ``stale_threshold``) are accepted and ignored: nothing needs sweeping,
    because ZODB's object cache already keeps hot trackers in memory.
    """

    def __init__(self, *args, **kwargs):
        pass

    def __repr__(self):
        return "<MemoryDataCache>"


class _RootHome:
    """The registry under a key in a connection's root (created on demand)."""

    def __init__(self, connection, root_key):
        self.connection = connection
        self.root_key = root_key
        self._cached = None

    @property
    def transaction_manager(self):
        # Always the connection's current one: a pooled connection is
        # opened again with another transaction manager.
        return self.connection.transaction_manager

    def goal_registry(self, create=False):
        cached = self._cached
        # A committed registry has an oid and stays where it is; an
        # uncommitted one is looked up again, since an abort may drop it.
        if cached is not None and cached._p_oid is not None:
            return cached
        root = self.connection.get(z64)
        registry = root.get(self.root_key)
        if registry is None and create:
            registry = root[self.root_key] = GoalRegistry()
        self._cached = registry
        return registry


class _RegistryHome:
    """A registry the caller keeps wherever it likes."""

    def __init__(self, registry, transaction_manager):
        self.registry = registry
        self._tm = transaction_manager

    @property
    def transaction_manager(self):
        jar = self.registry._p_jar
        if jar is not None:
            return jar.transaction_manager
        return self._tm or transaction.manager

    def goal_registry(self, create=False):
        return self.registry


@implementer(ITrackingManager, ITickingManager)
class TrackingManager:
    """Keeps trackers per group in ZODB; see ``ITrackingManager``.

    ``TrackingManager(db)`` opens a connection on *db* with
    *transaction_manager* (default: the thread's ``transaction.manager``);
    ``TrackingManager(connection)`` uses that connection; in both cases the
    registry lives in the root under ``root_key`` and is created by the
    first call that adds a tracker.  ``TrackingManager(registry)`` uses a
    ``GoalRegistry`` kept wherever the caller likes, and
    ``TrackingManager(home)`` asks an ``IGoalHome`` for its registry and
    transaction manager each time (how a tracking storage keeps its goals).
    Changes always go to the current transaction of the connection that
    holds the registry.

    ``listeners`` shares a ``Listeners`` between managers (a storage's
    listeners are heard by every connection); by default a manager has
    listeners of its own.

    ``TrackingManager()`` or ``TrackingManager(data_cache=MemoryDataCache(),
    data_store=None)`` creates an in-memory database (``ZODB.DB(None)``) on a
    transaction manager of its own and, unless ``autocommit=False``, commits
    after every call that changed something, so dictrack code needs no
    transaction handling.  That costs a commit per changing call; for bulk
    loads pass ``autocommit=False`` and call ``transaction_manager.commit()``
    now and then.  Calls on such a manager are serialized with a lock.
    """

    def __init__(self, db=None, data_store=None, *, data_cache=None,
                 transaction_manager=None, autocommit=None,
                 root_key=ROOT_KEY, listeners=None):
        if data_store is not None:
            raise TypeError(
                "data_store is not supported (trackers are kept in ZODB), "
                "got %r" % (data_store,))
        if isinstance(db, MemoryDataCache):
            db, data_cache = None, db
        if data_cache is not None and not isinstance(data_cache,
                                                     MemoryDataCache):
            raise TypeError("data_cache must be a MemoryDataCache, got %r"
                            % (data_cache,))
        if data_cache is not None and db is not None:
            raise TypeError("give a database or data_cache, not both")
        if listeners is not None and not isinstance(listeners, Listeners):
            raise TypeError("listeners must be a Listeners, got %r"
                            % (listeners,))
        self._db = self._conn = None
        self._owns_db = self._owns_connection = False
        self._lock = None
        if db is None:
            self._db = ZODB.DB(None)
            self._owns_db = True
            tm = transaction_manager or transaction.TransactionManager()
            self._conn = self._db.open(tm)
            self._owns_connection = True
            self._lock = threading.RLock()
            home = _RootHome(self._conn, root_key)
        elif isinstance(db, ZODB.DB):
            self._db = db
            self._conn = db.open(transaction_manager or transaction.manager)
            self._owns_connection = True
            home = _RootHome(self._conn, root_key)
        elif isinstance(db, Connection):
            self._conn = db
            self._db = db.db()
            home = _RootHome(db, root_key)
        elif isinstance(db, GoalRegistry):
            self._conn = db._p_jar
            home = _RegistryHome(db, transaction_manager)
        elif IGoalHome.providedBy(db):
            home = db
        else:
            raise TypeError("TrackingManager needs a ZODB.DB, a Connection, "
                            "a GoalRegistry, an IGoalHome or a "
                            "MemoryDataCache, got %r" % (db,))
        self._home = home
        if autocommit and not self._owns_db:
            raise ValueError("autocommit is only for a manager that created "
                             "its own database; here the caller commits")
        self._autocommit = self._owns_db if autocommit is None else autocommit
        self._listeners = Listeners() if listeners is None else listeners
        self._commits = 0
        self._depth = 0
        self._nested_changes = False

    # -- plumbing -------------------------------------------------------------

    @property
    def transaction_manager(self):
        """The transaction manager whose transactions hold our changes."""
        return self._home.transaction_manager

    @property
    def connection(self):
        return self._conn

    @property
    def listeners(self):
        """The ``Listeners`` this manager dispatches events to."""
        return self._listeners

    @property
    def registry(self):
        """The GoalRegistry, or None before the first tracker was added."""
        return self._home.goal_registry()

    def close(self):
        """Close the connection and database this manager opened."""
        if self._owns_connection and self._conn is not None:
            self._conn.transaction_manager.abort()
            self._conn.close()
        if self._owns_db:
            self._db.close()
        self._conn = None

    def _registry(self, create=False):
        return self._home.goal_registry(create)

    def _run(self, method, *args, **kw):
        # Run a call; with autocommit, commit it (if it changed anything) or
        # roll it back.  Returns what the method returned.  A call made by an
        # immediate listener during another call is part of that call: only
        # the outermost call commits, so each call stays all-or-nothing.
        if not self._autocommit:
            return method(*args, **kw)[0]
        tm = self.transaction_manager
        with self._lock:
            if self._depth:
                result, changed = method(*args, **kw)
                self._nested_changes = self._nested_changes or changed
                return result
            self._depth, self._nested_changes = 1, False
            try:
                result, changed = method(*args, **kw)
            except BaseException:
                tm.abort()
                raise
            finally:
                self._depth = 0
            if changed or self._nested_changes:
                tm.commit()
                self._commits += 1
                if self._commits % PACK_EVERY == 0:
                    self._db.pack()
            return result

    # -- events ---------------------------------------------------------------

    def add_listener(self, code, callback, when="immediate"):
        self._listeners.add(code, callback, when)

    def remove_listener(self, code, callback, when="immediate"):
        return self._listeners.remove(code, callback, when)

    def _dispatch(self, event):
        self._listeners.dispatch(event, self._home.transaction_manager)

    # -- adding and finding ---------------------------------------------------

    def add_tracker(self, group_id, tracker, expire=None, expire_at=None,
                    now_ts=None):
        return self._run(self._add, group_id, [tracker], expire, expire_at,
                         now_ts)

    def add_trackers(self, group_id, trackers, expire=None, expire_at=None,
                     now_ts=None):
        if not isinstance(trackers, (list, tuple)):
            raise TypeError("trackers must be a list or tuple, got %r"
                            % (trackers,))
        return self._run(self._add, group_id, list(trackers), expire,
                         expire_at, now_ts)

    def _add(self, group_id, trackers, expire, expire_at, now_ts):
        _check_group_id(group_id)
        now = time.time() if now_ts is None else now_ts
        if expire is not None and expire_at is not None:
            raise ValueError("give expire or expire_at, not both (got %r "
                             "and %r)" % (expire, expire_at))
        if expire is not None:
            expire_at = now + _check_time("expire", expire)
        elif expire_at is not None:
            _check_time("expire_at", expire_at)
        registry = self._registry(create=True)
        group = registry.get(group_id)
        names = set()
        for tracker in trackers:  # check all before adding any
            if not ITracker.providedBy(tracker):
                raise TypeError("tracker must provide ITracker, got %r"
                                % (tracker,))
            if tracker.removed:
                raise TrackerAlreadyRemovedError(group_id, tracker.name, "add")
            if tracker.completed:
                raise TrackerAlreadyCompletedError(
                    group_id, tracker.name, "add")
            if tracker.group_id is not None and tracker.group_id != group_id:
                raise GroupIdAlreadySetError(tracker.group_id, group_id)
            if tracker.name in names or (
                    group is not None and tracker.name in group.live):
                raise ConflictingNameError(group_id, tracker.name)
            names.add(tracker.name)
        group = registry.setdefault(group_id)
        for tracker in trackers:
            previous = group.find(tracker.name)
            if previous is not None:  # a completed one, replaced by this one
                previous._set_removed()
            tracker._place(group_id, expire_at)
            group.put(tracker)
            self._dispatch(make_event(EVENT_TRACKER_ADDED, tracker.snapshot(),
                                      now))
        return None, True

    def get_trackers(self, group_id, name=None, include_completed=False,
                     now_ts=None):
        if name is not None and not isinstance(name, str):
            if not isinstance(name, (list, tuple)):
                raise TypeError("name must be a str, a list of str or None, "
                                "got %r" % (name,))
        registry = self._registry()
        group = registry.get(group_id) if registry is not None else None
        if group is None:
            return []
        if name is None:
            found = list(group.live.values())
            if include_completed:
                found.extend(group.done.values())
        else:
            names = [name] if isinstance(name, str) else name
            pools = (group.live, group.done) if include_completed else (
                group.live,)
            found = []
            for n in names:
                for pool in pools:
                    if n in pool:
                        found.append(pool[n])
                        break
        now = time.time() if now_ts is None else now_ts
        return [t for t in found if not t.is_expired(now)]

    def update_tracker(self, group_id, tracker):
        return self._run(self._update, group_id, tracker)

    def _update(self, group_id, tracker):
        if not ITracker.providedBy(tracker):
            raise TypeError("tracker must provide ITracker, got %r"
                            % (tracker,))
        registry = self._registry()
        group = registry.get(group_id) if registry is not None else None
        existing = group.find(tracker.name) if group is not None else None
        if existing is None:
            raise TrackerLookupError(group_id, tracker.name)
        if existing is tracker:
            return None, False
        if tracker.removed:
            raise TrackerAlreadyRemovedError(group_id, tracker.name, "store")
        if tracker.group_id is not None and tracker.group_id != group_id:
            raise GroupIdAlreadySetError(tracker.group_id, group_id)
        tracker._place(group_id, existing._expire_at)
        existing._set_removed()
        group.put(tracker)
        return None, True

    def remove_tracker(self, group_id, name=None):
        return self._run(self._remove, group_id, name)

    def _remove(self, group_id, name):
        if name is not None and not isinstance(name, (str, list, tuple)):
            raise TypeError("name must be a str, a list of str or None, "
                            "got %r" % (name,))
        registry = self._registry()
        group = registry.get(group_id) if registry is not None else None
        if group is None:
            return [], False
        if name is None:
            names = list(group.live) + list(group.done)
        else:
            names = [name] if isinstance(name, str) else list(name)
        removed = []
        for n in names:
            tracker = group.discard(n)
            if tracker is not None:
                tracker._set_removed()
                removed.append(tracker)
        registry.prune(group_id)
        return removed, bool(removed)

    def remove_expired(self, now_ts=None):
        """Remove every tracker whose expiry time has come; return them.

        ``track`` already skips and removes the expired trackers of the group
        it works on; this sweeps all groups, e.g. from a nightly job.
        """
        return self._run(self._remove_expired, now_ts)

    def _remove_expired(self, now_ts):
        registry = self._registry()
        if registry is None:
            return [], False
        now = time.time() if now_ts is None else now_ts
        removed = []
        for group_id, group in list(registry.groups.items()):
            for tracker in list(group.live.values()) + list(
                    group.done.values()):
                if tracker.is_expired(now):
                    group.discard(tracker.name)
                    tracker._set_removed()
                    removed.append(tracker)
            registry.prune(group_id)
        return removed, bool(removed)

    def reset_tracker(self, group_id, name, reset_policy=None, now_ts=None,
                      **options):
        return self._run(self._reset, group_id, name, reset_policy, now_ts,
                         options)

    def _reset(self, group_id, name, reset_policy, now_ts, options):
        if not isinstance(name, str):
            raise TypeError("name must be a str, got %r" % (name,))
        registry = self._registry()
        group = registry.get(group_id) if registry is not None else None
        tracker = group.find(name) if group is not None else None
        now = time.time() if now_ts is None else now_ts
        if tracker is None or tracker.is_expired(now):
            return False, False
        for event in tracker.reset(reset_policy, now, **options):
            self._dispatch(event)
        return True, True

    def flush(self, confirm=False):
        if not confirm:
            logger.warning("flush() removes every tracker of every group; "
                           "call flush(confirm=True) if you mean it")
            return None
        return self._run(self._flush)

    def _flush(self):
        registry = self._registry()
        if registry is None:
            return None, False
        for group in registry.groups.values():
            for tracker in list(group.live.values()) + list(
                    group.done.values()):
                tracker._set_removed()
        registry.clear()
        return None, True

    # -- tracking -------------------------------------------------------------

    def track(self, group_id, data, now_ts=None):
        if self._autocommit:
            return self._run(self._track, group_id, data, now_ts)
        return self._track(group_id, data, now_ts)[0]

    def _track(self, group_id, data, now_ts):
        # The hot path.  Iterating the group's trackers directly is safe
        # because the group replaces its ``live`` dict instead of changing
        # it, so the candidates chosen here stay those of the item's start.
        if type(data) is not dict and not isinstance(data, Mapping):
            raise TypeError("data must be a dict (or another mapping), "
                            "got %r (%s)" % (data, type(data).__name__))
        registry = self._home.goal_registry()
        if registry is None:
            return _new_tuple(TrackResult, (True, [], [], [])), False
        group = registry.groups.get(group_id)
        if group is None:
            return _new_tuple(TrackResult, (True, [], [], [])), False
        candidates = group._v_candidates
        if candidates is None or candidates.live is not group.live:
            candidates = group.candidates()
        pending, key, probe = candidates.select(data)
        expiring = candidates.expiring
        now = time.time() if now_ts is None else now_ts
        dirtied, completed, limited = [], [], []
        expired = None
        dispatch = self._dispatch
        while pending:
            rest = ()
            for tracker in pending:
                tally = tracker._tally
                if tally.state > LIMITED:
                    continue  # removed or completed by a listener meanwhile
                if expiring:
                    expire_at = tracker._expire_at
                    if expire_at is not None and now >= expire_at:
                        if expired is None:
                            expired = []
                        expired.append(tracker)
                        continue
                changed, events = tracker.track(data, now)
                if changed:
                    dirtied.append(tracker)
                    state = tally.state
                    if state == COMPLETED:
                        completed.append(tracker)
                        group.put(tracker)  # moves it to the completed ones
                    for event in events:
                        dispatch(event)
                    if state == LIMITED:
                        limited.append(tracker)
                elif tally.state == LIMITED:
                    limited.append(tracker)
                if key is not None and data.get(key, MISSING) is not probe:
                    # Code run by this evaluation (a listener, a limiter, a
                    # condition) changed the value the candidates were
                    # chosen by: offer the item to every tracker left.
                    rest, key = candidates.remaining(tracker), None
                    break
            pending = rest
        if expired:
            for tracker in expired:
                if tracker._tally.state != REMOVED:
                    group.discard(tracker.name)
                    tracker._set_removed()
            registry.prune(group_id)
        return (_new_tuple(TrackResult, (True, dirtied, completed, limited)),
                bool(dirtied or expired))

    def tick(self, now_ts=None, group_ids=None):
        """See ``ITickingManager.tick`` (the work is in ``ticks.py``)."""
        now = time.time() if now_ts is None else _check_time("now_ts", now_ts)
        return self._run(ticks.run, self._registry(), now, self._dispatch,
                         group_ids)

    def __repr__(self):
        return "<TrackingManager on %r>" % (
            self._conn or self._home,)


def _check_group_id(group_id):
    if not isinstance(group_id, str):
        raise TypeError("group_id must be a str, got %r (%s)"
                        % (group_id, type(group_id).__name__))
    if not group_id.isascii():
        try:
            group_id.encode("utf-8")
        except UnicodeEncodeError as error:
            # A lone surrogate: no storage, JSON or log can hold it.
            raise ValueError("group_id must be text that UTF-8 can encode, "
                             "got %r (%s)" % (group_id, error.reason)) from None


def _check_time(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number of seconds, got %r (%s)"
                        % (name, value, type(value).__name__))
    return value

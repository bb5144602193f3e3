"""TrackingManager: trackers per group in ZODB, fed one data item at a time.

The dictrack-shaped front of the goal layer (see ``ITrackingManager``): the
ways to say where the registry lives, the dictrack-compatible in-memory
form that commits by itself, and the public methods.  The work is done
elsewhere, one concern per module: ``bookkeeping`` (adding, finding,
removing trackers), ``evaluation`` (the hot loop of ``track``),
``dispatch`` (where events go) and ``checks`` (arguments and the clock).

The subtle part is where the manager's writes go: into the current
transaction of its connection, which the caller commits or aborts.  Only a manager that created its own in-memory database (the
dictrack-compatible form) commits by itself; see ``TrackingManager``.
"""

import logging
import threading

import transaction
import ZODB
from ZODB.Connection import Connection
from ZODB.utils import z64
from zope.interface import implementer

from cybertools_tracking.goals import bookkeeping
from cybertools_tracking.goals.checks import check_group_id
from cybertools_tracking.goals.checks import check_name
from cybertools_tracking.goals.checks import check_time
from cybertools_tracking.goals.checks import check_names
from cybertools_tracking.goals.checks import now as _now
from cybertools_tracking.goals.dispatch import Dispatcher
from cybertools_tracking.goals.evaluation import TrackResult
from cybertools_tracking.goals.evaluation import evaluate
from cybertools_tracking.goals.history import GoalHistory
from cybertools_tracking.goals.history import history_of
from cybertools_tracking.goals.leaderboard import Leaderboard
from cybertools_tracking.goals.leaderboard import boards_of
from cybertools_tracking.goals.interfaces import IGoalHome
from cybertools_tracking.goals.interfaces import ILeaderboardManager
from cybertools_tracking.goals.interfaces import IOutcomeManager
from cybertools_tracking.goals.interfaces import IRedefiningManager
from cybertools_tracking.goals.interfaces import ITickingManager
from cybertools_tracking.goals.interfaces import ITrackingManager
from cybertools_tracking.goals.listeners import Listeners
from cybertools_tracking.goals.registry import GoalRegistry
from cybertools_tracking.goals import ticks
from cybertools_tracking.goals.ticks import TickResult
from cybertools_tracking.goals.upgrade import upgrade_registry

__all__ = ["TrackingManager", "TrackResult", "TickResult", "MemoryDataCache",
           "ROOT_KEY"]
# TrackResult is defined in ``evaluation`` and named here, where it always
# was, for code that imports it from this module.

logger = logging.getLogger("cybertools_tracking.goals")

#: The key under which a manager keeps its registry in a connection's root.
ROOT_KEY = "cybertools_tracking.goals"

# How many known names a refused ``add_leaderboard`` lists.
_NAMES_SHOWN = 20

#: How often (in commits) a self-owned in-memory database drops old
#: revisions; MappingStorage keeps every revision until packed.
PACK_EVERY = 1000


# Answers (and checks the arguments of) history calls where there is no
# history: no registry yet, or one made before registries made their own.
_EMPTY_HISTORY = GoalHistory(shards=1)


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


@implementer(ITrackingManager, IOutcomeManager, IRedefiningManager,
             ILeaderboardManager, ITickingManager)
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
        self._dispatch = Dispatcher(self._listeners, home)
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
        check_group_id(group_id)
        now = _now(now_ts)
        expire_at = bookkeeping.expiry(now, expire, expire_at)
        bookkeeping.check_new(
            group_id, bookkeeping.group_of(self._registry(), group_id),
            trackers)
        bookkeeping.place(self._registry(create=True), group_id, trackers,
                          expire_at, now, self._dispatch)
        return None, True

    def get_trackers(self, group_id, name=None, include_completed=False,
                     now_ts=None):
        check_names(name)
        return bookkeeping.find(self._registry(), group_id, name,
                                include_completed, _now(now_ts))

    def update_tracker(self, group_id, tracker):
        return self._run(self._update, group_id, tracker)

    def _update(self, group_id, tracker):
        return None, bookkeeping.replace(self._registry(), group_id, tracker)

    def remove_tracker(self, group_id, name=None, detach=False,
                       now_ts=None):
        """See ``IManager.remove_tracker``: a component of a live
        composite is refused unless *detach*."""
        return self._run(self._remove, group_id, name, detach, now_ts)

    def _remove(self, group_id, name, detach, now_ts):
        check_names(name)
        now = _now(now_ts)
        registry = self._registry()
        removed, composites = bookkeeping.remove(
            registry, group_id, name, detach=detach, now=now,
            dispatch=self._dispatch)
        self._dispatch.scored(registry, removed + composites, None)
        return removed, bool(removed)

    def remove_expired(self, now_ts=None):
        """Remove every tracker whose expiry time has come; return them.

        ``track`` already skips and removes the expired trackers of the group
        it works on; this sweeps all groups, e.g. from a nightly job.
        """
        return self._run(self._remove_expired, now_ts)

    def _remove_expired(self, now_ts):
        now = _now(now_ts)
        registry = self._registry()
        removed = bookkeeping.remove_expired(registry, now)
        self._dispatch.expired(removed, now)
        self._dispatch.scored(registry, removed, now)
        return removed, bool(removed)

    def tick(self, now_ts=None, group_ids=None):
        """Time-driven evaluation, without waiting for an item: see
        ``ITickingManager.tick`` (the work is in ``ticks.py``)."""
        now = _now(None if now_ts is None else check_time("now_ts", now_ts))
        return self._run(self._tick, now, group_ids)

    def groups_without_trackers(self, group_ids):
        """See ``ITickingManager.groups_without_trackers``."""
        return [group_id for group_id in dict.fromkeys(group_ids)
                if not self.get_trackers(group_id, include_completed=True)]

    def _tick(self, now, group_ids):
        registry = self._registry()
        result, changed = ticks.run(registry, now, self._dispatch, group_ids)
        if changed:
            self._dispatch.scored(registry, result.changed, now)
        return result, changed

    def upgrade_registry(self):
        """Bring a registry made by an older version to today's shape
        (sharded groups, an index of due times); return what was done, a
        list (empty if nothing).  The first full ``tick`` does the same;
        see ``goals/upgrade.py``."""
        return self._run(self._upgrade_registry)

    def _upgrade_registry(self):
        registry = self._registry()
        done = [] if registry is None else upgrade_registry(registry)
        return done, bool(done)

    def reset_tracker(self, group_id, name, reset_policy=None, now_ts=None,
                      **options):
        return self._run(self._reset, group_id, name, reset_policy, now_ts,
                         options)

    def _reset(self, group_id, name, reset_policy, now_ts, options):
        registry, now = self._registry(), _now(now_ts)
        done = bookkeeping.reset(registry, group_id, name, reset_policy, now,
                                 options, self._dispatch)
        if done:
            self._dispatch.scored(
                registry, bookkeeping.find(registry, group_id, name, True,
                                           now), now)
        return done, done

    def flush(self, confirm=False):
        if not confirm:
            logger.warning("flush() removes every tracker of every group; "
                           "call flush(confirm=True) if you mean it")
            return None
        return self._run(self._flush)

    def _flush(self):
        registry = self._registry()
        trackers = [] if registry is None else [
            tracker for group in registry.groups.values()
            for tracker in list(group.live.values()) + list(
                group.done.values())]
        flushed = bookkeeping.flush(registry)
        if trackers:
            self._dispatch.scored(registry, trackers, None)
        return None, flushed

    # -- tracking -------------------------------------------------------------

    def track(self, group_id, data, now_ts=None, cause=None):
        """See ``ITrackingManager.track``; *cause* (e.g. a track id) is
        kept in the history records this item makes."""
        if self._autocommit:
            return self._run(self._track, group_id, data, now_ts, cause)
        return evaluate(self._home.goal_registry(), group_id, data, now_ts,
                        self._dispatch, cause)[0]

    def _track(self, group_id, data, now_ts, cause=None):
        return evaluate(self._home.goal_registry(), group_id, data, now_ts,
                        self._dispatch, cause)

    # -- definitions (IRedefiningManager) -------------------------------------

    def redefine(self, group_id, tracker, policy="keep", now_ts=None):
        return self._run(self._redefine, group_id, tracker, policy, now_ts)

    def _redefine(self, group_id, tracker, policy, now_ts):
        check_group_id(group_id)
        bookkeeping.redefine(self._registry(), group_id, tracker, policy,
                             _now(now_ts), self._dispatch)
        return tracker, True

    # -- leaderboards (ILeaderboardManager) -----------------------------------

    def add_leaderboard(self, name, period=None, now_ts=None):
        return self._run(self._add_leaderboard, name, period, now_ts)

    def _add_leaderboard(self, name, period, now_ts):
        check_name(name)
        if self.leaderboard(name) is not None:
            raise ValueError("there is a leaderboard of %r already"
                             % (name,))
        board = Leaderboard(name, period)  # checks before the first write
        if not self._has_tracker_name(name):
            known = sorted(self._tracker_names())
            shown = ", ".join(map(repr, known[:_NAMES_SHOWN])) + (
                ", ..." if len(known) > _NAMES_SHOWN else "")
            raise ValueError(
                "no tracker is named %r, so a leaderboard of it would stay "
                "empty; add the trackers first (known names: %s)"
                % (name, shown or "none yet"))
        registry = self._registry(create=True)
        boards_of(registry, create=True)[name] = board
        board.start(registry.groups.values(), _now(now_ts))
        return board, True

    def _tracker_names(self):
        """The names of the trackers of every group (a set)."""
        registry = self._registry()
        names = set()
        if registry is not None:
            for group in registry.groups.values():
                names.update(group.live)
                names.update(group.done)
        return names

    def _has_tracker_name(self, name):
        # Stops at the first group that has one (the usual case).
        registry = self._registry()
        return registry is not None and any(
            name in group.live or name in group.done
            for group in registry.groups.values())

    def leaderboard(self, name):
        check_name(name)
        registry = self._registry()
        boards = boards_of(registry) if registry is not None else None
        return None if boards is None else boards.get(name)

    def remove_leaderboard(self, name):
        return self._run(self._remove_leaderboard, name)

    def _remove_leaderboard(self, name):
        board = self.leaderboard(name)
        if board is None:
            return None, False
        del boards_of(self._registry())[name]
        return board, True

    # -- history (IOutcomeManager) --------------------------------------------

    def history(self, group_id=None, tracker=None, kind=None, time_from=None,
                time_to=None, limit=None):
        registry = self._registry()
        history = history_of(registry) if registry is not None else None
        if history is None:
            # Check the arguments all the same: a wrong one is wrong before
            # the first outcome too.
            history = _EMPTY_HISTORY
        return history.query(group_id, tracker, kind, time_from, time_to,
                             limit)

    def prune_history(self, before, limit=None):
        """See ``IOutcomeManager.prune_history``."""
        return self._run(self._prune_history, before, limit)

    def _prune_history(self, before, limit):
        registry = self._registry()
        history = history_of(registry) if registry is not None else None
        if history is None:
            _EMPTY_HISTORY.prune(before, limit)   # checks the arguments
            return 0, False
        removed = history.prune(before, limit)
        return removed, bool(removed)

    def forget_group(self, group_id):
        """See ``IOutcomeManager.forget_group``."""
        return self._run(self._forget_group, group_id)

    def composites_removed_with(self, group_id):
        """See ``IOutcomeManager.composites_removed_with``."""
        check_group_id(group_id)
        registry = self._registry()
        if registry is None:
            return []
        dropped = bookkeeping.check_remove(registry, group_id, None,
                                           detach=True, erase=True)[2]
        return [(other, composite.name) for other, composite in dropped]

    def _forget_group(self, group_id):
        check_group_id(group_id)
        registry = self._registry()
        if registry is None:
            return (0, 0, 0), False
        # The group's trackers leave the composites of other groups too
        # (a team's goal goes on without the member), and a composite left
        # unable to complete is removed (bookkeeping.out_of_reach): the
        # right to erasure is not refused for a goal.  Checked before
        # anything is written.
        bookkeeping.check_remove(registry, group_id, None, detach=True,
                                 erase=True)
        # Off the boards first: removing the trackers moves the group off
        # the current period's board only.
        boards = boards_of(registry)
        entries = sum(board.forget(group_id)
                      for board in (boards.values() if boards else ()))
        now = _now(None)
        removed, composites = bookkeeping.remove(
            registry, group_id, None, detach=True, now=now,
            dispatch=self._dispatch, erase=True)
        dropped = [t for t in removed if t.group_id != group_id]
        # Finished composites elsewhere let go of the group's trackers too.
        bookkeeping.forget_in_finished(
            registry, [t for t in removed if t.group_id == group_id])
        if composites or dropped:
            self._dispatch.scored(registry, dropped + composites, now)
        history = history_of(registry)
        records = history.forget(group_id) if history is not None else 0
        result = (len(removed) - len(dropped), records, entries)
        return result, any(result)

    def grant(self, group_id, name, grantor, reason, now_ts=None):
        return self._run(self._grant, group_id, name, grantor, reason,
                         now_ts)

    def _grant(self, group_id, name, grantor, reason, now_ts):
        return self._by_hand("granted", group_id, name, grantor, reason,
                             now_ts)

    def revoke(self, group_id, name, grantor, reason, now_ts=None):
        return self._run(self._revoke, group_id, name, grantor, reason,
                         now_ts)

    def _revoke(self, group_id, name, grantor, reason, now_ts):
        return self._by_hand("revoked", group_id, name, grantor, reason,
                             now_ts)

    def _by_hand(self, kind, group_id, name, grantor, reason, now_ts):
        check_group_id(group_id)
        tracker = bookkeeping.by_hand(self._registry(), group_id, name, kind,
                                      grantor, reason, _now(now_ts),
                                      self._dispatch)
        return tracker, True

    def __repr__(self):
        return "<TrackingManager on %r>" % (
            self._conn or self._home,)


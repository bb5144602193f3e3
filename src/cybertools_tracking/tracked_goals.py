"""Goals bound to tracks: evaluated as a storage saves new tracks.

This module is the glue between the two layers below it, and the only code
that knows both: the storage (``storage.py``) knows goals only as an
``ITrackObserver`` it keeps and calls; the goal layer (``goals/``) knows
nothing of tracks.

Where things live, and for how long:

- *Data*: a ``GoalBinding``, persistent, kept by the storage as a track
  observer: the ``GoalRegistry`` of groups and the task templates.  Made by
  the first tracker added, in that transaction, so a read never writes and
  an abort takes the binding with it.
- *Transaction state*: the ``StorageGoals`` a save evaluates with and the
  outcome of the last save, kept in the transaction (``txn.data``) and gone
  with it, so nothing of an aborted transaction is ever seen again.
- *Events*: every goal event goes into the storage's outbox
  (``events.py``) in the transaction that caused it, then to the
  listeners.
- *Configuration*: the listeners of a storage, kept for this process per
  database and storage oid, so that every connection (every thread of an app
  server) hears them.  After-commit events wait in the transaction of the
  connection that made them (see ``goals/listeners.py``).

Two ways to attach a tracker:

- to a *group*, any string; the storage evaluates a track against the
  group named like the track's user (a user, a device);
- to a *task*, as a template: each user who saves a track in the task gets
  a copy of their own, in the group ``task_group(taskId, userName)``.

What a tracker sees is the track as a dict: ``taskId``, ``runId``,
``userName``, ``timeStamp`` and ``data`` (``track_item``).  Every path a
tracker names (a condition's key, KeyExists as much as KeyValueEQ; an
accumulation's key; a limiter's weight key) starts there, so a key of the
track's data is ``data.<key>``: ``KeyExists('data.page')``.  A path that
starts elsewhere could never be reached in a track (``KeyExists('page')``
would never hold, ``KeyNotExists('page')`` always), so adding a tracker
naming one is refused, with the path meant (``check_track_paths``).
A track counts once, when it is created:
update-saves and removals do not move progress, so progress is a function
of the tracks saved.
"""

import copy
import json
import threading
import weakref
from collections import namedtuple
from json.encoder import encode_basestring_ascii

import transaction
from persistent import Persistent
from transaction.interfaces import NoTransaction
from persistent.mapping import PersistentMapping
from zope.interface import implementer
from zope.interface import providedBy
from zope.interface.adapter import AdapterRegistry
from zope.interface.interface import adapter_hooks

from cybertools_tracking import backfills
from cybertools_tracking.goals import bookkeeping
from cybertools_tracking.goals.backfill import narrowing
from cybertools_tracking.goals.backfill import replay
from cybertools_tracking.goals.checks import check_group_id
from cybertools_tracking.goals.conditions import parse_path
from cybertools_tracking.goals.dispatch import Dispatcher
from cybertools_tracking.goals.due import refresh as refresh_due
from cybertools_tracking.goals.interfaces import IGoalHome
from cybertools_tracking.goals.interfaces import ITracker
from cybertools_tracking.goals.listeners import Listeners
from cybertools_tracking.goals.manager import TrackingManager
from cybertools_tracking.goals.serialize import event_to_json
from cybertools_tracking.goals.registry import GoalRegistry
from cybertools_tracking.interfaces import IStorageGoals
from cybertools_tracking.interfaces import ITrackingStorage
from cybertools_tracking.interfaces import ITrackObserver
from cybertools_tracking.query import TrackRecord, record_of
from cybertools_tracking.validation import ValidationError
from cybertools_tracking.validation import close_names

__all__ = ['StorageGoals', 'GoalBinding', 'GoalOutcome', 'NO_OUTCOME',
           'task_group', 'track_item', 'listeners_for', 'backfill_criteria',
           'check_track_paths', 'group_names', 'TRACK_ITEM_KEYS']

GoalOutcome = namedtuple('GoalOutcome', 'dirtied completed limited')
GoalOutcome.__doc__ = """What saving one track did to its goals: the
trackers whose progress or state changed, those that completed, and the
limited ones, over the user's group and the user's task copies."""

NO_OUTCOME = GoalOutcome((), (), ())


def task_group(taskId, userName):
    """The group id of a user's copies of a task's goal templates."""
    if type(taskId) is str and type(userName) is str:
        # What json.dumps([taskId, userName]) returns (group ids are
        # stored, so it must stay exactly that), without setting up an
        # encoder for every track.
        return '[%s, %s]' % (encode_basestring_ascii(taskId),
                             encode_basestring_ascii(userName))
    return json.dumps([taskId, userName])


def track_item(track):
    """The dict a tracker evaluates for ``track``."""
    return {'taskId': track.taskId, 'runId': track.runId,
            'userName': track.userName, 'timeStamp': track.timeStamp,
            'data': track.data}


#: The keys of every item ``track_item`` makes: where each path starts.
TRACK_ITEM_KEYS = ('taskId', 'runId', 'userName', 'timeStamp', 'data')


def _paths(tracker):
    """(what, key) of every dotted path *tracker* reads from items: its
    conditions' keys (inside All, Any and Not too; a sequence's steps),
    its accumulation key, a sequence's ``per`` key and its limiters'
    weight keys."""
    pending = list(getattr(tracker, 'conditions', ()) or ())
    pending += list(getattr(tracker, 'steps', ()) or ())
    while pending:
        condition = pending.pop(0)
        key = getattr(condition, 'key', None)
        if isinstance(key, str):
            yield repr(condition), key
        inner = getattr(condition, 'conditions', None)
        if isinstance(inner, tuple):
            pending.extend(inner)
        inner = getattr(condition, 'condition', None)
        if inner is not None:
            pending.append(inner)
    key = getattr(tracker, 'key', None)       # an accumulation's
    if isinstance(key, str):
        yield 'key=%r' % (key,), key
    key = getattr(tracker, 'per', None)       # a sequence's
    if isinstance(key, str):
        yield 'per=%r' % (key,), key
    for limiter in getattr(tracker, 'limiters', ()) or ():
        key = getattr(limiter, 'weight_key', None)
        if isinstance(key, str):
            yield 'weight_key=%r of %r' % (key, limiter), key


def check_track_paths(tracker):
    """Raise ValueError if *tracker* names a path that no track item has:
    its first segment is none of ``TRACK_ITEM_KEYS`` (such a condition
    could never hold on a track, KeyNotExists always would; such a key
    never adds anything), or it goes on past one of the track's own
    fields, which are numbers and names without keys (``userName.x``).
    The message names the tracker, the path, and the paths meant: a field
    of the track that is close (``timeStamp`` for ``timestamp``), and
    ``data.<path>``.  Reads only."""
    for what, key in _paths(tracker):
        segments = parse_path(key)
        first = segments[0][0]
        name = getattr(tracker, 'name', tracker)
        if first == 'data':
            continue
        if first in TRACK_ITEM_KEYS:
            if len(segments) == 1:
                continue
            raise ValueError(
                'tracker %r: %s names %r, which a track does not have: a '
                "track's %s is a %s, without keys; a key of the track's "
                "data is 'data.%s'"
                % (name, what, key, first, _FIELD_KINDS[first], key))
        # A field close to it (case aside) is meant only for a path of
        # one segment: the fields have no keys.
        meant = [] if len(segments) > 1 else [
            "'%s'" % other for other in close_names(first, TRACK_ITEM_KEYS)
            if other != 'data']
        raise ValueError(
            'tracker %r: %s names %r, which a track does not have: a '
            'tracker on a storage sees each track as {%s}, so %sa key of '
            "the track's data is 'data.%s'"
            % (name, what, first, ', '.join(TRACK_ITEM_KEYS),
               "the track's own field is %s and " % ' or '.join(meant)
               if meant else '', key))


#: What each of the track's own fields is, for ``check_track_paths``.
_FIELD_KINDS = {'taskId': 'name', 'userName': 'name', 'runId': 'number',
                'timeStamp': 'number (seconds)'}


def _items(records):
    # What ``replay`` feeds a tracker: (item, time, cause) per stored
    # track, from its ``TrackRecord`` (``storage.queryRecords``): the
    # item ``track_item`` makes of the track, without the track.
    for trackId, taskId, runId, userName, timeStamp, data in records:
        yield ({'taskId': taskId, 'runId': runId, 'userName': userName,
                'timeStamp': timeStamp, 'data': data}, timeStamp, trackId)


_STRING_INDEXES = ('taskId', 'userName')


def backfill_criteria(conditions, **fixed):
    """Query criteria that find every stored track a tracker with
    *conditions* can count (and maybe more), with the *fixed* criteria
    (``userName`` of a group, ``taskId`` of a template) always in; None if
    no track can match.

    The tracker sees a track as ``track_item`` makes it, so conditions on
    ``taskId``, ``userName``, ``runId`` and ``timeStamp`` (equality, a
    list, a lower or upper bound) narrow the query; conditions on the
    track's data cannot, the index does not know it.
    """
    narrow = narrowing(conditions)
    criteria = dict(fixed)
    for key in _STRING_INDEXES:
        found = narrow.get(key)
        if found is None or found.values is None:
            continue
        values = sorted(v for v in found.values if type(v) is str)
        if key in fixed:
            if fixed[key] not in found.values:
                return None
        elif not values:
            return None
        else:
            criteria[key] = values[0] if len(values) == 1 else values
    found = narrow.get('runId')
    if found is not None and found.values is not None:
        runs = sorted(v for v in found.values
                      if type(v) is int and v >= 0)
        if not runs:
            return None
        criteria['runId'] = runs[0] if len(runs) == 1 else runs
    found = narrow.get('timeStamp')
    if found is not None:
        if found.empty():
            return None
        if found.low is not None:
            criteria['timeFrom'] = found.low
        if found.high is not None:
            criteria['timeTo'] = found.high
    return criteria


# -- listeners: configuration of this process --------------------------------

_stored_listeners = weakref.WeakKeyDictionary()    # DB -> {oid: Listeners}
_unstored_listeners = weakref.WeakKeyDictionary()  # storage -> Listeners
_listeners_lock = threading.Lock()


def listeners_for(storage):
    """The ``Listeners`` of ``storage`` in this process.

    Every connection's copy of a stored storage has the same listeners
    (they are found by database and oid). A storage not stored yet keeps
    its own, which move to its oid once it has one.
    """
    jar, oid = storage._p_jar, storage._p_oid
    with _listeners_lock:
        if jar is None or oid is None:
            listeners = _unstored_listeners.get(storage)
            if listeners is None:
                listeners = _unstored_listeners[storage] = Listeners()
            return listeners
        per_db = _stored_listeners.get(jar.db())
        if per_db is None:
            per_db = _stored_listeners[jar.db()] = {}
        listeners = per_db.get(oid)
        if listeners is None:
            listeners = _unstored_listeners.pop(storage, None) or Listeners()
            per_db[oid] = listeners
        return listeners


# -- data: kept by the storage -----------------------------------------------

@implementer(ITrackObserver)
class GoalBinding(Persistent):
    """A storage's goals: the registry of groups and the task templates.

    The storage calls ``trackAdded`` for every new track, in the saving
    transaction; this evaluates the track's goals there.
    """

    # (group_id, tracker name) -> BackfillJob (see backfills), made by the
    # first batched backfill; bindings made before have none.
    backfills = None
    # (taskId, tracker name) -> TaskBackfillJob, likewise.
    task_backfills = None

    def __init__(self):
        self.registry = GoalRegistry()
        self.templates = PersistentMapping()   # taskId -> {name: tracker}

    def __repr__(self):
        return '<GoalBinding (%d groups, %d tasks with templates)>' % (
            len(self.registry.groups), len(self.templates))

    def trackAdded(self, storage, track):
        state = _TransactionState.of(storage)
        state.outcome = state.goals._evaluate(self, track)


def binding_of(storage):
    """The storage's ``GoalBinding``, or None before its first goal."""
    for observer in storage.trackObservers():
        if isinstance(observer, GoalBinding):
            return observer
    return None


def group_names(storage):
    """The set of names a group id given by a person may mean, for a
    "did you mean": the ids of the goal groups and the users of the
    stored tracks (a user's group is named like the user)."""
    names = set()
    binding = binding_of(storage)
    if binding is not None:
        names.update(binding.registry.groups.keys())
    for task in storage.getTaskIds():
        names.update(storage.getUserNames(task))
    return names


# -- transaction state -------------------------------------------------------

def _transaction_manager(storage):
    jar = storage._p_jar
    return transaction.manager if jar is None else jar.transaction_manager


class _TransactionState:
    """What one transaction knows of one storage's goals."""

    __slots__ = ('goals', 'outcome')

    def __init__(self, storage):
        self.goals = StorageGoals(storage)
        self.outcome = NO_OUTCOME

    @classmethod
    def of(cls, storage, create=True):
        txn = _transaction_manager(storage).get()
        try:
            return txn.data(storage)
        except KeyError:
            if not create:
                return None
            state = cls(storage)
            txn.set_data(storage, state)
            return state


@implementer(IGoalHome)
class _StorageHome:
    """A storage as the home of a goal registry (see ``IGoalHome``)."""

    __slots__ = ('storage',)

    def __init__(self, storage):
        self.storage = storage

    @property
    def transaction_manager(self):
        return _transaction_manager(self.storage)

    def goal_registry(self, create=False):
        binding = binding_of(self.storage)
        if binding is None:
            if not create:
                return None
            binding = GoalBinding()
            self.storage.addTrackObserver(binding)
        return binding.registry


# -- the API -----------------------------------------------------------------

class _OutboxDispatcher(Dispatcher):
    """Events go into the storage's outbox first, in this transaction: an
    event leaves the process only if the change that caused it commits."""

    __slots__ = ('storage',)

    def __init__(self, listeners, home, storage):
        Dispatcher.__init__(self, listeners, home)
        self.storage = storage

    def deliver(self, event, transaction_manager):
        # Values JSON has no word for (a date in a condition) are written
        # as their repr in the outbox.
        data = json.loads(json.dumps(event_to_json(event), default=repr))
        self.storage.events.append(data['type'], data,
                                   timestamp=event.timestamp)
        Dispatcher.deliver(self, event, transaction_manager)


@implementer(IStorageGoals)
class StorageGoals(TrackingManager):
    """The goals of one TrackingStorage; see ``IStorageGoals``.

    ``storage.goals`` (or ``IStorageGoals(storage)``) returns one.  It holds
    nothing but the storage: registry, transaction manager and listeners are
    looked up on each call, so it is cheap to make and never stale.
    """

    def __init__(self, storage):
        if not ITrackingStorage.providedBy(storage):
            raise TypeError('storage must be a TrackingStorage, got %r'
                            % (storage,))
        TrackingManager.__init__(self, _StorageHome(storage),
                                 listeners=listeners_for(storage))
        self.storage = storage
        self._dispatch = _OutboxDispatcher(self._listeners, self._home,
                                           storage)

    def __repr__(self):
        return '<StorageGoals of %r>' % (self.storage,)

    @property
    def lastOutcome(self):
        try:
            state = _TransactionState.of(self.storage, create=False)
        except NoTransaction:   # an explicit manager between transactions
            return NO_OUTCOME
        return NO_OUTCOME if state is None else state.outcome

    # backfill

    def add_tracker(self, group_id, tracker, expire=None, expire_at=None,
                    now_ts=None, backfill=False):
        if not backfill:
            check_track_paths(tracker)
            return TrackingManager.add_tracker(
                self, group_id, tracker, expire, expire_at, now_ts)
        return self.add_trackers(group_id, [tracker], expire, expire_at,
                                 now_ts, backfill=True)

    def add_trackers(self, group_id, trackers, expire=None, expire_at=None,
                     now_ts=None, backfill=False):
        if not isinstance(trackers, (list, tuple)):
            raise TypeError('trackers must be a list or tuple, got %r'
                            % (trackers,))
        for tracker in trackers:
            check_track_paths(tracker)
        if not backfill:
            return TrackingManager.add_trackers(
                self, group_id, trackers, expire, expire_at, now_ts)
        check_group_id(group_id)
        bookkeeping.check_new(
            group_id, bookkeeping.group_of(self._registry(), group_id),
            trackers)
        # Read first (a query can refuse its criteria), then write.
        stored = [self._stored_tracks(tracker, userName=group_id)
                  for tracker in trackers]
        TrackingManager.add_trackers(self, group_id, trackers, expire,
                                     expire_at, now_ts)
        registry = self._registry()
        count = sum(replay(registry, tracker, _items(tracks), self._dispatch)
                    for tracker, tracks in zip(trackers, stored))
        refresh_due(registry, group_id)   # the items may have opened periods
        return count

    def _stored_tracks(self, tracker, **fixed):
        """The stored tracks *tracker* may count, in id order (the order
        they were saved in, and evaluated in had the tracker been there),
        as ``TrackRecord`` tuples: read from the rows, no track object is
        made for each."""
        criteria = backfill_criteria(tracker.conditions, **fixed)
        if criteria is None:
            return []
        try:
            records = self.storage.queryRecords(**criteria)
        except ValidationError:
            # A time range beyond what the index holds: read the wider
            # range the other criteria give; the conditions still decide.
            criteria.pop('timeFrom', None)
            criteria.pop('timeTo', None)
            records = self.storage.queryRecords(**criteria)
        # A query reads a trailing * as a prefix; a group (or a template's
        # task) is named by the name itself: 's*' is not sam and sara.
        exact = [(TrackRecord._fields.index(key), value)
                 for key, value in fixed.items()
                 if isinstance(value, str) and value.endswith('*')]
        if exact:
            records = (record for record in records
                       if all(record[at] == value for at, value in exact))
        return records

    # backfill in batches (see backfills.py)

    def start_backfill(self, group_id, tracker, expire=None, expire_at=None,
                       now_ts=None, batch_size=backfills.DEFAULT_BATCH):
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError('batch_size must be an int of at least 1, got '
                             '%r' % (batch_size,))
        check_group_id(group_id)
        check_track_paths(tracker)
        bookkeeping.check_new(
            group_id, bookkeeping.group_of(self._registry(), group_id),
            [tracker])
        binding = binding_of(self.storage)
        jobs = None if binding is None else backfills.jobs_of(binding)
        job = None if jobs is None else jobs.get((group_id, tracker.name))
        if job is not None and not job.finished:
            raise ValueError(
                'group %r has an unfinished backfill of a tracker named %r '
                '(%d of %d tracks): go on with continue_backfill'
                % (group_id, tracker.name, job.done, job.total))
        # Read first (a query can refuse its criteria), then write.
        found = [(int(record[0]), record[4]) for record
                 in self._stored_tracks(tracker, userName=group_id)]
        TrackingManager.add_trackers(self, group_id, [tracker], expire,
                                     expire_at, now_ts)
        jobs = backfills.jobs_of(binding_of(self.storage), create=True)
        return backfills.start(jobs, group_id, tracker, found, batch_size)

    def continue_backfill(self, group_id, name):
        binding = binding_of(self.storage)
        jobs = None if binding is None else backfills.jobs_of(binding)
        job = None if jobs is None else jobs.get((group_id, name))
        if job is None:
            raise KeyError('no backfill of tracker %r in group %r'
                           % (name, group_id))
        return backfills.step(job, binding.registry,
                              self._items_of(group_id), self._dispatch)

    def backfill_jobs(self, include_finished=False):
        binding = binding_of(self.storage)
        jobs = None if binding is None else backfills.jobs_of(binding)
        if jobs is None:
            return []
        return [job for job in jobs.values()
                if include_finished or not job.finished]

    def _items_of(self, group_id):
        """What ``backfills.step`` reads a batch with: the records of the
        group's tracks among ``nums`` from the rows filed within
        ``span``; a track not there (moved to another second since) by
        its number; a removed one not at all."""
        return self._batch_reader(
            lambda track: track.userName == group_id, userName=group_id)

    def _batch_reader(self, still_ours, **criteria):
        """``items_of(nums, span)`` over the tracks *criteria* select:
        those among ``nums`` filed within ``span``, the others by their
        number if ``still_ours(track)``."""
        storage = self.storage

        def items_of(nums, span):
            wanted = set(nums)
            found = {int(record[0]): record for record in
                     storage.queryRecords(timeFrom=span[0], timeTo=span[1],
                                          **criteria)
                     if int(record[0]) in wanted}
            records = []
            for num in nums:
                record = found.get(num)
                if record is None:
                    track = storage.get('%07i' % num)
                    if track is None or not still_ours(track):
                        continue   # removed, or no longer selected
                    record = record_of(track)
                records.append(record)
            return _items(records)
        return items_of

    def redefine(self, group_id, tracker, policy='keep', now_ts=None):
        """See ``IRedefiningManager``; ``recompute`` restarts the tracker
        and counts the stored tracks of the group again (a backfill)."""
        policies = bookkeeping.POLICIES + ('recompute',)
        if policy not in policies:
            raise ValueError('policy must be one of %s, got %r'
                             % (', '.join(map(repr, policies)), policy))
        check_track_paths(tracker)
        if policy != 'recompute':
            return TrackingManager.redefine(self, group_id, tracker, policy,
                                            now_ts)
        check_group_id(group_id)
        bookkeeping.check_tracker(tracker)
        tracks = self._stored_tracks(tracker, userName=group_id)
        TrackingManager.redefine(self, group_id, tracker, 'restart', now_ts)
        replay(self._registry(), tracker, _items(tracks), self._dispatch)
        refresh_due(self._registry(), group_id)
        return tracker

    # leaderboards: a task template's name is known before any user has
    # a copy of it.

    def _template_names(self):
        binding = binding_of(self.storage)
        return set() if binding is None else {
            name for task in binding.templates.values() for name in task}

    def _tracker_names(self):
        return TrackingManager._tracker_names(self) | self._template_names()

    def _has_tracker_name(self, name):
        return (name in self._template_names()
                or TrackingManager._has_tracker_name(self, name))

    # task templates

    def _check_template(self, taskId, tracker):
        """The checks of ``add_task_goal``; return the task's templates
        (a mapping, or None before its first).  Reads only."""
        if not isinstance(taskId, str):
            raise TypeError('taskId must be a string, got %r' % (taskId,))
        if not ITracker.providedBy(tracker):
            raise TypeError('tracker must provide ITracker, got %r'
                            % (tracker,))
        check_track_paths(tracker)
        binding = binding_of(self.storage)
        task = binding.templates.get(taskId) if binding is not None else None
        if task is not None and tracker.name in task:
            raise ValueError('task %r has a goal template %r already'
                             % (taskId, tracker.name))
        return task

    def _add_template(self, taskId, task, tracker):
        """Keep *tracker* as a template of *taskId* (checked); return the
        binding."""
        binding = binding_of(self.storage)
        if binding is None:
            self._registry(create=True)
            binding = binding_of(self.storage)
        if task is None:
            task = binding.templates[taskId] = PersistentMapping()
        task[tracker.name] = tracker
        return binding

    def _without_copy(self, taskId, name, users):
        """The *users* who have no copy of the template *name* (a set).
        Reads only."""
        registry = self._registry()
        without = set()
        for user in users:
            existing = (None if registry is None
                        else registry.get(task_group(taskId, user)))
            if existing is None or existing.find(name) is None:
                without.add(user)
        return without

    def _copy_to_users(self, registry, taskId, tracker, users):
        """Give each of *users* without one a copy of the template
        *tracker*, as their next track in the task would; return
        {user: copy} of the copies made."""
        copies = {}
        for user in users:
            group = task_group(taskId, user)
            existing = registry.get(group)
            if existing is None or existing.find(tracker.name) is None:
                copies[user] = copy.deepcopy(tracker)
                self.add_tracker(group, copies[user])
        return copies

    def add_task_goal(self, taskId, tracker, backfill=False):
        task = self._check_template(taskId, tracker)
        if backfill:
            users = self.storage.getUserNames(taskId)
            # Read first (a query can refuse its criteria), then write.
            # Each user's tracks are read when their copy is fed: records
            # are best let go as soon as they are used (see queryRecords).
            reads = [(user, self._stored_tracks(tracker, taskId=taskId,
                                                userName=user))
                     for user in users]
        binding = self._add_template(taskId, task, tracker)
        if not backfill:
            return None
        # Every user of the task gets a copy now, as their next track in
        # the task would give them, and it counts their stored tracks.
        registry = binding.registry
        copies = self._copy_to_users(registry, taskId, tracker, users)
        count = 0
        for user, mine in reads:
            if user in copies:
                count += replay(registry, copies[user], _items(mine),
                                self._dispatch)
                refresh_due(registry, task_group(taskId, user))
        return count

    # task templates in batches (see backfills.py)

    def start_task_backfill(self, taskId, tracker,
                            batch_size=backfills.DEFAULT_BATCH):
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError('batch_size must be an int of at least 1, got '
                             '%r' % (batch_size,))
        task = self._check_template(taskId, tracker)
        binding = binding_of(self.storage)
        jobs = None if binding is None else backfills.task_jobs_of(binding)
        job = None if jobs is None else jobs.get((taskId, tracker.name))
        if job is not None and not job.finished:
            raise ValueError(
                'task %r has an unfinished backfill of a template named %r '
                '(%d of %d tracks): go on with continue_task_backfill'
                % (taskId, tracker.name, job.done, job.total))
        # Read first (a query can refuse its criteria), then write.  Of
        # each record only its number, second and user are kept, in
        # arrays and lists (a tuple per track would cost three times the
        # memory on a large task).
        users = self.storage.getUserNames(taskId)
        fed = self._without_copy(taskId, tracker.name, users)
        found = backfills.Found()
        for record in self._stored_tracks(tracker, taskId=taskId):
            if record[3] in fed:
                found.add(int(record[0]), record[4], record[3])
        binding = self._add_template(taskId, task, tracker)
        copies = self._copy_to_users(binding.registry, taskId, tracker,
                                     users)
        jobs = backfills.task_jobs_of(binding, create=True)
        job = jobs[(taskId, tracker.name)] = backfills.TaskBackfillJob(
            taskId, tracker, copies, found, batch_size)
        return job

    def continue_task_backfill(self, taskId, name):
        binding = binding_of(self.storage)
        jobs = None if binding is None else backfills.task_jobs_of(binding)
        job = None if jobs is None else jobs.get((taskId, name))
        if job is None:
            raise KeyError('no backfill of template %r of task %r'
                           % (name, taskId))
        return backfills.step_task(job, binding.registry,
                                   self._task_items_of(taskId),
                                   self._dispatch)

    def task_backfill_jobs(self, include_finished=False):
        binding = binding_of(self.storage)
        jobs = None if binding is None else backfills.task_jobs_of(binding)
        if jobs is None:
            return []
        return [job for job in jobs.values()
                if include_finished or not job.finished]

    def _task_items_of(self, taskId):
        """What ``backfills.step_task`` reads a batch with: as
        ``_items_of``, the task's tracks of the batch's users; one given
        to another user since by its number."""
        def items_of(nums, span, users):
            users = list(users)
            return self._batch_reader(
                lambda track: track.taskId == taskId, taskId=taskId,
                userName=users[0] if len(users) == 1 else users)(nums, span)
        return items_of

    def remove_task_goal(self, taskId, name):
        binding = binding_of(self.storage)
        task = binding.templates.get(taskId) if binding is not None else None
        if task is None or name not in task:
            return None
        tracker = task.pop(name)
        if not task:
            del binding.templates[taskId]
        return tracker

    def task_goals(self, taskId):
        binding = binding_of(self.storage)
        if binding is None:
            return []
        return list(binding.templates.get(taskId, {}).values())

    def user_task_goals(self, taskId, userName, include_completed=False):
        return self.get_trackers(task_group(taskId, userName),
                                 include_completed=include_completed)

    # evaluation

    def evaluate(self, track):
        binding = binding_of(self.storage)
        if binding is None:
            return NO_OUTCOME
        return self._evaluate(binding, track)

    def _evaluate(self, binding, track):
        item = track_item(track)
        now = track.timeStamp
        groups = [track.userName]
        templates = binding.templates
        if templates:
            task = templates.get(track.taskId)
            if task is not None:
                group = task_group(track.taskId, track.userName)
                self._copy_templates(binding.registry, group, task, now)
                groups.append(group)
        registry = binding.registry
        dirtied, completed, limited = [], [], []
        cause = track.__name__
        for group in groups:
            if registry.get(group) is None:
                continue
            result = self.track(group, item, now_ts=now, cause=cause)
            dirtied += result.dirtied
            completed += result.completed
            limited += result.limited
        if not (dirtied or limited):  # a completed tracker is dirtied too
            return NO_OUTCOME
        return GoalOutcome(tuple(dirtied), tuple(completed), tuple(limited))

    def _copy_templates(self, registry, group, templates, now):
        existing = registry.get(group)
        missing = [t for name, t in templates.items()
                   if existing is None or existing.find(name) is None]
        if missing:
            # A template never holds progress, so a deep copy is a fresh
            # tracker with the template's conditions, targets and limiters.
            # (Its paths were checked when it was added; one stored before
            # that check must not refuse the user's track.)
            TrackingManager.add_trackers(
                self, group, [copy.deepcopy(t) for t in missing], now_ts=now)


# -- IStorageGoals(storage) --------------------------------------------------
#
# The storage offers ``storage.goals`` by adapting itself to IStorageGoals,
# so it never imports this module. zope.interface calls adapter hooks when
# an interface is called; this one answers from a registry of our own (a
# Zope site's component registry, consulted first, may override it).

_adapters = AdapterRegistry()
_adapters.register([ITrackingStorage], IStorageGoals, '', StorageGoals)


def _adapt(interface, ob):
    factory = _adapters.lookup1(providedBy(ob), interface, '')
    return None if factory is None else factory(ob)


if _adapt not in adapter_hooks:
    adapter_hooks.append(_adapt)

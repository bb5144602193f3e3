"""Transactions in random order against a plain-Python model (issue 7, §7).

Three connections, each on a transaction manager of its own, save tracks
for three users and add goals (to a user, or as a task template), with
savepoints taken and rolled back in between; they commit (meeting real
conflicts), abort or begin() again.  Units of work go through
``run_in_transaction`` and ``retry_transaction`` with a TransientError on
their first attempt, or fail after their changes; two or three threads
write at once.  After every step a fresh connection must show exactly what
the model committed (tracks per user and task, ``len``, every tracker's
progress, stage and state, the templates), and the after-commit listener
must have heard exactly the events of the committed transactions, each
once, in commit order.  At the end ``check_storage`` must find nothing.

Listeners of different threads run after their own commits, so events of
concurrent threads are compared as multisets (they are seen out of commit
order now and then).  Run on FileStorage and on a ZEO server, one storage
per example; ``CYBERTOOLS_CHAOS_SCALE=10`` runs ten times the examples.

The model is ZODB's snapshot isolation written out by hand:

- a transaction sees the committed state of its *snapshot*: the moment its
  connection last began a transaction (``tm.begin()``, or the end of the
  previous commit or abort, where ZODB syncs the connection);
- it writes *records*: a tracker's progress (``tally``), a goal group
  (its live and completed trackers; creating a group also inserts its key
  in the registry's BTree), the task-template mappings.  Tracks go to
  structures that resolve concurrent inserts, so they are not records here;
- a commit that writes a record another transaction committed after its
  snapshot must fail with a ConflictError.  If it succeeds anyway, that is
  a lost update and the test fails.  Other conflicts (BTree buckets, index
  structures) may happen and are allowed; the work is then simply gone.

Every tracker counts every track of its group (no conditions), so the n-th
counted track moves progress to n and the events of a track follow from
the counts: at a stage target a reset (1004, the default policy resets
limiters only) and a stage completion (1002), at the last target all
completed (1003); each tracker added, by hand or copied from a task
template, announces 1001.
"""

import collections
import itertools
import os
import pprint
import shutil
import tempfile
import threading

import pytest
import transaction
from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, invariant,
                                 precondition, rule,
                                 run_state_machine_as_test)
from transaction.interfaces import TransientError
from ZODB.POSException import ConflictError

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import (get_storage, open_db, retry_transaction,
                                    run_in_transaction)
from cybertools_tracking.goals import EVENT_ALL, CountTracker
from cybertools_tracking.tracked_goals import task_group

from .conftest import start_zeo, stop

ADDED, STAGE, DONE, RESET = 1001, 1002, 1003, 1004
USERS = ('u1', 'u2', 'u3')
TASKS = ('t1', 't2')
T0 = 1_700_000_000
CONNECTIONS = 3
# Every user starts with two trackers: 'visits' completes a stage at the
# first track and all at the third; 'steps' completes a stage with each of
# the first 60 tracks, so nearly every save announces something and writes
# its user's tally (two saves of one user always conflict).
INITIAL_GOALS = (('visits', (1, 3)), ('steps', tuple(range(1, 61))))

USER = st.sampled_from(USERS)
TASK = st.sampled_from(TASKS)
TARGETS = st.sampled_from([(1,), (2,), (1, 3), (1, 2, 4)])
CONN = st.integers(0, CONNECTIONS - 1)
SAVE = st.tuples(st.just('save'), USER, TASK)
OP = st.one_of(SAVE, SAVE, SAVE,
               st.tuples(st.just('goal'), USER, TARGETS),
               st.tuples(st.just('template'), TASK, TARGETS))
OPS = st.lists(OP, min_size=1, max_size=4)
SCRIPT = st.lists(st.one_of(OP, OP, st.just('savepoint'),
                            st.tuples(st.just('rollback'), st.integers(0, 2))),
                  min_size=1, max_size=8)


# -- the model ---------------------------------------------------------------

class Tally:
    """A tracker as the model sees it."""

    def __init__(self, targets):
        self.targets = tuple(targets)
        self.progress = 0
        self.stage = 1
        self.completed = False

    def copy(self):
        other = Tally.__new__(Tally)
        other.__dict__.update(self.__dict__)
        return other

    def view(self):
        return (self.targets, self.progress, self.stage,
                'completed' if self.completed else 'active')


class Goals:
    """Goal data: committed, or as one transaction sees it."""

    def __init__(self):
        self.tallies = {}     # (group, name) -> Tally
        self.groups = {}      # group -> {'live': [names], 'done': [names]}
        self.templates = {}   # task -> [(name, targets)]

    def copy(self):
        other = Goals()
        other.tallies = {k: t.copy() for k, t in self.tallies.items()}
        other.groups = {g: {'live': list(m['live']), 'done': list(m['done'])}
                        for g, m in self.groups.items()}
        other.templates = {k: list(v) for k, v in self.templates.items()}
        return other

    def group_view(self, group):
        """[(name, targets, progress, stage, state)], live then completed,
        as ``get_trackers(group, include_completed=True)`` lists them."""
        members = self.groups.get(group)
        if members is None:
            return []
        return [(name,) + self.tallies[group, name].view()
                for name in members['live'] + members['done']]

    def add_trackers(self, group, specs, events, writes):
        members = self.groups.setdefault(group, {'live': [], 'done': []})
        writes.add(('group', group))
        for name, targets in specs:
            self.tallies[group, name] = Tally(targets)
            members['live'].append(name)
            writes.add(('tally', group, name))
            events.append((ADDED, group, name, 0, 1))

    def save(self, user, task, events, writes):
        groups = [user]
        templates = self.templates.get(task)
        if templates:
            group = task_group(task, user)
            members = self.groups.get(group)
            missing = [(name, targets) for name, targets in templates
                       if members is None or (name not in members['live']
                                              and name not in members['done'])]
            if missing:
                self.add_trackers(group, missing, events, writes)
            groups.append(group)
        for group in groups:
            members = self.groups.get(group)
            if members is None:
                continue
            for name in list(members['live']):
                tally = self.tallies[group, name]
                tally.progress += 1
                writes.add(('tally', group, name))
                if tally.progress < tally.targets[tally.stage - 1]:
                    continue
                if tally.stage < len(tally.targets):
                    tally.stage += 1
                    events.append((RESET, group, name, tally.progress,
                                   tally.stage))
                    events.append((STAGE, group, name, tally.progress,
                                   tally.stage - 1))
                else:
                    tally.completed = True
                    members['live'].remove(name)
                    members['done'].append(name)
                    writes.add(('group', group))
                    events.append((DONE, group, name, tally.progress,
                                   tally.stage))

    def apply(self, op):
        """Do ``op`` here; return (events, records written, tracks)."""
        events, writes, tracks = [], set(), collections.Counter()
        if op[0] == 'save':
            _, user, task = op
            self.save(user, task, events, writes)
            tracks[user, task] += 1
        elif op[0] == 'goal':
            _, user, name, targets = op
            self.add_trackers(user, [(name, targets)], events, writes)
        else:
            _, task, name, targets = op
            if task not in self.templates:
                self.templates[task] = []
                writes.add(('templates',))
            self.templates[task].append((name, targets))
            writes.add(('task', task))
        return events, writes, tracks


def groups_of(op):
    """The goal groups ``op`` may change."""
    if op[0] == 'save':
        return [op[1], task_group(op[2], op[1])]
    if op[0] == 'goal':
        return [op[1]]
    return []


def do(storage, op, ts):
    """Do ``op`` on a real storage."""
    if op[0] == 'save':
        storage.saveUserTrack(op[2], 0, op[1], {}, timeStamp=ts)
    elif op[0] == 'goal':
        storage.goals.add_tracker(op[1], CountTracker(
            name=op[2], conditions=[], target=list(op[3])))
    else:
        storage.goals.add_task_goal(op[1], CountTracker(
            name=op[2], conditions=[], target=list(op[3])))


def event_record(e):
    s = e.tracker
    return (e.code, e.group_id, e.name, s.progress, s.current_stage)


# -- diagnostics -------------------------------------------------------------

def same(what, expected, actual):
    """Assert equality; on failure say what differs, model vs. actual."""
    if expected == actual:
        return
    lines = ['%s: the model and the database differ' % what]
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=repr):
            if expected.get(key) != actual.get(key):
                lines.append('  %r:\n    model:  %r\n    actual: %r'
                             % (key, expected.get(key, '<missing>'),
                                actual.get(key, '<missing>')))
    elif isinstance(expected, list) and isinstance(actual, list):
        first = next((i for i, (a, b) in enumerate(zip(expected, actual))
                      if a != b), min(len(expected), len(actual)))
        lines.append('  first difference at index %d' % first)
        missing = collections.Counter(expected) - collections.Counter(actual)
        extra = collections.Counter(actual) - collections.Counter(expected)
        lines.append('  expected, not there: %s' % pprint.pformat(
            dict(missing)))
        lines.append('  there, not expected: %s' % pprint.pformat(
            dict(extra)))
    lines.append('  model:  %s' % pprint.pformat(expected, width=100))
    lines.append('  actual: %s' % pprint.pformat(actual, width=100))
    raise AssertionError('\n'.join(lines))


def read_committed(storage, groups):
    """What a fresh connection shows, in the model's terms."""
    tracks = {(user, task): len(storage.getUserTracks(task, 0, user))
              for user in USERS for task in TASKS}
    registry = storage.goals.registry
    actual_groups = sorted(registry.groups.keys()) if registry else []
    return {
        'len': len(storage),
        'tracks': {k: n for k, n in tracks.items() if n},
        'group ids': actual_groups,
        'groups': {g: read_group(storage, g)
                   for g in sorted(set(groups) | set(actual_groups))},
        'templates': {task: [t.name for t in storage.goals.task_goals(task)]
                      for task in TASKS
                      if storage.goals.task_goals(task)},
    }


def read_group(storage, group):
    return [(t.name, t.targets, t.progress, t.current_stage, t.state)
            for t in storage.goals.get_trackers(group,
                                                include_completed=True)]


# -- one connection of the machine -------------------------------------------

class Conn:
    """A connection on its own transaction manager, and what the model
    expects of its current transaction."""

    def __init__(self, machine, index):
        self.index = index
        self.tm = transaction.TransactionManager()
        self.connection = machine.db.open(self.tm)
        self.name = machine.name
        self.restart(machine)

    @property
    def storage(self):
        return get_storage(self.connection, self.name, create=False)

    def restart(self, machine):
        """A new transaction: its snapshot is the committed state now."""
        self.snapshot = machine.version
        self.goals = machine.goals.copy()
        self.writes = set()
        self.events = []
        self.tracks = collections.Counter()
        self.savepoints = []
        self.dropped = False     # a rollback dropped events

    def pending(self):
        return bool(self.writes or self.tracks)

    def state(self):
        return (self.goals.copy(), set(self.writes), list(self.events),
                collections.Counter(self.tracks))

    def close(self):
        self.tm.abort()
        self.connection.close()


# -- the machine -------------------------------------------------------------

class Chaos(RuleBasedStateMachine):

    def __init__(self, backend):
        super().__init__()
        self.db = backend.db
        self.name = backend.new_name()
        self.heard = []          # what the after-commit listener heard
        self.immediate = []      # what the immediate listener heard
        self.expected = []       # the events of committed transactions
        self.goals = Goals()     # committed goal data
        self.tracks = collections.Counter()
        self.version = 0         # commits so far
        self.written = {}        # record -> the commit that last wrote it
        self.names = itertools.count(1)
        self.ts = itertools.count(T0)
        self.stats = collections.Counter()
        self._setup()
        self.conns = [Conn(self, n) for n in range(CONNECTIONS)]

    def _setup(self):
        tm = transaction.TransactionManager()
        connection = self.db.open(tm)
        try:
            storage = get_storage(connection, self.name)
            for code in EVENT_ALL:
                storage.goals.add_listener(
                    code, lambda e: self.heard.append(event_record(e)),
                    when='after_commit')
                storage.goals.add_listener(
                    code, lambda e: self.immediate.append(event_record(e)))
            for task in TASKS:
                storage.startRun(task)   # no run is started by a save
            ops = [('goal', user, name, targets) for user in USERS
                   for name, targets in INITIAL_GOALS]
            for op in ops:
                do(storage, op, next(self.ts))
            tm.commit()
        finally:
            tm.abort()
            connection.close()
        local = self.goals.copy()
        events, writes, tracks = self._unit(ops, local)
        self._committed(local, writes, tracks, events)
        same('events heard at setup', self.expected, self.heard)

    # helpers

    def _committed(self, local, writes, tracks, events):
        """The model's commit of a transaction that saw ``local``."""
        self.version += 1
        self.stats['commits'] += 1
        for record in writes:
            if record[0] == 'tally':
                self.goals.tallies[record[1:]] = local.tallies[
                    record[1:]].copy()
            elif record[0] == 'group':
                members = local.groups[record[1]]
                self.goals.groups[record[1]] = {
                    'live': list(members['live']),
                    'done': list(members['done'])}
            elif record[0] == 'task':
                self.goals.templates[record[1]] = list(
                    local.templates[record[1]])
            self.written[record] = self.version
        self.tracks.update(tracks)
        self.expected += events

    def _named(self, op):
        if op[0] == 'save':
            return op
        prefix = 'g' if op[0] == 'goal' else 'tpl'
        return op[:2] + ('%s%d' % (prefix, next(self.names)),) + op[2:]

    def _unit(self, ops, local):
        events, writes, tracks = [], set(), collections.Counter()
        for op in ops:
            e, w, t = local.apply(op)
            events += e
            writes |= w
            tracks.update(t)
        return events, writes, tracks

    # rules: one connection at a time

    @rule(c=CONN, script=SCRIPT, begin=st.booleans())
    def work(self, c, script, begin):
        """Changes in one connection, with savepoints taken and rolled back
        in between.  An idle connection's snapshot is the end of its last
        transaction, unless ``begin`` says to begin() a new one first."""
        self.stats['rule work'] += 1
        conn = self.conns[c]
        if begin and not conn.pending():
            conn.tm.begin()
            conn.restart(self)
        for item in script:
            if item == 'savepoint':
                self._savepoint(conn)
            elif item[0] == 'rollback':
                if conn.savepoints:     # to the latest one, or one before
                    self._rollback(conn, max(0, len(conn.savepoints) - 1
                                             - item[1]))
            else:
                self._work(conn, self._named(item))

    def _work(self, conn, op):
        before = len(self.immediate)
        do(conn.storage, op, next(self.ts))
        events, writes, tracks = conn.goals.apply(op)
        conn.events += events
        conn.writes |= writes
        conn.tracks.update(tracks)
        same('immediate events of %r in connection %d' % (op, conn.index),
             events, self.immediate[before:])
        for group in groups_of(op):
            same('group %r as connection %d sees it' % (group, conn.index),
                 conn.goals.group_view(group),
                 read_group(conn.storage, group))

    @precondition(lambda self: any(conn.pending() for conn in self.conns))
    @rule(c=CONN, how=st.sampled_from(
        ['commit', 'commit', 'commit', 'abort', 'begin']))
    def finish(self, c, how):
        """Commit, abort, or begin() (which aborts as well) the transaction
        of a connection with work in progress."""
        self.stats['rule ' + how] += 1
        conns = [conn for conn in self.conns if conn.pending()]
        conn = conns[c % len(conns)]
        if how == 'commit':
            self._commit(conn)
        else:
            getattr(conn.tm, how)()
            conn.restart(self)

    def _commit(self, conn):
        c = conn.index
        before = len(self.heard)
        stale = sorted(r for r in conn.writes
                       if self.written.get(r, 0) > conn.snapshot)
        try:
            conn.tm.commit()
        except ConflictError as error:
            conn.tm.abort()
            note('connection %d: %s' % (c, error))
            self.stats['conflict (required)' if stale
                       else 'conflict (not required)'] += 1
            event('a commit met a %s conflict'
                  % ('required' if stale else 'spurious'))
            same('events heard after a failed commit', [],
                 self.heard[before:])
            conn.restart(self)
            return
        if stale:
            raise AssertionError(
                'lost update: connection %d committed records that another '
                'transaction committed after its snapshot (commit %d): %s'
                % (c, conn.snapshot, ', '.join(
                    '%r (commit %d)' % (r, self.written[r]) for r in stale)))
        if conn.writes or conn.tracks:
            self.stats['commit (connection)'] += 1
            if conn.dropped:
                self.stats['commit after dropping events'] += 1
            self._committed(conn.goals, conn.writes, conn.tracks,
                            conn.events)
        same('events heard after connection %d committed' % c,
             conn.events, self.heard[before:])
        conn.restart(self)

    @rule(c=CONN)
    def savepoint(self, c):
        self._savepoint(self.conns[c])

    def _savepoint(self, conn):
        self.stats['savepoint'] += 1
        conn.savepoints.append((conn.tm.savepoint(), conn.state()))

    @precondition(lambda self: any(c.savepoints for c in self.conns))
    @rule(c=st.integers(0, 5), k=st.integers(0, 5))
    def rollback(self, c, k):
        """Roll back to any savepoint still valid (an earlier one too)."""
        conns = [conn for conn in self.conns if conn.savepoints]
        conn = conns[c % len(conns)]
        self._rollback(conn, k % len(conn.savepoints))

    def _rollback(self, conn, k):
        self.stats['rollback'] += 1
        savepoint, state = conn.savepoints[k]
        if len(state[2]) < len(conn.events):
            self.stats['rollback dropped events'] += 1
        savepoint.rollback()     # later savepoints are invalid now
        del conn.savepoints[k + 1:]
        goals, writes, events, tracks = state
        conn.dropped = conn.dropped or len(events) < len(conn.events)
        conn.goals, conn.writes, conn.events, conn.tracks = (
            goals.copy(), set(writes), list(events),
            collections.Counter(tracks))

    # rules: units of work

    @rule(ops=OPS, c=CONN, way=st.sampled_from(
        ['run_in_transaction', 'retry_transaction', 'failing']),
        error=st.sampled_from([TransientError, ConflictError]))
    def unit(self, ops, c, way, error):
        """A unit of work whose first attempt raises a TransientError
        (retried: committed once); or whose work fails after its changes
        (nothing is kept)."""
        self.stats['rule unit ' + way] += 1
        ops = [self._named(op) for op in ops]
        attempts = []

        def work(storage):
            attempts.append(1)
            for op in ops:
                do(storage, op, next(self.ts))
            if way == 'failing':
                raise ValueError('the request fails')
            if len(attempts) == 1:
                raise error('first attempt')
        before_immediate, before = len(self.immediate), len(self.heard)
        local = self.goals.copy()
        events, writes, tracks = self._unit(ops, local)
        if way == 'failing':
            with pytest.raises(ValueError):
                run_in_transaction(self.db, work, name=self.name, sleep=None)
            same('immediate events of a failing unit of work', events,
                 self.immediate[before_immediate:])
            same('events heard after a failing unit of work', [],
                 self.heard[before:])
            return
        if way == 'run_in_transaction':
            run_in_transaction(self.db, work, name=self.name, sleep=None)
        else:
            # On a machine connection: its begin() aborts the connection's
            # work in progress.
            conn = self.conns[c]
            retry_transaction(lambda: work(conn.storage), conn.tm,
                              sleep=None)
        assert len(attempts) == 2, attempts
        same('immediate events of both attempts of %r' % ops,
             events + events, self.immediate[before_immediate:])
        self._committed(local, writes, tracks, events)
        same('events heard after %s' % way, events, self.heard[before:])
        if way == 'retry_transaction':
            self.conns[c].restart(self)

    @precondition(lambda self: self.stats['rule threads'] < 2)
    @rule(works=st.lists(st.lists(st.tuples(USER, TASK), min_size=1,
                                  max_size=3), min_size=2, max_size=3))
    def threads(self, works):
        """Threads, each with its own connection, save at once."""
        self.stats['rule threads'] += 1
        barrier = threading.Barrier(len(works))
        errors, retries = [], []
        ts = next(self.ts)

        def writer(saves):
            def work(storage):
                for user, task in saves:
                    storage.saveUserTrack(task, 0, user, {}, timeStamp=ts)
            try:
                barrier.wait(timeout=30)
                run_in_transaction(
                    self.db, work, name=self.name, attempts=50,
                    on_retry=lambda attempt, error: retries.append(error))
            except BaseException as error:   # reported below
                errors.append(error)
        before_immediate, before = len(self.immediate), len(self.heard)
        threads = [threading.Thread(target=writer, args=(saves,))
                   for saves in works]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(t.is_alive() for t in threads), 'a writer hangs'
        assert errors == [], errors
        self.stats['thread retries'] += len(retries)
        if retries:
            event('threads retried')
        # Saves commute (every tracker counts every track), so any order
        # of the commits gives the same state and the same events.
        expected = []
        for saves in works:
            local = self.goals.copy()
            events, writes, tracks = self._unit(
                [('save', user, task) for user, task in saves], local)
            self._committed(local, writes, tracks, [])
            expected += events
        heard = self.heard[before:]
        # Each thread's listeners run after its own commit, so two threads'
        # events may be heard in either order: compare as multisets.
        same('events heard from the threads (sorted)', sorted(expected),
             sorted(heard))
        self.expected += heard
        progress = collections.defaultdict(list)
        for code, group, name, n, _ in heard:
            progress[group, name].append(n)
        if any(p != sorted(p) for p in progress.values()):
            self.stats['threads heard out of commit order'] += 1
        assert not (collections.Counter(heard)
                    - collections.Counter(self.immediate[before_immediate:])
                    ), 'an after-commit event was not heard immediately'

    # what must hold after every step

    @invariant()
    def committed_state_as_modelled(self):
        self.stats['steps'] += 1
        tm = transaction.TransactionManager()
        connection = self.db.open(tm)
        try:
            storage = get_storage(connection, self.name, create=False)
            actual = read_committed(storage, self.goals.groups)
        finally:
            tm.abort()
            connection.close()
        groups = sorted(self.goals.groups)
        expected = {
            'len': sum(self.tracks.values()),
            'tracks': {k: n for k, n in self.tracks.items() if n},
            'group ids': groups,
            'groups': {g: self.goals.group_view(g) for g in groups},
            'templates': {task: [name for name, _ in names]
                          for task, names in self.goals.templates.items()},
        }
        same('the committed state (fresh connection)', expected, actual)
        same('after-commit events heard (in order)', self.expected,
             self.heard)

    def teardown(self):
        try:
            for conn in self.conns:
                conn.tm.abort()
            with self.db.transaction() as connection:
                storage = get_storage(connection, self.name, create=False)
                same('check_storage', [], check_storage(storage))
        finally:
            for conn in self.conns:
                conn.close()
            note('stats: %s' % dict(self.stats))


# -- the backends ------------------------------------------------------------

class Backend:
    """One database for all examples; each example gets a storage of its
    own (its listeners are its own too)."""

    def __init__(self, db):
        self.db = db
        self.counter = itertools.count(1)

    def new_name(self):
        return 'chaos-%d' % next(self.counter)


# More examples for a longer run: CYBERTOOLS_CHAOS_SCALE=10 pytest ...
SCALE = float(os.environ.get('CYBERTOOLS_CHAOS_SCALE', '1'))


def run(backend, max_examples, **kw):
    machines = []

    def factory():
        machine = Chaos(backend)
        machines.append(machine)
        return machine
    run_state_machine_as_test(factory, settings=settings(
        deadline=None, derandomize=False,
        suppress_health_check=[HealthCheck.too_slow,
                               HealthCheck.filter_too_much,
                               HealthCheck.data_too_large],
        max_examples=max(1, int(max_examples * SCALE)), **kw))
    totals = collections.Counter()
    for machine in machines:
        totals.update(machine.stats)
    return totals


@pytest.fixture(scope='module')
def scratch():
    """A directory for the databases. FileStorage fsyncs each commit; in
    memory (``/dev/shm``, where there is one) the same code runs without
    waiting for a disk, so more examples fit in the time."""
    shm = '/dev/shm'
    path = tempfile.mkdtemp(prefix='chaos-', dir=shm if os.path.isdir(shm)
                            and os.access(shm, os.W_OK) else None)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_chaos_on_filestorage(scratch):
    db = open_db(os.path.join(scratch, 'chaos.fs'))
    try:
        totals = run(Backend(db), max_examples=120, stateful_step_count=25)
    finally:
        db.close()
    print(totals)
    # The test means something only if the chaos really happened.
    assert totals['commits'] and totals['conflict (required)'], totals
    assert totals['rollback'] and totals['rule threads'], totals


@pytest.fixture(scope='module')
def zeo_server(scratch):
    pytest.importorskip('ZEO')
    process, uri = start_zeo(os.path.join(scratch, 'zeo', 'chaos.fs'))
    yield uri
    stop(process)


@pytest.mark.server
def test_chaos_on_zeo(zeo_server):
    db = open_db(zeo_server)
    try:
        totals = run(Backend(db), max_examples=25, stateful_step_count=25)
    finally:
        db.close()
    print(totals)
    assert totals['commits'], totals


# -- found by breaking the library on purpose ---------------------------------
#
# Mutation runs showed that the machine finds this one only now and then (a
# savepoint rolled back twice in one transaction, with events between): it
# stays here as an example of its own.

def test_second_savepoint_after_a_rollback_that_unjoined_the_queue(scratch):
    db = open_db(os.path.join(scratch, 'savepoints.fs'))
    heard = []
    with db.transaction() as connection:
        goals = get_storage(connection).goals
        goals.add_listener(DONE, lambda e: heard.append(e.group_id),
                           when='after_commit')
        for user in USERS:
            goals.add_tracker(user, CountTracker('once', [], 1))
    tm = transaction.TransactionManager()
    connection = db.open(tm)
    storage = get_storage(connection)
    first = tm.savepoint()           # before the event queue joined
    storage.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    first.rollback()                 # the queue leaves the transaction
    storage.saveUserTrack('t', 0, 'u2', {}, timeStamp=T0)   # and rejoins
    second = tm.savepoint()
    storage.saveUserTrack('t', 0, 'u3', {}, timeStamp=T0)
    second.rollback()                # so this drops u3's event
    tm.commit()
    assert heard == ['u2']
    connection.close()
    db.close()

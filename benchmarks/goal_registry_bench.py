"""The goal registry under concurrent new users (issue 12 follow-up).

A task has a goal template; every commit saves the first track of a NEW
user of that task, so each commit makes the user's group (a per-user copy
of the template) and, the template's target being 1, an outcome in the
history and an event in the outbox.  WRITERS threads of one process, each
with a connection and a transaction manager of its own, into a
FileStorage (conflict resolution runs as it would in ZEO).  Reports the
conflict retries per 1,000 commits and the class of the record each
conflict happened on.

    python benchmarks/goal_registry_bench.py [TOTAL [ROUNDS]]
"""

import collections
import os
import shutil
import sys
import tempfile
import threading

import transaction

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'src'))

from cybertools_tracking.db import get_storage, open_db  # noqa: E402
from cybertools_tracking.db import retry_transaction  # noqa: E402
from cybertools_tracking.goals import CountTracker  # noqa: E402

TASK = 'lesson'
T0 = 1_700_000_000
TOTAL = 800
ROUNDS = 3


def _writer(db, number, count, barrier, conflicts, errors):
    try:
        manager = transaction.TransactionManager()
        connection = db.open(manager)
        storage = get_storage(connection, create=False)

        def on_retry(attempt, error):
            conflicts[(type(error).__name__, getattr(error, 'oid', None))
                      ] += 1

        barrier.wait()
        for i in range(count):
            user = 'new-%d-%d' % (number, i)
            retry_transaction(
                lambda: storage.saveUserTrack(TASK, 0, user, {'i': i},
                                              timeStamp=T0 + i),
                manager, attempts=100, on_retry=on_retry)
        connection.close()
    except BaseException as error:
        errors.append(error)
        barrier.abort()


def _name(connection, oid):
    if oid is None:
        return '?'
    ob = connection.get(oid)
    name = type(ob).__name__
    binding = storage_binding(connection)
    where = _path_to(get_storage(connection, create=False), oid)
    if where is not None:
        return '%s (%s)' % (name, where)
    if binding is not None:
        registry = binding.registry
        for label, holder in (('registry', registry),
                              ('binding', binding)):
            if ob is holder:
                return label
            for attr, value in vars(holder).items():
                if getattr(value, '_p_oid', None) == oid:
                    return '%s (%s.%s)' % (name, label, attr)
    return name


def _path_to(storage, oid, depth=4):
    # The attribute path from the storage to the record *oid*, looking
    # through attributes and tuples of persistent objects (not BTrees).
    seen = set()

    def walk(ob, path, depth):
        if depth < 0 or id(ob) in seen:
            return None
        seen.add(id(ob))
        values = []
        if isinstance(ob, tuple):
            values = [('[%d]' % i, v) for i, v in enumerate(ob)]
        elif hasattr(ob, '__dict__') and not type(ob).__module__.startswith(
                'BTrees'):
            ob._p_activate() if hasattr(ob, '_p_activate') else None
            values = [('.' + k, v) for k, v in vars(ob).items()]
        for label, value in values:
            if getattr(value, '_p_oid', None) == oid:
                return path + label
        for label, value in values:
            if isinstance(value, tuple) or hasattr(value, '_p_oid'):
                found = walk(value, path + label, depth - 1)
                if found is not None:
                    return found
        return None

    return walk(storage, 'storage', depth)


def storage_binding(connection):
    from cybertools_tracking.tracked_goals import binding_of
    return binding_of(get_storage(connection, create=False))


def run(writers, total=TOTAL):
    directory = tempfile.mkdtemp(prefix='goalreg-')
    try:
        db = open_db(os.path.join(directory, 'tracking.fs'),
                     pool_size=writers + 4)
        with db.transaction() as connection:
            storage = get_storage(connection)
            storage.startRun(TASK)
            # The task's first track makes its entry in the storage's
            # index, which every writer's first track would make at once;
            # made here (before the template), so what is counted is the
            # goal layer's.
            storage.saveUserTrack(TASK, 0, 'warm-up', {}, timeStamp=T0)
            storage.goals.add_task_goal(TASK, CountTracker(
                name='first', conditions=[], target=1))
        barrier = threading.Barrier(writers)
        conflicts, errors = collections.Counter(), []
        per = total // writers
        threads = [threading.Thread(target=_writer, args=(
            db, n, per, barrier, conflicts, errors)) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        with db.transaction() as connection:
            storage = get_storage(connection, create=False)
            assert len(storage) == per * writers + 1
            assert len(storage.goals.history()) == per * writers
            # Name each conflict by the class of its record, and by the
            # attribute that holds it where that is a registry's.
            named = collections.Counter()
            for (kind, oid), n in conflicts.items():
                named['%s on %s' % (kind, _name(connection, oid))] += n
            conflicts = named
        db.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return per * writers, conflicts


def report(total=TOTAL, rounds=ROUNDS):
    lines = ['| writers | commits | retries per 1,000 commits '
             '| conflicts retried, by class |', '|---|---|---|---|']
    for writers in (2, 4):
        commits, conflicts = 0, collections.Counter()
        for _ in range(rounds):
            done, found = run(writers, total)
            commits += done
            conflicts += found
        lines.append('| %d | %d | %.1f | %s |' % (
            writers, commits, 1000.0 * sum(conflicts.values()) / commits,
            ', '.join('%s: %d' % (name, n)
                      for name, n in conflicts.most_common()) or '-'))
    return lines


if __name__ == '__main__':
    numbers = [int(arg) for arg in sys.argv[1:3]] + [TOTAL, ROUNDS][
        len(sys.argv[1:3]):]
    print('\n'.join(report(numbers[0], numbers[1])))

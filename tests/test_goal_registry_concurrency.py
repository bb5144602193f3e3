"""New users of a task with a goal template, written at once by several
connections: every first track makes a group (the user's copy of the
template) and, the template's target being 1, an outcome in the history.
Writers whose groups fall into different shards of the registry never
conflict, however the registry's trees grow; and threads writing new users
have no conflict on the goal registry's records at all."""

import collections
import threading
import zlib

import transaction
from ZODB.POSException import ConflictError

from cybertools_tracking.db import get_storage, open_db, retry_transaction
from cybertools_tracking.goals import CountTracker
from cybertools_tracking.goals.history import SHARDS as HISTORY_SHARDS
from cybertools_tracking.goals.registry import GROUP_SHARDS, GroupMap
from cybertools_tracking.tracked_goals import binding_of, task_group

TASK = 'lesson'
T0 = 1_700_000_000


def _open(tmp_path):
    db = open_db(str(tmp_path / 'tracking.fs'), pool_size=8)
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.startRun(TASK)
        storage.saveUserTrack(TASK, 0, 'warm-up', {}, timeStamp=T0)
        storage.goals.add_task_goal(TASK, CountTracker(
            name='first', conditions=[], target=1))
    return db


def _shards(user):
    crc = zlib.crc32(task_group(TASK, user).encode('utf-8'))
    return crc % GROUP_SHARDS, crc % HISTORY_SHARDS


def _pairs(count):
    """Pairs of new users whose groups share no shard of the registry's
    groups nor of its history."""
    pairs, n = [], 0
    while len(pairs) < count:
        a, b = 'a-%d' % n, 'b-%d' % n
        n += 1
        shards_a, shards_b = _shards(a), _shards(b)
        if shards_a[0] != shards_b[0] and shards_a[1] != shards_b[1]:
            pairs.append((a, b))
    return pairs


def test_a_new_registry_has_its_history_and_boards(tmp_path):
    db = _open(tmp_path)
    with db.transaction() as connection:
        registry = binding_of(get_storage(connection)).registry
        assert isinstance(registry.groups, GroupMap)
        assert len(registry.groups.shards) == GROUP_SHARDS
        # Made with the registry, committed before any outcome.
        assert registry.history._p_oid is not None
        assert registry.leaderboards._p_oid is not None
        assert registry.history.query() == []
    db.close()


def test_writers_of_new_users_in_other_shards_never_conflict(tmp_path):
    # Two connections start from the same state, each saves a new user's
    # first track, A commits, then B.  With one BTree of groups, B failed
    # whenever A's insert split a bucket (every 15 to 30 groups); and both
    # made the history on the first pair.
    db = _open(tmp_path)
    tm_a, tm_b = transaction.TransactionManager(), transaction.TransactionManager()
    storage_a = get_storage(db.open(tm_a), create=False)
    storage_b = get_storage(db.open(tm_b), create=False)
    pairs = _pairs(150)
    for i, (a, b) in enumerate(pairs):
        tm_a.begin()
        tm_b.begin()
        storage_a.saveUserTrack(TASK, 0, a, {}, timeStamp=T0 + i)
        storage_b.saveUserTrack(TASK, 0, b, {}, timeStamp=T0 + i)
        tm_a.commit()
        try:
            tm_b.commit()
        except ConflictError as error:
            raise AssertionError('pair %d (%s, %s) conflicted: %s'
                                 % (i, a, b, error))
    tm_a.begin()
    groups = binding_of(storage_a).registry.groups
    users = [u for pair in pairs for u in pair]
    assert len(groups) == len(users)   # the warm-up came before the template
    assert list(groups.keys()) == sorted(task_group(TASK, u) for u in users)
    for user in users:
        (tracker,) = storage_a.goals.user_task_goals(
            TASK, user, include_completed=True)
        assert tracker.completed and tracker.progress == 1
    assert len(storage_a.goals.history(kind='completed')) == len(users)
    tm_a.abort()
    db.close()


def test_threads_writing_new_users_do_not_conflict_on_the_registry(
        tmp_path):
    db = _open(tmp_path)
    with db.transaction() as connection:
        registry = binding_of(get_storage(connection)).registry
        history = registry.history
        goal_oids = {registry._p_oid, registry.groups._p_oid,
                     history._p_oid, registry.leaderboards._p_oid}
        goal_oids.update(shard._p_oid for shard in registry.groups.shards)
        goal_oids.update(shard._p_oid for shard in history.shards)
    threads_count, per_thread = 4, 50
    barrier = threading.Barrier(threads_count)
    conflicts, errors = collections.Counter(), []

    def writer(number):
        try:
            manager = transaction.TransactionManager()
            connection = db.open(manager)
            storage = get_storage(connection, create=False)
            barrier.wait()
            for i in range(per_thread):
                user = 'new-%d-%d' % (number, i)
                retry_transaction(
                    lambda: storage.saveUserTrack(TASK, 0, user, {},
                                                  timeStamp=T0 + i),
                    manager, attempts=50, sleep=None,
                    on_retry=lambda attempt, error: conflicts.update(
                        [getattr(error, 'oid', None)]))
            connection.close()
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(n,))
               for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    # A conflict on the record itself (a split of one shard's root, read as
    # current by the other writer) would carry that record's oid.
    assert not set(conflicts) & goal_oids, conflicts
    with db.transaction() as connection:
        storage = get_storage(connection, create=False)
        assert len(binding_of(storage).registry.groups) == (
            threads_count * per_thread)
        assert len(storage.goals.history()) == threads_count * per_thread
    db.close()


def test_group_map_is_a_mapping_in_key_order():
    groups = GroupMap(shards=4)
    for key in ['c', 'a', 'b', 'e', 'd']:
        groups[key] = key.upper()
    assert list(groups.keys()) == ['a', 'b', 'c', 'd', 'e']
    assert list(groups.items())[0] == ('a', 'A')
    assert list(groups.values()) == ['A', 'B', 'C', 'D', 'E']
    assert len(groups) == 5 and 'c' in groups and 'x' not in groups
    assert groups.get('x') is None and groups.get(3) is None
    del groups['c']
    assert 'c' not in groups and len(groups) == 4
    groups.clear()
    assert len(groups) == 0
    try:
        GroupMap(shards=0)
    except ValueError as error:
        assert 'positive int' in str(error) and '0' in str(error)
    else:
        raise AssertionError('GroupMap(shards=0) was accepted')


def test_group_map_remembers_shards_within_its_bound(monkeypatch):
    from cybertools_tracking.goals import registry as registry_module
    monkeypatch.setattr(registry_module, 'SHARD_CACHE', 3)
    groups = GroupMap(shards=4)
    for key in ['a', 'b', 'c', 'd', 'e']:
        groups[key] = key.upper()
    assert [groups.get(k) for k in 'abcde'] == list('ABCDE')
    assert len(groups._v_shard_of) <= 3          # forgotten when full
    del groups['e']
    assert groups.get('e') is None and groups.get('e', 0) == 0
    groups['e'] = 'E2'                           # same shard as before
    assert groups.get('e') == 'E2' and groups['e'] == 'E2'
    assert groups.get(['a']) is None             # not a str: not cached
    state = groups.__getstate__()
    assert '_v_shard_of' not in state            # never stored

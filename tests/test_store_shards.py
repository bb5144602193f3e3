"""The registry of combinations and the map cid -> key, sharded.

A new combination inserts into one shard of the registry and one slot of
cid -> key. Writers whose new combinations fall into other shards and
slots never conflict, however those trees grow (a bucket split rewrites
the tree's root, which every insert into that tree reads as current).
A store keeps the numbers of shards and slots it was made with:
tests/fixtures/rows64_layout.fs was written by main at 18d4a4e, with 64 of
each, and works on as it is (see tests/fixtures/make_rows64_layout.py).
"""

import json
import os
import shutil
import zlib

import pytest
import transaction
from ZODB.POSException import ConflictError

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.index import CombinationTree
from cybertools_tracking.partitions import MemberSet, ShardedTree
from cybertools_tracking.store import (COMBINATION_SHARDS, KEY_SLOTS,
                                       USER_SHARDS, TrackStore,
                                       combination_id)
from tests.fixtures.make_old_layout import answers

HERE = os.path.join(os.path.dirname(__file__), 'fixtures')
T0 = 1_700_000_000


def test_a_new_store_has_its_shards_and_slots():
    store = TrackStore()
    assert len(store._combinations._shards) == COMBINATION_SHARDS == 256
    assert len(store._keys) == KEY_SLOTS == 256
    assert len(store._byUser._shards) == USER_SHARDS == 256


def test_cid_to_key_is_one_bytes_value_per_combination():
    store = TrackStore()
    key = ('task', 3, 'someone')
    store.add(key, T0, 1, {'a': 1})
    cid = store._combinations[key][0]
    (value,) = store._keys[cid % KEY_SLOTS].values()
    assert type(value) is bytes
    assert store.keyOf(cid) == key and store.find(1)[0] == key
    assert store.keyOf(cid + 1) is None
    problems = []
    store.check(lambda text, *args: problems.append(text % args))
    assert problems == []


@pytest.mark.parametrize('shards', [0, -1, True, 2.0, '8'])
def test_a_sharded_tree_refuses_a_bad_number_of_shards(shards):
    with pytest.raises(ValueError, match='shards must be a positive int'):
        CombinationTree(shards)


def test_a_sharded_tree_picks_among_its_own_shards():
    tree = CombinationTree(3)
    key = ('t', 1, 'someone')
    tree[key] = 'x'
    shard = zlib.crc32(b'someone') % 3
    assert tree._shards[shard][key] == 'x'
    assert isinstance(tree, ShardedTree) and len(tree._shards) == 3


def test_writers_of_new_combinations_in_other_shards_never_conflict(
        tmp_path):
    # Two connections start from the same state, each saves the first
    # track of a new combination, A commits, then B. 60 pairs in 256
    # shards would split no bucket; so the shards are made few (a store
    # of 4, two at a time get A's and B's) to make the trees split again
    # and again while the pairs are written: what must not conflict is
    # B's insert into another tree than A's split.
    db = open_db(str(tmp_path / 'tracking.fs'), pool_size=4)
    with db.transaction() as connection:
        storage = get_storage(connection)
        # The pair (task, run) gets its entry with its first track (every
        # writer's first track would make it at once; not what is tested).
        storage.saveUserTrack('t', 0, 'warm-up', {}, timeStamp=T0)
        store = storage._store
        entry = store._combinations[('t', 1, 'warm-up')]
        cid = entry[0]
        store._combinations = CombinationTree(4)
        store._combinations[('t', 1, 'warm-up')] = entry
        store._keys = tuple(type(store._keys[0])() for _ in range(4))
        store._keys[cid % 4][cid] = ('t', 1, 'warm-up')
    tm_a, tm_b = (transaction.TransactionManager(),
                  transaction.TransactionManager())
    storage_a = get_storage(db.open(tm_a), create=False)
    storage_b = get_storage(db.open(tm_b), create=False)

    def slots(user):
        return (zlib.crc32(user.encode('utf-8')) % 4,
                combination_id(('t', 1, user)) % 4)

    pairs, n = [], 0
    while len(pairs) < 300:
        a, b = 'a-%d' % n, 'b-%d' % n
        n += 1
        sa, sb = slots(a), slots(b)
        if sa[0] != sb[0] and sa[1] != sb[1]:
            pairs.append((a, b))
    for i, (a, b) in enumerate(pairs):
        tm_a.begin()
        tm_b.begin()
        storage_a.saveUserTrack('t', 0, a, {'i': i}, timeStamp=T0 + i)
        storage_b.saveUserTrack('t', 0, b, {'i': i}, timeStamp=T0 + i)
        tm_a.commit()
        try:
            tm_b.commit()
        except ConflictError as error:
            raise AssertionError('pair %d (%s, %s) conflicted: %s'
                                 % (i, a, b, error))
    tm_a.begin()
    shards = storage_a._store._combinations._shards
    # The trees did split: more than one bucket's worth in each shard.
    assert min(len(shard) for shard in shards) > 2 * 30
    assert len(storage_a) == 601
    assert sorted(storage_a.getUserNames('t')) == sorted(
        [u for pair in pairs for u in pair] + ['warm-up'])
    assert check_storage(storage_a) == []
    tm_a.abort()
    db.close()


@pytest.fixture
def rows64_path(tmp_path):
    path = str(tmp_path / 'rows64.fs')
    shutil.copy(os.path.join(HERE, 'rows64_layout.fs'), path)
    return path


def test_a_store_written_with_64_shards_answers_and_works_on(rows64_path):
    with open(os.path.join(HERE, 'rows64_layout.json')) as f:
        expected = json.load(f)
    db = open_db(rows64_path)
    with db.transaction() as connection:
        storage = get_storage(connection, create=False)
        store = storage._store
        assert len(store._combinations._shards) == 64
        assert len(store._keys) == 64
        assert answers(storage) == expected
        assert check_storage(storage) == []
        # New combinations (300 users in two tasks) go on into the 64
        # shards and slots, where reads find them.
        for i in range(300):
            storage.saveUserTrack('course%d' % (1 + i % 2), 0, 'new%d' % i,
                                  {'page': 'p%d' % (i % 5)},
                                  timeStamp=T0 + 2000 + i)
    with db.transaction() as connection:
        storage = get_storage(connection, create=False)
        assert len(storage._store._combinations._shards) == 64
        assert len(storage) == expected['len'] + 300
        assert 'new7' in storage.getUserNames('course2')
        # cid -> key: the keys written before are tuples, the new ones
        # one bytes value each; both are read.
        kinds = {type(value) for slot in storage._store._keys
                 for value in slot.values()}
        assert kinds == {tuple, bytes}
        last = storage.getLastUserTrack('course2', 0, 'new7')
        assert last.data == {'page': 'p2'}
        assert storage[last.__name__].userName == 'new7'
        assert check_storage(storage) == []
        # and a removal drops the combination from its old shard and slot
        storage.removeTrack(last)
        assert 'new7' not in storage.getUserNames('course2')
        assert check_storage(storage) == []
    db.close()


# The first tracks of a new run, saved by several writers at once.

def test_writers_of_a_new_runs_first_tracks_do_not_conflict(tmp_path):
    # The run is started (committed); then two connections each save a
    # first track of the run, of different users. Before, both made the
    # pair's entries in task -> runs and run -> tasks, and one failed.
    db = open_db(str(tmp_path / 'tracking.fs'), pool_size=4)
    with db.transaction() as connection:
        storage = get_storage(connection)
        for task in ('t', 'u'):
            storage.saveUserTrack(task, 0, 'warm-up', {}, timeStamp=T0)
    tm_a, tm_b = (transaction.TransactionManager(),
                  transaction.TransactionManager())
    storage_a = get_storage(db.open(tm_a), create=False)
    storage_b = get_storage(db.open(tm_b), create=False)
    for round in range(3):
        tm_a.begin()
        run = storage_a.startRun('t')
        tm_a.commit()
        tm_a.begin()
        tm_b.begin()
        storage_a.saveUserTrack('t', 0, 'a%d' % round, {}, timeStamp=T0 + 1)
        storage_b.saveUserTrack('t', 0, 'b%d' % round, {}, timeStamp=T0 + 1)
        tm_a.commit()
        tm_b.commit()
    tm_a.begin()
    assert storage_a.getTaskIds() == ['t', 'u']
    assert sorted(t.userName for t in storage_a.query(runId=run)) == [
        'a2', 'b2']
    assert storage_a.getUserNames('t') == [
        'a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'warm-up']
    assert check_storage(storage_a) == []
    tm_a.abort()
    db.close()


def test_a_task_with_a_run_and_no_tracks_is_not_listed(tmp_path):
    db = open_db(str(tmp_path / 'tracking.fs'))
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.startRun('empty')
        name = storage.saveUserTrack('once', 0, 'u', {}, timeStamp=T0)
        assert storage.getTaskIds() == ['once']
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.removeTrack(name)
        assert storage.getTaskIds() == []
        assert storage.query(taskId='once') == []
    with db.transaction() as connection:
        storage = get_storage(connection)
        assert check_storage(storage) == []
        storage.saveUserTrack('once', 0, 'v', {}, timeStamp=T0 + 1)
        assert storage.getTaskIds() == ['once']
    with db.transaction() as connection:
        assert check_storage(get_storage(connection)) == []
    db.close()


def test_member_sets_merge_what_each_writer_added_and_removed():
    s = MemberSet()
    for member in (1, 2, 3):
        s.add(member)
    old = s.__getstate__()
    saved = {'members': (1, 3, 4)}        # the other writer: -2, +4
    new = {'members': (1, 2, 3, 5)}       # this writer: +5
    assert s._p_resolveConflict(old, saved, new) == {'members': (1, 3, 4, 5)}
    new = {'members': (2, 3)}             # this writer: -1
    assert s._p_resolveConflict(old, saved, new) == {'members': (3, 4)}
    assert s._p_resolveConflict(old, old, old) == old
    s.remove(2)
    assert list(s) == [1, 3] and 3 in s and len(s) == 2
    with pytest.raises(KeyError):
        s.remove(2)

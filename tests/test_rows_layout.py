"""A database of the first row layout opens, answers and goes on working.

tests/fixtures/rows_layout.fs was written by main at 18d4a4e (see
tests/fixtures/make_rows_layout.py), before the combination trees
(``store.RowTree``) and the registry's shards (``index.CombinationShard``)
got buckets of 120: its trees are plain LOBTrees and OOBTrees, split into
buckets of their old sizes. They keep working as they are; combinations
and storages made now get the new classes; ``cybertools-tracking upgrade``
copies the old ones into the new classes.
"""

import json
import os
import shutil

import pytest
import transaction
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree

from cybertools_tracking import upgrade as upgrading
from cybertools_tracking.check import check_storage
from cybertools_tracking.cli import main
from cybertools_tracking.db import DEFAULT_NAME, get_storage, open_db
from cybertools_tracking.index import CombinationShard
from cybertools_tracking.store import RowTree
from tests.fixtures.make_old_layout import Visit, answers
from tests.fixtures.make_rows_layout import LONG, MANY, T0

HERE = os.path.join(os.path.dirname(__file__), 'fixtures')
with open(os.path.join(HERE, 'rows_layout.json')) as f:
    EXPECTED = json.load(f)


@pytest.fixture
def path(tmp_path):
    path = str(tmp_path / 'rows1.fs')
    shutil.copy(os.path.join(HERE, 'rows_layout.fs'), path)
    return path


def _open(path):
    db = open_db(path)
    conn = db.open()
    return db, conn, get_storage(conn, create=False)


def _tree(st, key):
    return st._store._combinations[key][1]


def _buckets(tree):
    sizes, bucket = [], tree._firstbucket
    while bucket is not None:
        sizes.append(len(bucket))
        bucket = bucket._next
    return sizes


def test_opens_and_answers_as_the_code_that_wrote_it(path):
    db, conn, st = _open(path)
    try:
        assert st.layout == 'rows'
        assert st.trackFactory is Visit
        long_tree = _tree(st, (LONG[0], 1, LONG[1]))
        assert type(long_tree) is LOBTree       # an old tree, as it was
        assert len(_buckets(long_tree)) > 2
        shard = st._store._combinations._tree(('task00', 1, MANY))
        assert type(shard) is OOBTree
        assert len(_buckets(shard)) > 1
        assert answers(st) == EXPECTED
        assert check_storage(st) == []
    finally:
        conn.close()
        db.close()


def test_old_trees_keep_working_and_new_ones_get_the_new_classes(path):
    db, conn, st = _open(path)
    key = (LONG[0], 1, LONG[1])
    before, many = len(st), len(st.query(userName=MANY))
    # More rows in an old, split tree: it stays an LOBTree of 60 a bucket.
    added = [st.saveUserTrack(LONG[0], 1, LONG[1], {'n': i},
                              timeStamp=T0 + 300 + i) for i in range(100)]
    # A new combination of a user in an old shard, and a new user.
    st.saveUserTrack('task99', 0, MANY, {'page': 'p1'}, timeStamp=T0 + 5000)
    st.saveUserTrack('quiz', 0, 'newcomer', {'x': 1}, timeStamp=T0 + 5001)
    for i in range(120):
        st.saveUserTrack('long', 0, 'newcomer', {'i': i},
                         timeStamp=T0 + 6000 + i)
    removed = st.getUserTracks(LONG[0], 1, LONG[1])[0].__name__
    st.removeTrack(removed)
    transaction.commit()
    conn.close()
    db.close()

    db, conn, st = _open(path)
    try:
        old = _tree(st, key)
        assert type(old) is LOBTree
        assert max(_buckets(old)) <= LOBTree.max_leaf_size
        assert type(_tree(st, ('task99', st.getRun('task99').id, MANY))) \
            is RowTree
        new = _tree(st, ('long', st.getRun('long').id, 'newcomer'))
        assert type(new) is RowTree
        assert _buckets(new) == [120]            # one bucket of 120 seconds
        assert type(st._store._combinations._tree(('x', 1, MANY))) \
            is OOBTree
        assert len(st) == before + 100 + 2 + 120 - 1
        names = [t.__name__ for t in st.getUserTracks(LONG[0], 1, LONG[1])]
        assert names[-100:] == added and removed not in names
        assert st.getLastUserTrack(LONG[0], 1, LONG[1]).__name__ \
            == added[-1]
        assert [t.data['i'] for t in st.query(userName='newcomer',
                                              taskId='long')] \
            == list(range(120))
        assert len(st.query(userName=MANY)) == many + 1
        assert check_storage(st) == []
    finally:
        conn.close()
        db.close()


def test_a_new_storage_has_the_new_classes(tmp_path):
    db = open_db(str(tmp_path / 'new.fs'))
    conn = db.open()
    st = get_storage(conn)
    try:
        assert all(type(shard) is CombinationShard
                   for shard in st._store._combinations._shards)
        for i in range(200):
            st.saveUserTrack('t', 0, 'u', {'i': i}, timeStamp=T0 + i)
        transaction.commit()
        tree = _tree(st, ('t', 1, 'u'))
        assert type(tree) is RowTree
        # 200 seconds appended: buckets split in halves past 120 (a
        # plain LOBTree makes six buckets of these).
        sizes = _buckets(tree)
        assert sum(sizes) == 200 and len(sizes) == 3
        assert max(sizes) <= RowTree.max_leaf_size
        assert check_storage(st) == []
    finally:
        conn.close()
        db.close()


def _classes(st):
    store = st._store
    return ({type(tree) for cid, tree in store._combinations.values()},
            {type(shard) for shard in store._combinations._shards})


def test_upgrade_renews_the_old_trees(path, capsys):
    db, conn, st = _open(path)
    old = upgrading.old_trees(st)
    combinations = len(list(st._store._combinations.keys()))
    # Every combination and every shard is old.
    assert old == combinations + 64
    conn.close()
    db.close()
    assert main(['--db', path, 'upgrade']) == 0
    assert 'renewed %d combination trees and registry shards' % old \
        in capsys.readouterr().out
    db, conn, st = _open(path)
    try:
        assert _classes(st) == ({RowTree}, {CombinationShard})
        assert upgrading.old_trees(st) == 0
        # 149 seconds: two buckets now (three of 60 before)
        assert len(_buckets(_tree(st, (LONG[0], 1, LONG[1])))) == 2
        assert answers(st) == EXPECTED
        assert check_storage(st) == []
    finally:
        conn.close()
        db.close()
    assert main(['--db', path, 'upgrade']) == 0
    assert 'nothing to do' in capsys.readouterr().out


def test_renewing_trees_resumes_after_a_stop(path):
    db = open_db(path)
    batches = []

    def stop_after_two(count):
        batches.append(count)
        if len(batches) == 2:
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            upgrading.renew_trees(db, DEFAULT_NAME, 10, stop_after_two)
        assert batches == [10, 10]
        conn = db.open()
        st = conn.root()[DEFAULT_NAME]
        left = upgrading.old_trees(st)
        assert 0 < left
        assert answers(st) == EXPECTED       # half renewed, same answers
        assert check_storage(st) == []
        conn.close()
        assert upgrading.renew_trees(db, DEFAULT_NAME, 10) == left
        conn = db.open()
        st = conn.root()[DEFAULT_NAME]
        assert upgrading.old_trees(st) == 0
        assert answers(st) == EXPECTED
        conn.close()
    finally:
        db.close()

"""The storage benchmark's measuring parts (benchmarks/_measure.py,
benchmarks/storage_bench.py): what they count is exact, and both engines
give the same answers. Speed is not tested here."""

import os
import sys

import pytest
import transaction
import ZODB
from persistent import Persistent
from ZODB.FileStorage import FileStorage

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'benchmarks')
sys.path.insert(0, BENCHMARKS)

import _measure  # noqa: E402
import storage_bench  # noqa: E402


class Item(Persistent):

    def __init__(self, value):
        self.value = value


def test_counter_counts_the_records_of_a_commit(tmp_path):
    path = str(tmp_path / 'data.fs')
    storage = FileStorage(path)
    db = ZODB.DB(storage)
    counter = _measure.RecordCounter(storage)
    connection = db.open()
    connection.root()['items'] = [Item(i) for i in range(5)]
    transaction.commit()
    # The root and five items, as the storage's own log has them.
    for record in storage.iterator():
        sizes = [len(r.data) for r in record]     # the last one stays
    assert len(sizes) == 6
    assert counter.counts()[1:] == (6, sum(sizes))
    connection.close()
    db.close()

    storage = FileStorage(path)
    db = ZODB.DB(storage)
    counter = _measure.RecordCounter(storage)
    connection = db.open()
    items = connection.root()['items']          # the items are ghosts
    loads = counter.loads
    assert [item.value for item in items] == [0, 1, 2, 3, 4]
    assert counter.loads - loads == 5
    assert counter.stores == 0
    connection.close()
    db.close()


def test_both_engines_give_the_same_answers(tmp_path):
    figures = {}
    for name, side_class in (('sqlite', storage_bench.SQLiteSide),
                             ('zodb', storage_bench.ZODBSide)):
        directory = tmp_path / name
        directory.mkdir()
        side = side_class(str(directory))
        figures[name] = storage_bench.measure(side, 2000, 'uniform', users=20,
                                              tasks=4, samples=2)
        side.close()
    sqlite, zodb = figures['sqlite'], figures['zodb']
    assert sqlite['answers'] == zodb['answers']
    assert sqlite['tracks_per_user'] == zodb['tracks_per_user']
    assert 50 < zodb['tracks_per_user'] < 150       # ~2,000 / 20 users
    # The counts that only ZODB has: at least one record per update and
    # per cold call, and records stored for new tracks (rows share records:
    # fewer than one per track, more than none).
    assert 'stores_per_track' not in sqlite
    assert 0 < zodb['stores_per_track'] < 1
    assert zodb['update_stores'] >= 1
    assert all(zodb['cold_loads'][key]['mean'] >= 1
               for key in ('last_first', 'last_upper', 'user_first',
                           'user_upper'))


def test_library_at_a_ref(tmp_path):
    repo = os.path.dirname(BENCHMARKS)
    if not os.path.exists(os.path.join(repo, '.git')):
        pytest.skip('not a git checkout')
    with _measure.library_at(repo, 'HEAD') as src:
        assert os.path.exists(os.path.join(src, 'cybertools_tracking',
                                           'storage.py'))
    assert not os.path.exists(src)
    with pytest.raises(ValueError, match='no-such-ref'):
        with _measure.library_at(repo, 'no-such-ref'):
            pass

"""A group's newest records in one record (``RecentOutcomes``): the same
answers as the range of ``by_group``, histories made before them still
work, and writers of one group merge."""

import random

import pytest
import transaction
import ZODB
from ZODB.FileStorage import FileStorage

from cybertools_tracking.goals.history import (
    KINDS, RECENT, GoalHistory, RecentOutcomes)


def old_query(history, group_id, **kw):
    """What the history answers from ``by_group`` alone (as before the
    pages): a copy of it whose shards keep no pages."""
    for shard in history.shards:
        shard.__dict__['_saved_recent'] = shard.recent
        shard.recent = None
    try:
        return history.query(group_id, **kw)
    finally:
        for shard in history.shards:
            shard.recent = shard.__dict__.pop('_saved_recent')


def fill(history, rnd, count, groups=('ann', 'bob', 'cy')):
    for n in range(count):
        history.record(rnd.choice(groups), rnd.choice(['t1', 't2']),
                       rnd.choice(KINDS[:5]), stage=n % 4, progress=n,
                       time=1_000 + rnd.randrange(count), track_id=str(n))


QUERIES = [
    {}, {'limit': 100}, {'limit': 7}, {'limit': 0}, {'limit': RECENT + 20},
    {'kind': 'completed', 'limit': 100}, {'tracker': 't2', 'limit': 30},
    {'time_from': 1_100, 'limit': 100}, {'time_to': 1_050, 'limit': 100},
    {'time_from': 1_020, 'time_to': 1_200},
    {'kind': ['reset', 'limited'], 'tracker': ['t1'], 'time_to': 1_300},
]


@pytest.mark.parametrize('seed', [1, 2, 3])
def test_pages_answer_what_by_group_answers(seed):
    rnd = random.Random(seed)
    history = GoalHistory(shards=2)
    fill(history, rnd, 600)             # ~200 a group: more than a page
    fill(history, rnd, 40, groups=('dora',))   # fewer than a page
    for group in ('ann', 'bob', 'cy', 'dora', 'nobody'):
        for query in QUERIES:
            assert history.query(group, **query) == \
                old_query(history, group, **query), (group, query)
    page = history.shards[0].page('ann') or history.shards[1].page('ann')
    assert len(page.entries) == RECENT and page.count > RECENT
    # Pruned and forgotten records leave the pages too.
    history.prune(1_000 + 300)
    history.forget('bob')
    for group in ('ann', 'bob', 'cy', 'dora'):
        for query in QUERIES:
            assert history.query(group, **query) == \
                old_query(history, group, **query), (group, query)
    assert history.query('bob') == []
    assert all(shard.page('bob') is None for shard in history.shards)


def test_a_history_made_before_pages_still_works():
    history = GoalHistory(shards=2)
    for shard in history.shards:
        del shard.recent    # as a shard pickled before pages loads
    assert all(shard.recent is None for shard in history.shards)
    fill(history, random.Random(4), 400)
    records = history.query('ann', limit=100)
    assert len(records) == 100 and records == old_query(history, 'ann',
                                                        limit=100)
    assert history.prune(1_000 + 100) > 0 and history.forget('bob') > 0


def test_writers_of_one_group_merge_their_pages(tmp_path):
    db = ZODB.DB(FileStorage(str(tmp_path / 'h.fs')))
    tm1, tm2 = transaction.TransactionManager(), \
        transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    history = c1.root()['history'] = GoalHistory(shards=1)
    for n in range(RECENT - 2):
        history.record('ann', 't', 'stage_completed', stage=n, time=n)
    tm1.commit()
    tm2.begin()
    mine, theirs = c1.root()['history'], c2.root()['history']
    for n in range(3):                  # both push old ones out
        mine.record('ann', 't', 'completed', stage=1, time=1_000 + n)
        theirs.record('ann', 't', 'reset', stage=2, time=1_000 + n)
    tm1.commit()
    tm2.commit()                        # resolved, not a ConflictError
    fresh = db.open(transaction.TransactionManager()).root()['history']
    page = fresh.shards[0].page('ann')
    assert page.count == RECENT - 2 + 6
    assert len(page.entries) == RECENT
    assert fresh.query('ann', limit=RECENT) == old_query(
        fresh, 'ann', limit=RECENT)
    assert [r.kind for r in fresh.query('ann', limit=6)].count('reset') == 3
    db.close()


def test_a_prune_and_a_new_record_merge():
    page = RecentOutcomes()
    page.add((-1.0, -1, 0), (0, 't', 1, 1, None, None, None))
    page.add((-2.0, -2, 0), (0, 't', 2, 2, None, None, None))
    old = page.__getstate__()
    pruned = dict(old, entries=old['entries'][:1], count=1)
    added = dict(old, entries=((( -3.0, -3, 0), (1, 't', 3, 3, None, None,
                                                 None)),) + old['entries'],
                 count=3)
    merged = page._p_resolveConflict(old, pruned, added)
    assert [e[0] for e in merged['entries']] == [(-3.0, -3, 0),
                                                  (-2.0, -2, 0)]
    assert merged['count'] == 2

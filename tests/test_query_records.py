"""``queryRecords``: the tracks of a query as records, read from the rows,
and backfill reading them: the same values, the same goal results, as
reading the tracks."""

import random

import pytest
import transaction
from persistent.mapping import PersistentMapping

from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.db import tracking_transaction
from cybertools_tracking.goals import (
    AccumulationTracker, CountLimiter, CountTracker, KeyValueEQ, KeyValueGE,
    KeyValueGT, KeyValueInList)
from cybertools_tracking.goals.backfill import replay
from cybertools_tracking import query
from cybertools_tracking.query import TrackRecord, record_of
from cybertools_tracking.readonly import ReadOnlyDict
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.track import Track
from cybertools_tracking.tracked_goals import (
    _items, backfill_criteria, track_item)
from cybertools_tracking.validation import ValidationError

T0 = 1_700_000_000
TASKS = ['quiz-1', 'quiz-2', 'read-1', 'read-2']
USERS = ['ann', 'bob', 'cy', 'dora']


class Visit(Track):
    index_attributes = Track.index_attributes + ('device',)
    typeName = 'Visit'
    device = None


def random_store(tracks, rnd, count=400):
    """Tracks in random tasks, runs, users and times (not in id order),
    some changed afterwards in every way a row can be."""
    saved = []
    for n in range(count):
        data = {'score': rnd.randint(0, 9)}
        if rnd.random() < 0.2:
            data['tags'] = [rnd.choice('abc'), {'n': n}]
        if rnd.random() < 0.02:
            tracks.startRun(rnd.choice(TASKS))    # runs of several tasks
        track_id = tracks.saveUserTrack(
            rnd.choice(TASKS), 0, rnd.choice(USERS), data,
            timeStamp=T0 + rnd.randrange(0, 5000))
        saved.append(track_id)
    for track_id in rnd.sample(saved, 40):
        track = tracks[track_id]
        what = rnd.randrange(6)
        if what == 0:
            tracks.updateTrack(track, {'extra': 1})
        elif what == 1:
            tracks.removeTrack(track)
        elif what == 2:
            track.device = rnd.choice(['tv', 'phone'])     # an extra
        elif what == 3:
            track.timeStamp = T0 + 9999   # metadata behind the index's back
        elif what == 4:
            track.userName = 'someone-else'
        else:
            track.owner = PersistentMapping()   # a group kept unpacked
    return saved


CRITERIA = [
    {'userName': 'ann'},
    {'userName': ['bob', 'cy']},
    {'userName': 'some*'},
    {'taskId': 'quiz-1'},
    {'taskId': 'quiz*', 'userName': 'dora'},
    {'taskId': '*'},
    {'runId': [2, 5]},
    {'taskId': ['read-1', 'read-2'], 'timeFrom': T0 + 1000,
     'timeTo': T0 + 3000},
    {'userName': 'ann', 'timeStamp': [T0 + 9999, T0 + 10]},
    {'userName': 'ann', 'limit': 7},
    {'userName': 'bob', 'newestFirst': True, 'limit': 20},
    {'timeFrom': T0 + 4000},
    {'device': 'tv'},
    {'userName': 'nobody'},
    {},
]


@pytest.mark.parametrize('seed', [1, 2, 3])
@pytest.mark.parametrize('keep', [None, 0, 5])
def test_records_say_what_the_tracks_say(seed, keep, monkeypatch):
    # keep: how many row groups a query keeps decoded (query.KEEP_DECODED;
    # None: as it is, more than these tests have). With 5, a query mixes
    # kept groups and groups decoded twice.
    if keep is not None:
        monkeypatch.setattr(query, 'KEEP_DECODED', keep)
    db = open_db('memory://')
    try:
        rnd = random.Random(seed)
        conn = db.open()
        root = conn.root()
        storage = root['visits'] = TrackingStorage(Visit)
        random_store(storage, rnd)
        transaction.commit()
        for criteria in CRITERIA:
            tracks = storage.query(**criteria)
            records = list(storage.queryRecords(**criteria))
            assert records == [record_of(t) for t in tracks], criteria
            for track, record in zip(tracks, records):
                assert type(record) is TrackRecord
                assert record.trackId == track.__name__
                assert type(record.data) is type(track.data) \
                    is ReadOnlyDict
                assert list(_items([record])) == [
                    (track_item(track), track.timeStamp, track.__name__)]
        # Some criteria found tracks of every kind of row.
        assert any(storage.queryRecords(userName='someone-else'))
        assert list(storage.queryRecords(device='tv'))
        transaction.abort()
        conn.close()
    finally:
        db.close()


def test_records_refuse_what_query_refuses():
    storage = TrackingStorage()
    for criteria in ({'userName': 3}, {'timeFrom': float('nan')},
                     {'limit': -1}):
        with pytest.raises(ValidationError) as query_error:
            storage.query(**criteria)
        with pytest.raises(ValidationError) as records_error:
            storage.queryRecords(**criteria)
        assert str(records_error.value) == str(query_error.value)


def test_a_record_is_a_snapshot_that_cannot_be_changed():
    storage = TrackingStorage()
    storage.saveUserTrack('quiz-1', 0, 'ann', {'score': 3}, timeStamp=T0)
    [record] = storage.queryRecords(userName='ann')
    assert record == ('0000001', 'quiz-1', 1, 'ann', T0, {'score': 3})
    with pytest.raises(AttributeError):
        record.userName = 'bob'
    with pytest.raises(TypeError):
        record.data['score'] = 4
    storage.updateTrack(storage['0000001'], {'score': 5})
    assert record.data == {'score': 3}
    assert next(storage.queryRecords(userName='ann')).data == {'score': 5}


def trackers():
    return [
        CountTracker('quizzes', [KeyValueInList('taskId',
                                                ['quiz-1', 'quiz-2'])],
                     [3, 10, 25]),
        CountTracker('late', [KeyValueGE('timeStamp', T0 + 2500)], 15),
        AccumulationTracker('points', [KeyValueGT('data.score', 4)],
                            [20, 80], key='data.score', loop_forever=True),
        CountTracker('limited', [], 30, limiters=[CountLimiter(12)]),
        CountTracker('read-2, early runs', [
            KeyValueEQ('taskId', 'read-2'),
            KeyValueInList('runId', [1, 2, 3, 4, 5])], 2),
    ]


def outcome(storage, group):
    found = storage.goals.get_trackers(group, include_completed=True)
    return ([(t.name, t.progress, t.current_stage, t.laps, t.state)
             for t in found], storage.goals.history(group))


@pytest.mark.parametrize('seed', [4, 5, 6])
def test_backfill_from_records_is_backfill_from_tracks(seed):
    # The same random store; each user's goals backfilled once as backfill
    # does now (records), once as it did before (the tracks of ``query``,
    # each made into an item by ``track_item``), in separate transactions.
    db = open_db('memory://')
    try:
        with tracking_transaction(db) as tracks:
            random_store(tracks, random.Random(seed))
        results = {}
        for way in ('records', 'tracks'):
            tm = transaction.TransactionManager()
            conn = db.open(tm)
            tracks = get_storage(conn)
            goals = tracks.goals
            for user in USERS + ['someone-else']:
                if way == 'records':
                    goals.add_trackers(user, trackers(), now_ts=T0,
                                       backfill=True)
                    continue
                added = trackers()
                goals.add_trackers(user, added, now_ts=T0)
                for tracker in added:
                    criteria = backfill_criteria(tracker.conditions,
                                                 userName=user)
                    items = ((track_item(t), t.timeStamp, t.__name__)
                             for t in tracks.query(**criteria))
                    replay(goals.registry, tracker, items,
                           goals._dispatch)
            results[way] = {user: outcome(tracks, user)
                            for user in USERS + ['someone-else']}
            tm.abort()
            conn.close()
        assert results['records'] == results['tracks']
        assert any(history for states, history
                   in results['records'].values())
    finally:
        db.close()


def test_records_of_many_tracks_in_one_second_interleaved():
    # Row groups of several rows, their numbers interleaved with other
    # combinations' (read group by group, returned in id order).
    storage = TrackingStorage()
    for n in range(60):
        storage.saveUserTrack('quiz-%d' % (n % 3), 0, 'ann', {'n': n},
                              timeStamp=T0 + n // 20)
    for criteria in ({'userName': 'ann'}, {'userName': 'ann', 'limit': 25},
                     {'taskId': ['quiz-0', 'quiz-2'], 'timeTo': T0 + 1}):
        records = list(storage.queryRecords(**criteria))
        assert records == [record_of(t) for t in storage.query(**criteria)]
    assert [r.data['n'] for r in storage.queryRecords(userName='ann')] == \
        list(range(60))

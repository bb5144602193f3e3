"""Backfill from stored tracks, and redefining a goal with a version."""

import random

import pytest
import transaction
from zope.interface.verify import verifyObject

from cybertools_tracking.db import open_db, tracking_transaction
from cybertools_tracking.goals import (
    AccumulationTracker, All, Any, CountLimiter, CountTracker, KeyValueEQ,
    KeyValueGE, KeyValueGT, KeyValueInList, KeyValueLT, Not,
    TrackerLookupError, TrackingManager, TrackerStateError)
from cybertools_tracking.goals.backfill import Narrowing, narrowing
from cybertools_tracking.goals.interfaces import (
    IRedefiningManager, IVersionedTracker)
from cybertools_tracking.interfaces import IStorageGoals
from cybertools_tracking.tracked_goals import backfill_criteria


@pytest.fixture
def db():
    database = open_db('memory://')
    yield database
    transaction.abort()
    database.close()


TASKS = ['quiz-1', 'quiz-2', 'read-1']
USERS = ['ann', 'bob', 'cy']


def fill(tracks, count=300, seed=1):
    rnd = random.Random(seed)
    for n in range(count):
        tracks.saveUserTrack(rnd.choice(TASKS), 0, rnd.choice(USERS),
                             {'score': rnd.randint(0, 9)},
                             timeStamp=1_000 + n)


def goals_of(seed):
    return [
        CountTracker('quizzes', [KeyValueInList('taskId',
                                                ['quiz-1', 'quiz-2'])],
                     [5, 20, 40]),
        CountTracker('late-reads', [KeyValueEQ('taskId', 'read-1'),
                                    KeyValueGE('timeStamp', 1_150)], 10),
        AccumulationTracker('points', [KeyValueGT('data.score', 4)],
                            [50, 200], key='data.score',
                            loop_forever=True),
        CountTracker('limited', [], 30, limiters=[CountLimiter(12)]),
    ]


def state(trackers):
    return [(t.name, t.progress, t.current_stage, t.laps, t.state)
            for t in trackers]


def test_narrowing_reads_what_the_conditions_promise():
    found = narrowing([
        KeyValueEQ('taskId', 'a'),
        All(KeyValueInList('taskId', ['a', 'b']), KeyValueGE('t', 5)),
        KeyValueLT('t', 9), KeyValueGT('t', 2),
        Any(KeyValueEQ('runId', 1)), Not(KeyValueEQ('userName', 'x')),
        KeyValueEQ('data.x', 1), KeyValueInList('odd', [[1]]),
        KeyValueGE('s', 'text')])
    assert found == {'taskId': Narrowing(frozenset({'a'})),
                     't': Narrowing(None, 5, 9)}
    assert narrowing([KeyValueEQ('k', 1), KeyValueEQ('k', 2)])['k'].empty()
    assert narrowing([KeyValueGE('k', 3), KeyValueLT('k', 1)])['k'].empty()


def test_criteria_are_the_narrowest_the_index_can_use():
    criteria = backfill_criteria
    assert criteria([], userName='ann') == {'userName': 'ann'}
    assert criteria([KeyValueInList('taskId', ['b', 'a', 3]),
                     KeyValueGE('timeStamp', 10),
                     KeyValueLT('timeStamp', 20.5),
                     KeyValueEQ('runId', 2)], userName='ann') == {
        'userName': 'ann', 'taskId': ['a', 'b'], 'runId': 2,
        'timeFrom': 10, 'timeTo': 20.5}
    # A condition that no track of the group can meet: nothing to read.
    assert criteria([KeyValueEQ('userName', 'bob')], userName='ann') is None
    assert criteria([KeyValueEQ('taskId', 7)], userName='ann') is None
    assert criteria([KeyValueGE('timeStamp', 5), KeyValueLT('timeStamp', 1)],
                    taskId='t') is None
    assert criteria([KeyValueEQ('userName', 'bob')], taskId='t') == {
        'taskId': 't', 'userName': 'bob'}


def test_backfill_gives_what_live_evaluation_gives(db):
    # One database counts the tracks as they come; the other is given the
    # same goals afterwards, with backfill. Same progress, same history.
    live_db = open_db('memory://')
    with tracking_transaction(live_db) as tracks:
        for user in USERS:
            tracks.goals.add_trackers(user, goals_of(1), now_ts=0)
        fill(tracks)
    with tracking_transaction(db) as tracks:
        fill(tracks)
    with tracking_transaction(db) as tracks:
        evaluated = sum(tracks.goals.add_trackers(user, goals_of(1),
                                                  now_ts=0, backfill=True)
                        for user in USERS)
        assert 0 < evaluated < 4 * 300
    with tracking_transaction(db) as tracks, \
            tracking_transaction(live_db) as live:
        for user in USERS:
            got = tracks.goals.get_trackers(user, include_completed=True)
            want = live.goals.get_trackers(user, include_completed=True)
            assert state(got) == state(want)
            assert tracks.goals.history(user) == live.goals.history(user)
        assert len(tracks.goals.history(kind='completed')) >= 1
    live_db.close()


def test_template_backfill_gives_each_user_a_copy_that_counts(db):
    with tracking_transaction(db) as tracks:
        fill(tracks)
        template = CountTracker('attempts', [KeyValueGE('data.score', 5)],
                                1000)
        tracks.goals.add_task_goal('quiz-1', template, backfill=True)
        for user in USERS:
            expected = sum(
                1 for t in tracks.query(taskId='quiz-1', userName=user)
                if t.data['score'] >= 5)
            [mine] = tracks.goals.user_task_goals('quiz-1', user)
            assert mine.progress == expected and mine is not template
        assert template.progress == 0
        # The next track counts once, as usual.
        tracks.saveUserTrack('quiz-1', 0, 'ann', {'score': 9})
        [mine] = tracks.goals.user_task_goals('quiz-1', 'ann')
        assert mine.progress == expected_for(tracks, 'ann')


def expected_for(tracks, user):
    return sum(1 for t in tracks.query(taskId='quiz-1', userName=user)
               if t.data['score'] >= 5)


def test_backfill_is_part_of_the_transaction_and_checks_first(db):
    with tracking_transaction(db) as tracks:
        fill(tracks, 50)
    with tracking_transaction(db) as tracks:
        tracks.goals.add_tracker('ann', CountTracker('c', [], 10))
    with pytest.raises(Exception, match="already has a tracker named 'c'"):
        with tracking_transaction(db) as tracks:
            tracks.goals.add_trackers('ann', [CountTracker('d', [], 5),
                                              CountTracker('c', [], 5)],
                                      backfill=True)
    with pytest.raises(RuntimeError), tracking_transaction(db) as tracks:
        assert [t.name for t in tracks.goals.get_trackers('ann')] == ['c']
        tracks.goals.add_tracker('ann', CountTracker('d', [], 5),
                                 backfill=True)
        assert tracks.goals.history('ann', tracker='d')
        raise RuntimeError('abort')
    with tracking_transaction(db) as tracks:
        assert tracks.goals.get_trackers(
            'ann', name='d', include_completed=True) == []
        assert tracks.goals.history('ann') == []


def test_redefine_keeps_or_restarts_or_recomputes(db):
    assert verifyObject(IVersionedTracker, CountTracker('x', [], 1))
    with tracking_transaction(db) as tracks:
        assert verifyObject(IRedefiningManager, tracks.goals)
        assert verifyObject(IStorageGoals, tracks.goals)
        tracks.goals.add_tracker('ann', CountTracker(
            'quiz', [KeyValueEQ('taskId', 'quiz-1')], [2, 50]))
        fill(tracks, 100)
        [old] = tracks.goals.get_trackers('ann')
        count = old.progress
        assert old.version == 1 and old.current_stage == 2
        kept = CountTracker('quiz', [KeyValueEQ('taskId', 'quiz-1')],
                            [3, 60, 100])
        assert tracks.goals.redefine('ann', kept) is kept
        assert (kept.version, kept.progress, kept.current_stage,
                kept.target) == (2, count, 2, 60)
        assert old.removed
        fresh = CountTracker('quiz', [KeyValueEQ('taskId', 'quiz-2')], 99)
        tracks.goals.redefine('ann', fresh, policy='restart')
        assert (fresh.version, fresh.progress) == (3, 0)
        again = CountTracker('quiz', [KeyValueEQ('taskId', 'quiz-2')], 99)
        tracks.goals.redefine('ann', again, policy='recompute')
        assert again.version == 4
        assert again.progress == len(tracks.query(taskId='quiz-2',
                                                  userName='ann'))
        with pytest.raises(ValueError, match="'restart', 'recompute', got"):
            tracks.goals.redefine('ann', CountTracker('quiz', [], 1),
                                  policy='merge')
        with pytest.raises(TrackerLookupError):
            tracks.goals.redefine('ann', CountTracker('nope', [], 1))
        with pytest.raises(TrackerStateError):
            tracks.goals.redefine('ann', again)   # not a new tracker
        with pytest.raises(ValueError, match='one kind of number'):
            from decimal import Decimal
            tracks.goals.redefine('ann', CountTracker(
                'quiz', [], [Decimal('1.5'), 100.5]))
        assert tracks.goals.get_trackers('ann') == [again]


def test_a_kept_completion_and_the_plain_manager():
    manager = TrackingManager()
    manager.add_tracker('g', CountTracker('t', [], 2))
    manager.track('g', {})
    manager.track('g', {})
    same = CountTracker('t', [], 2)
    manager.redefine('g', same)
    assert same.completed and same.version == 2
    with pytest.raises(ValueError, match="'keep', 'restart'"):
        manager.redefine('g', CountTracker('t', [], 2), policy='recompute')
    manager.close()


def test_backfill_moves_the_leaderboard(db):
    with tracking_transaction(db) as tracks:
        fill(tracks, 60)
        # The board starts with the first user (a board needs a tracker
        # of its name); the others' backfills move it.
        for n, user in enumerate(USERS):
            tracks.goals.add_tracker(user, CountTracker('all', [], 10 ** 6),
                                     backfill=True)
            if n == 0:
                board = tracks.goals.add_leaderboard('all')
        counts = {user: len(tracks.query(userName=user)) for user in USERS}
        assert {user: board.score(user) for user in USERS} == counts
        best = max(USERS, key=lambda user: (counts[user], -USERS.index(user)))
        assert board.top(1)[0][1:] == (best, counts[best])

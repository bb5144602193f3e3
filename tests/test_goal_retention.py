"""Retention of goal data: history records older than a date go (progress
stays), a forgotten group leaves no record and no leaderboard entry in any
period, and the CLI does both (``prune --history --events``,
``forget-user``)."""

import pytest
from zope.interface.verify import verifyObject

from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import CountTracker, TrackingManager
from cybertools_tracking.goals.history import GoalHistory
from cybertools_tracking.goals.interfaces import IGoalHistory
from cybertools_tracking.goals.interfaces import IOutcomeManager
from cybertools_tracking.goals.leaderboard import FixedPeriod
from cybertools_tracking.tracked_goals import task_group

from tests.test_cli_import import cli

DAY = 86400
T0 = 1_700_000_000


def test_history_prune_removes_older_records_only_in_batches():
    history = GoalHistory(shards=4)
    verifyObject(IGoalHistory, history)
    for n in range(10):
        history.record('g%d' % (n % 3), 't', 'completed', time=T0 + n)
    with pytest.raises(TypeError):
        history.prune('soon')
    with pytest.raises(ValueError):
        history.prune(T0, limit=-1)
    assert len(history.query()) == 10            # nothing went
    assert history.prune(T0 + 5, limit=2) == 2
    assert history.prune(T0 + 5) == 3            # the record at T0+5 stays
    assert history.prune(T0 + 5) == 0
    assert [o.time for o in history.query()] == [T0 + n
                                                 for n in range(9, 4, -1)]
    # Both indexes lost them: per group and by time agree.
    per_group = sorted(o.time for g in ('g0', 'g1', 'g2')
                       for o in history.query(group_id=g))
    assert per_group == [T0 + n for n in range(5, 10)]
    assert history.forget('g1') == 1            # T0+7 (T0+1, T0+4 went)
    assert [o.time for o in history.query()] == [T0 + 9, T0 + 8, T0 + 6,
                                                 T0 + 5]
    assert history.query(group_id='g1') == []
    assert history.forget('g1') == 0


def test_forget_group_erases_trackers_records_and_every_period_entry():
    manager = TrackingManager()
    verifyObject(IOutcomeManager, manager)
    for group in ('a', 'b'):
        manager.add_tracker(group, CountTracker('n', [], [1, 100]))
        manager.add_tracker(group, CountTracker('n2', [], 100))
    board = manager.add_leaderboard('n', period=FixedPeriod(10))
    flat = manager.add_leaderboard('n2')
    manager.track('a', {}, now_ts=1)     # period 0
    manager.track('a', {}, now_ts=12)    # period 1
    manager.track('b', {}, now_ts=13)
    assert manager.history(group_id='a')
    assert board.score('a', at=5) == 1 and board.score('a', at=15) == 2
    # Boards: periods 0 and 1 and the one of now (where adding the
    # tracker put it, at 0), and the flat board.
    assert manager.forget_group('a') == (2, 1, 4)
    assert manager.history(group_id='a') == []
    assert board.score('a', at=5) is None and board.score('a', at=15) is None
    assert flat.score('a') is None and flat.score('b') == 1
    assert board.top(at=15) == [(1, 'b', 1)]
    assert manager.get_trackers('a', include_completed=True) == []
    assert manager.history(group_id='b')             # b untouched
    assert manager.forget_group('a') == (0, 0, 0)
    with pytest.raises(TypeError):
        manager.forget_group(3)
    manager.close()


def test_prune_history_of_a_manager_keeps_progress():
    manager = TrackingManager()
    assert manager.prune_history(T0) == 0           # no history yet
    with pytest.raises(TypeError):
        manager.prune_history(None)
    manager.add_tracker('a', CountTracker('n', [], [1, 2, 100]))
    for day in range(3):
        manager.track('a', {}, now_ts=T0 + day * DAY)
    assert len(manager.history()) == 2
    (tracker,) = manager.get_trackers('a')
    state = (tracker.progress, tracker.current_stage, tracker.completed)
    assert state[0] == 3
    assert manager.prune_history(T0 + DAY) == 1
    assert [o.time for o in manager.history()] == [T0 + DAY]
    (tracker,) = manager.get_trackers('a')
    assert (tracker.progress, tracker.current_stage,
            tracker.completed) == state
    manager.close()


def _fill(path):
    """Two users of a task whose template completes a stage with each of
    the first two tracks (day 0 and day 10), a board of it; a third user
    outside."""
    db = open_db(path)
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.goals.add_task_goal('t', CountTracker(
            name='visits', conditions=[], target=[1, 2, 100]))
        storage.goals.add_leaderboard('visits')
        storage.addTrackObserver(storage.events)
    for day in (0, 10, 11):
        for user in ('ann', 'bob'):
            with db.transaction() as connection:
                get_storage(connection).saveUserTrack(
                    't', 0, user, {}, timeStamp=T0 + day * DAY)
    db.close()


def _look(path):
    db = open_db(path)
    try:
        with db.transaction() as connection:
            storage = get_storage(connection, create=False)
            goals = storage.goals
            return {
                'history': sorted((o.group_id, o.time)
                                  for o in goals.history()),
                'progress': {user: [(t.progress, t.current_stage)
                                    for t in goals.user_task_goals(
                                        't', user, include_completed=True)]
                             for user in ('ann', 'bob')},
                'board': goals.leaderboard('visits').top(10),
                'events': len(storage.events),
                'event_users': sorted(
                    e.data.get('group_id') or e.data['userName']
                    for e in storage.events.since(0, limit=1000)),
                'tracks': len(storage)}
    finally:
        db.close()


def test_cli_prune_history_and_events(tmp_path):
    path = str(tmp_path / 'h.fs')
    _fill(path)
    before = _look(path)
    assert len(before['history']) == 4 and before['events'] >= 4
    cut = str(T0 + 5 * DAY)
    code, out, err = cli('--db', path, 'prune', '--before', cut,
                         '--history', '--events', '--dry-run',
                         '--batch', '1')   # counts all, not one batch
    assert code == 0, err
    assert out.startswith('would remove 2 of 6 tracks (tracks before %s), '
                          '2 goal history records, 0 outbox events;' % cut)
    assert _look(path) == before
    code, out, err = cli('--db', path, 'prune', '--before', cut,
                         '--history', '--events', '--batch', '1')
    assert (code, err) == (0, '')
    assert ', 2 goal history records, 0 outbox events;' in out
    after = _look(path)
    assert after['history'] == [h for h in before['history']
                                if h[1] >= T0 + 5 * DAY]
    assert (after['progress'], after['board']) == (before['progress'],
                                                   before['board'])
    # Events go by the time they were committed: all of them were
    # committed before a cut-off in the future.
    code, out, err = cli('--db', path, 'prune', '--before', '2999-01-01',
                         '--events')
    assert code == 0 and ', %d outbox events;' % before['events'] in out
    assert _look(path)['events'] == 0
    code, out, err = cli('--db', path, 'prune', '--before', cut,
                         '--history', '--task', 't')
    assert code == 2 and '--task' in err


def test_cli_forget_user_erases_history_and_board_entries(tmp_path):
    path = str(tmp_path / 'f.fs')
    _fill(path)
    before = _look(path)
    code, out, err = cli('--db', path, 'forget-user', 'ann', '--dry-run')
    ann = task_group('t', 'ann')
    # The outbox names ann in her tracks' and her task group's events.
    gone = before['event_users'].count('ann') + before['event_users'].count(
        ann)
    assert before['event_users'].count('ann') == 3 and gone > 3
    assert out == ("would remove 3 tracks of 'ann', 1 goal group with 1 "
                   "tracker (progress), 2 history records, 1 "
                   "leaderboard entry and %d outbox events\n" % gone)
    assert _look(path) == before
    code, out, err = cli('--db', path, 'forget-user', 'ann', '--batch', '2')
    assert (code, err) == (0, '')
    assert ('removed 3 tracks of \'ann\' and 1 goal group with 1 tracker '
            '(progress), 2 history records, 1 leaderboard entry and %d '
            'outbox events' % gone in out)
    after = _look(path)
    assert after['event_users'] == [u for u in before['event_users']
                                    if u not in ('ann', ann)]
    assert after['events'] == before['events'] - gone
    assert after['history'] == [h for h in before['history'] if h[0] != ann]
    assert after['board'] == [(1, task_group('t', 'bob'), 3)]
    assert after['progress'] == {'ann': [], 'bob': before['progress']['bob']}

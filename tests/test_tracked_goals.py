"""Goals bound to a TrackingStorage: evaluated with the track, in its
transaction."""

import pytest
import transaction
import zope.event
from ZODB.POSException import ConflictError

from cybertools_tracking import TrackingStorage
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import (EVENT_ALL, AccumulationTracker,
                                       CountLimiter, CountTracker, KeyValueEQ)
from cybertools_tracking.tracked_goals import task_group

T0 = 1_700_000_000


def count(name, target=100, **kw):
    return CountTracker(name=name, conditions=kw.pop('conditions', []),
                        target=target, **kw)


def test_no_goals_costs_nothing():
    st = TrackingStorage()
    st.saveUserTrack('a', 0, 'u', {})
    assert st.trackObservers() == ()
    assert st.goals.get_trackers('u') == [] and st.goals.registry is None
    assert st.trackObservers() == ()          # reading wrote nothing
    assert st.lastGoalOutcome == ((), (), ())


def test_user_group_sees_tracks_of_every_task():
    st = TrackingStorage()
    st.goals.add_tracker('u', count('all'))
    st.goals.add_tracker('u', count('task a', conditions=[
        KeyValueEQ('taskId', 'a')]))
    for task in 'aab':
        st.saveUserTrack(task, 0, 'u', {}, timeStamp=T0)
    st.saveUserTrack('a', 0, 'other', {}, timeStamp=T0)
    progress = {t.name: t.progress for t in st.goals.get_trackers('u')}
    assert progress == {'all': 3, 'task a': 2}


def test_conditions_see_metadata_and_data():
    st = TrackingStorage()
    st.goals.add_tracker('u', AccumulationTracker(
        name='points', key='data.points', target=1000, conditions=[
            KeyValueEQ('runId', 1), KeyValueEQ('data.kind', 'quiz')]))
    st.saveUserTrack('a', 0, 'u', {'kind': 'quiz', 'points': 5})
    st.saveUserTrack('a', 0, 'u', {'kind': 'page', 'points': 7})
    st.startRun('a')
    st.saveUserTrack('a', 0, 'u', {'kind': 'quiz', 'points': 11})
    assert st.goals.get_trackers('u')[0].progress == 5


def test_task_templates_are_copied_per_user_and_added_later_too():
    st = TrackingStorage()
    st.goals.add_task_goal('a', count('first'))
    st.saveUserTrack('a', 0, 'u1', {}, timeStamp=T0)
    st.saveUserTrack('a', 0, 'u1', {}, timeStamp=T0)
    st.saveUserTrack('a', 0, 'u2', {}, timeStamp=T0)
    st.saveUserTrack('b', 0, 'u2', {}, timeStamp=T0)     # another task
    assert [t.progress for t in st.goals.user_task_goals('a', 'u1')] == [2]
    assert [t.progress for t in st.goals.user_task_goals('a', 'u2')] == [1]
    assert st.goals.task_goals('a')[0].progress == 0
    copies = st.goals.user_task_goals('a', 'u1') + \
        st.goals.user_task_goals('a', 'u2')
    assert copies[0] is not copies[1]
    assert copies[0].group_id == task_group('a', 'u1')
    st.goals.add_task_goal('a', count('second'))
    st.saveUserTrack('a', 0, 'u1', {}, timeStamp=T0)
    assert {t.name: t.progress for t in st.goals.user_task_goals('a', 'u1')} \
        == {'first': 3, 'second': 1}
    assert st.goals.remove_task_goal('a', 'first').name == 'first'
    assert st.goals.remove_task_goal('a', 'first') is None
    assert [t.name for t in st.goals.task_goals('a')] == ['second']


def test_task_goal_errors():
    st = TrackingStorage()
    st.goals.add_task_goal('a', count('x'))
    with pytest.raises(ValueError, match="task 'a' has a goal template 'x'"):
        st.goals.add_task_goal('a', count('x'))
    with pytest.raises(TypeError, match='taskId'):
        st.goals.add_task_goal(3, count('y'))
    with pytest.raises(TypeError, match='ITracker'):
        st.goals.add_task_goal('a', 'not a tracker')


def test_limiters_and_outcome():
    st = TrackingStorage()
    st.goals.add_tracker('u', count('two only', limiters=[CountLimiter(2)]))
    outcomes = []
    for i in range(3):
        st.saveUserTrack('a', 0, 'u', {}, timeStamp=T0 + i)
        outcomes.append(st.lastGoalOutcome)
    assert [len(o.dirtied) for o in outcomes] == [1, 1, 0]
    assert [len(o.limited) for o in outcomes] == [0, 1, 1]
    assert st.goals.get_trackers('u')[0].progress == 2


def test_update_saves_and_removals_do_not_move_progress():
    st = TrackingStorage()
    st.goals.add_tracker('u', count('n'))
    tid = st.saveUserTrack('a', 0, 'u', {'x': 1})
    st.saveUserTrack('a', 0, 'u', {'x': 2}, update=True)
    st.removeTrack(tid)
    assert st.goals.get_trackers('u')[0].progress == 1


@pytest.fixture
def db(tmp_path):
    db = open_db(str(tmp_path / 'goals.fs'))
    yield db
    db.close()


def test_progress_and_track_commit_and_abort_together(db):
    conn = db.open()
    st = get_storage(conn)
    st.goals.add_tracker('u', count('n', target=2))
    transaction.commit()
    heard = []
    for code in EVENT_ALL:
        st.goals.add_listener(code, heard.append, when='after_commit')
    st.saveUserTrack('a', 0, 'u', {})
    st.saveUserTrack('a', 0, 'u', {})
    assert st.lastGoalOutcome.completed
    transaction.abort()
    assert heard == [] and len(st) == 0
    assert st.goals.get_trackers('u')[0].progress == 0
    st.saveUserTrack('a', 0, 'u', {})
    st.saveUserTrack('a', 0, 'u', {})
    transaction.commit()
    assert [e.code for e in heard] == [1003]
    transaction.commit()                      # nothing new: heard once
    assert len(heard) == 1
    conn.close()
    conn = db.open()
    st = get_storage(conn)
    assert len(st) == 2
    assert st.goals.get_trackers('u', include_completed=True)[0].completed
    transaction.abort()
    conn.close()


def test_a_failing_subscriber_fails_the_save(db):
    conn = db.open()
    st = get_storage(conn)
    st.goals.add_tracker('u', count('n', target=1))
    transaction.commit()

    def subscriber(event):
        if getattr(event, 'code', None) == 1003:
            raise RuntimeError('mail server down')
    zope.event.subscribers.append(subscriber)
    try:
        with pytest.raises(RuntimeError, match='mail server down'):
            st.saveUserTrack('a', 0, 'u', {})
    finally:
        zope.event.subscribers.remove(subscriber)
    with pytest.raises(transaction.interfaces.DoomedTransaction):
        transaction.commit()          # a caller that carried on anyway
    transaction.abort()
    assert len(st) == 0
    assert st.goals.get_trackers('u')[0].progress == 0
    conn.close()


def test_two_writers_of_one_goal_conflict_instead_of_losing_counts(db):
    conn = db.open()
    get_storage(conn).goals.add_tracker('u', count('n'))
    transaction.commit()
    conn.close()
    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    get_storage(c1).saveUserTrack('a', 0, 'u', {})
    get_storage(c2).saveUserTrack('a', 0, 'u', {})
    tm1.commit()
    with pytest.raises(ConflictError):
        tm2.commit()
    tm2.abort()
    get_storage(c2).saveUserTrack('a', 0, 'u', {})
    tm2.commit()
    st = get_storage(c2)
    assert len(st) == 2 and st.goals.get_trackers('u')[0].progress == 2
    c1.close()
    c2.close()

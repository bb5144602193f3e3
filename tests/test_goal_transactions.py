"""Goals follow the caller's transaction, and nothing survives an abort.

Each test is a way a real application meets transactions: connections on
their own transaction managers, pooled connections, aborted first use,
retries, savepoints, several threads.
"""

import threading

import pytest
import transaction
from transaction.interfaces import TransientError
from ZODB.POSException import ConflictError

from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.db import retry_transaction, run_in_transaction
from cybertools_tracking.db import tracking_transaction
from cybertools_tracking.goals import EVENT_TRACKER_ALL_COMPLETED as DONE
from cybertools_tracking.goals import EVENT_TRACKER_ADDED as ADDED
from cybertools_tracking.goals import ConflictingNameError, CountTracker
from cybertools_tracking.goals.listeners import AfterCommitQueue, Listeners
from cybertools_tracking.interfaces import IStorageGoals
from cybertools_tracking.tracked_goals import StorageGoals

T0 = 1_700_000_000


def once(name='once'):
    return CountTracker(name=name, conditions=[], target=1)


@pytest.fixture
def db(tmp_path):
    db = open_db(str(tmp_path / 'goals.fs'))
    yield db
    db.close()


def setup(db, users=('u1', 'u2'), listen=True):
    """Trackers of target 1 for ``users``, committed; return the list the
    after-commit listener appends (group, name) of completions to."""
    heard = []
    with db.transaction() as conn:
        goals = get_storage(conn).goals
        for user in users:
            goals.add_tracker(user, once())
        if listen:
            goals.add_listener(DONE, lambda e: heard.append(e.group_id),
                               when='after_commit')
    return heard


def test_own_transaction_manager_delivers_at_its_commit(db):
    heard = setup(db)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    st = get_storage(conn)
    st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    tm.commit()
    assert heard == ['u1']
    st.saveUserTrack('t', 0, 'u2', {}, timeStamp=T0)
    tm.abort()
    transaction.commit()           # the thread's default manager: unrelated
    assert heard == ['u1']
    assert st.goals.get_trackers('u2')[0].progress == 0
    conn.close()


def test_pooled_connection_follows_each_new_manager(db):
    heard = setup(db)
    for user in ('u1', 'u2'):
        tm = transaction.TransactionManager()
        conn = db.open(tm)           # the same pooled connection each time
        get_storage(conn).saveUserTrack('t', 0, user, {}, timeStamp=T0)
        tm.commit()
        conn.close()
    assert heard == ['u1', 'u2']


@pytest.mark.parametrize('way', ['db.transaction', 'tracking_transaction',
                                 'run_in_transaction', 'retry_transaction',
                                 'db.open'])
def test_every_unit_of_work_delivers_once(db, way):
    heard = setup(db)

    def work(st):
        st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    if way == 'db.transaction':
        with db.transaction() as conn:
            work(get_storage(conn))
    elif way == 'tracking_transaction':
        with tracking_transaction(db) as st:
            work(st)
    elif way == 'run_in_transaction':
        run_in_transaction(db, work, sleep=None)
    elif way == 'retry_transaction':
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        retry_transaction(lambda: work(get_storage(conn)), tm, sleep=None)
        conn.close()
    else:
        conn = db.open()
        work(get_storage(conn))
        transaction.commit()
        conn.close()
    assert heard == ['u1']
    transaction.commit()
    with db.transaction():
        pass
    assert heard == ['u1']


def test_retried_attempts_announce_once_after_commit(db):
    heard = setup(db)
    attempts = []
    immediate = []
    with db.transaction() as conn:
        get_storage(conn).goals.add_listener(
            DONE, lambda e: immediate.append(e.group_id))

    def work(st):
        st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
        attempts.append(1)
        if len(attempts) < 3:
            raise ConflictError('simulated')
    run_in_transaction(db, work, sleep=None)
    assert len(attempts) == 3
    assert immediate == ['u1'] * 3       # once per attempt, as documented
    assert heard == ['u1']               # once, after the commit
    with db.transaction() as conn:
        st = get_storage(conn)
        assert len(st) == 1
        assert st.goals.get_trackers('u1', include_completed=True)[
            0].progress == 1


def test_aborted_first_use_leaves_no_stale_registry(db):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    st = get_storage(conn)
    tm.commit()
    st.goals.get_trackers('u1')          # a read-only first touch
    st.goals.add_tracker('u1', once())
    tm.abort()                           # the registry is gone again
    st.goals.add_tracker('u1', once())
    st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    assert st.lastGoalOutcome.completed
    tm.commit()
    conn.close()
    with db.transaction() as conn:
        [tracker] = get_storage(conn).goals.get_trackers(
            'u1', include_completed=True)
        assert tracker.progress == 1


def test_retry_after_transient_error_adds_and_counts_again(db):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    get_storage(conn)
    tm.commit()
    attempts = []

    def work():
        st = get_storage(conn)
        st.goals.add_tracker('u1', once())
        st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
        attempts.append(1)
        if len(attempts) == 1:
            raise TransientError('try again')
    retry_transaction(work, tm, sleep=None)   # no ConflictingNameError
    assert len(attempts) == 2
    st = get_storage(conn)
    [tracker] = st.goals.get_trackers('u1', include_completed=True)
    assert tracker.progress == 1 and len(st) == 1
    with pytest.raises(ConflictingNameError):
        st.goals.add_tracker('u1', CountTracker('x', [], 5)) or \
            st.goals.add_tracker('u1', CountTracker('x', [], 5))
    tm.abort()
    conn.close()


def test_savepoint_rollback_drops_the_events_queued_since(db):
    heard = setup(db, users=('u1', 'u2', 'u3'))
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    st = get_storage(conn)
    st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    savepoint = tm.savepoint()
    st.saveUserTrack('t', 0, 'u2', {}, timeStamp=T0)
    savepoint.rollback()
    assert st.goals.get_trackers('u2')[0].progress == 0
    st.saveUserTrack('t', 0, 'u3', {}, timeStamp=T0)
    tm.commit()
    assert heard == ['u1', 'u3']
    conn.close()


def test_savepoint_taken_before_the_first_event(db):
    heard = setup(db)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    st = get_storage(conn)
    savepoint = tm.savepoint()
    st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)   # the queue joins now
    savepoint.rollback()
    st.saveUserTrack('t', 0, 'u2', {}, timeStamp=T0)   # and joins again
    tm.commit()
    assert heard == ['u2']
    conn.close()


def test_failed_commit_announces_nothing(db):
    heard = setup(db)
    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    get_storage(c1).saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    get_storage(c2).saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    tm1.commit()
    with pytest.raises(ConflictError):
        tm2.commit()
    tm2.abort()
    assert heard == ['u1']
    c1.close()
    c2.close()


def test_last_outcome_belongs_to_the_transaction(db):
    setup(db, listen=False)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    st = get_storage(conn)
    st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    assert [t.name for t in st.lastGoalOutcome.completed] == ['once']
    tm.abort()
    assert st.lastGoalOutcome == ((), (), ())
    conn.close()


def test_listeners_are_heard_from_every_connection_and_thread(db):
    users = ['u%d' % n for n in range(8)]
    heard = setup(db, users=users)
    errors = []

    def writer(user):
        try:
            run_in_transaction(db, lambda st: st.saveUserTrack(
                't-' + user, 0, user, {}, timeStamp=T0))
        except Exception as error:     # pragma: no cover - reported below
            errors.append(error)
    threads = [threading.Thread(target=writer, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(heard) == users


def test_interleaved_transaction_managers_in_one_thread(db):
    heard = setup(db)
    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    get_storage(c1).saveUserTrack('t1', 0, 'u1', {}, timeStamp=T0)
    get_storage(c2).saveUserTrack('t2', 0, 'u2', {}, timeStamp=T0)
    tm2.commit()
    assert heard == ['u2']
    tm1.abort()
    assert heard == ['u2']
    c1.close()
    c2.close()


def test_storage_goals_is_an_adapter_and_holds_no_state(db):
    with db.transaction() as conn:
        st = get_storage(conn)
        goals = IStorageGoals(st)
        assert isinstance(goals, StorageGoals)
        assert goals.transaction_manager is conn.transaction_manager
        assert st.goals is not st.goals       # made per call, never cached
        assert st.goals.listeners is goals.listeners
        assert goals.registry is None and st.trackObservers() == ()


def test_listeners_of_an_unstored_storage_move_with_it(db):
    from cybertools_tracking import TrackingStorage
    st = TrackingStorage()
    heard = []
    st.goals.add_listener(ADDED, heard.append, when='after_commit')
    with db.transaction() as conn:
        conn.root()['other'] = st
    with db.transaction() as conn:
        get_storage(conn, 'other').goals.add_tracker('u', once())
    assert [e.name for e in heard] == ['once']


# The queue on its own: the transaction package's contract.

def test_after_commit_queue_contract():
    listeners = Listeners()
    heard = []
    listeners.add(DONE, heard.append, when='after_commit')
    tm = transaction.TransactionManager()
    txn = tm.begin()
    event = type('E', (), {'code': DONE})()
    listeners.dispatch(event, tm)
    assert len(AfterCommitQueue.of(txn, listeners)) == 1
    tm.abort()
    assert heard == []
    tm.begin()
    listeners.dispatch(event, tm)
    tm.commit()
    assert heard == [event]
    assert listeners.remove(DONE, heard.append, when='after_commit')
    assert not listeners.remove(DONE, heard.append, when='after_commit')
    with pytest.raises(ValueError, match='code must be one of'):
        listeners.add(999, heard.append)
    with pytest.raises(ValueError, match="when must be"):
        listeners.add(DONE, heard.append, when='later')
    with pytest.raises(TypeError, match='callable'):
        listeners.add(DONE, 'not callable')


def test_issue_repro_new_storage_on_its_own_manager(db):
    # The storage, its goals and the listener are all made in the first
    # transaction of a connection on its own manager.
    heard = []
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    st = get_storage(conn)
    st.goals.add_listener(DONE, lambda e: heard.append(e.group_id),
                          when='after_commit')
    for user in ('u1', 'u2'):
        st.goals.add_tracker(user, once())
    tm.commit()
    st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    tm.commit()
    assert heard == ['u1']
    st.saveUserTrack('t', 0, 'u2', {}, timeStamp=T0)
    tm.abort()
    transaction.commit()
    assert heard == ['u1']
    conn.close()


def test_events_of_a_new_storage_wait_for_its_own_commit(db):
    heard = []
    with tracking_transaction(db) as st:
        st.goals.add_listener(ADDED, heard.append, when='after_commit')
        st.goals.add_tracker('u1', once())
        transaction.commit()             # the thread's manager: not ours
        assert heard == []
    assert [e.name for e in heard] == ['once']


def test_explicit_transaction_manager(db):
    heard = setup(db)
    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    conn = db.open(tm)
    st = get_storage(conn)
    tm.commit()
    assert st.lastGoalOutcome == ((), (), ())     # no transaction: empty
    assert st.goals.get_trackers('u1')[0].progress == 0
    tm.begin()
    st.saveUserTrack('t', 0, 'u1', {}, timeStamp=T0)
    tm.commit()
    assert heard == ['u1']
    conn.close()

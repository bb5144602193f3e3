"""The outbox: events stored with their change, read in commit order."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest
import transaction
from ZODB.POSException import ConflictError
from zope.interface.verify import verifyObject

from cybertools_tracking.db import get_storage, open_db, retry_transaction
from cybertools_tracking.events import EventOutbox, INDEX_BITS, position_time
from cybertools_tracking.goals import CountTracker, KeyValueEQ
from cybertools_tracking.interfaces import IEventOutbox

WRITER = os.path.join(os.path.dirname(__file__), 'outbox_writer.py')
T0 = 1_700_000_000


@pytest.fixture
def db(tmp_path):
    db = open_db(str(tmp_path / 'events.fs'))
    yield db
    db.close()


def opened(db):
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    return manager, connection, get_storage(connection)


def types(events):
    return [event.type for event in events]


def test_contract():
    assert verifyObject(IEventOutbox, EventOutbox())


def test_appended_events_are_read_in_commit_order(db):
    manager, connection, storage = opened(db)
    storage.events.append('a', {'n': 1}, timestamp=T0)
    storage.events.append('b', {'n': [1, 2]})
    assert storage.events.since(0) == []        # not committed yet
    before = time.time()
    manager.commit()
    storage.events.append('c', {})
    manager.commit()
    events = storage.events.since(0)
    assert types(events) == ['a', 'b', 'c']
    assert events[0].timestamp == T0 and events[1].data == {'n': [1, 2]}
    positions = [e.position for e in events]
    assert positions == sorted(positions) and len(set(positions)) == 3
    # The first two are one transaction: same tid, consecutive indexes.
    assert positions[1] == positions[0] + 1
    assert positions[2] >> INDEX_BITS > positions[0] >> INDEX_BITS
    assert before - 1 <= position_time(positions[2]) <= time.time() + 1
    assert storage.events.last_position() == positions[2]
    assert types(storage.events.since(positions[0])) == ['b', 'c']
    assert types(storage.events.since(positions[1], limit=1)) == ['c']
    assert storage.events.since(positions[2]) == []
    assert events[2].as_json()['id'] == str(positions[2])
    with pytest.raises(TypeError):
        events[1].data['n'] = 2                 # read-only
    manager.abort()
    connection.close()


def test_other_connections_read_the_feed(db):
    manager, connection, storage = opened(db)
    storage.events.append('x', {'from': 'first'})
    manager.commit()
    other_manager, other, other_storage = opened(db)
    other_storage.events.append('y', {'from': 'second'})
    other_manager.commit()
    manager.abort()                             # a new view
    assert types(storage.events.since(0)) == ['x', 'y']
    assert len(storage.events) == 2
    # Two writers, two segments; nothing else was written twice.
    assert repr(storage.events) == '<EventOutbox (2 writers)>'
    for m, c in ((manager, connection), (other_manager, other)):
        m.abort()
        c.close()


def test_abort_retry_and_savepoint_leave_no_entry(db):
    manager, connection, storage = opened(db)
    storage.events.append('aborted', {})
    manager.abort()
    attempts = []

    def work():
        attempts.append(1)
        storage.events.append('attempt', {'n': len(attempts)})
        if len(attempts) == 1:
            raise ConflictError('first attempt fails')
    retry_transaction(work, manager, sleep=None)
    manager.begin()
    storage.events.append('kept', {})
    savepoint = manager.savepoint()
    storage.events.append('rolled back', {})
    savepoint.rollback()
    storage.events.append('after', {})
    manager.commit()
    # A savepoint taken before the transaction's first event.
    savepoint = manager.savepoint()
    storage.events.append('rolled back too', {})
    savepoint.rollback()
    manager.commit()
    events = storage.events.since(0)
    assert types(events) == ['attempt', 'kept', 'after']
    assert events[0].data == {'n': 2}
    connection.close()


def test_goal_events_are_in_the_outbox_with_their_change(db):
    manager, connection, storage = opened(db)
    storage.goals.add_tracker('ann', CountTracker(
        name='two', target=[1, 2], conditions=[KeyValueEQ('data.ok', 1)]))
    manager.commit()
    storage.saveUserTrack('t', 0, 'ann', {'ok': 1}, timeStamp=T0)
    manager.abort()                             # not this completion
    storage.saveUserTrack('t', 0, 'ann', {'ok': 1}, timeStamp=T0)
    storage.saveUserTrack('t', 0, 'ann', {'ok': 1}, timeStamp=T0 + 1)
    manager.commit()
    events = storage.events.since(0)
    # A stage change is a reset of the limiters (dictrack's default).
    assert types(events) == ['goal.tracker_added', 'goal.reset',
                             'goal.stage_completed', 'goal.all_completed']
    done = events[-1].data
    assert done['code'] == 1003 and done['group_id'] == 'ann'
    assert done['tracker']['progress'] == 2
    assert done['tracker']['conditions'] == [
        {'type': 'KeyValueEQ', 'key': 'data.ok', 'value': 1}]
    assert events[-1].timestamp == T0 + 1      # the track's time
    connection.close()


def test_track_events_when_asked_for(db):
    manager, connection, storage = opened(db)
    storage.saveUserTrack('t', 0, 'ann', {'a': 1}, timeStamp=T0)
    manager.commit()
    assert storage.events.since(0) == []        # not asked for
    storage.addTrackObserver(storage.events)
    track_id = storage.saveUserTrack('t', 0, 'bob', {'a': 2}, timeStamp=T0)
    manager.commit()
    [event] = storage.events.since(0)
    assert event.type == 'track.saved' and event.timestamp == T0
    assert event.data == {'id': track_id, 'taskId': 't', 'runId': 1,
                          'userName': 'bob', 'timeStamp': T0,
                          'data': {'a': 2}}
    connection.close()


def test_bad_arguments_write_nothing(db):
    manager, connection, storage = opened(db)
    outbox = storage.events
    for args, error in ((('', {}), TypeError), ((1, {}), TypeError),
                        (('t', []), TypeError),
                        (('t', {'x': object()}), ValueError),
                        (('t', {'x': float('nan')}), ValueError),
                        (('t', {}, 'now'), TypeError)):
        with pytest.raises(error):
            outbox.append(*args)
    assert not connection._registered_objects
    for position, limit in ((-1, 10), (1.5, 10), (0, 0), (0, 100_001),
                            (True, 10)):
        with pytest.raises(ValueError):
            outbox.since(position, limit)
    with pytest.raises(ValueError, match='max_age'):
        outbox.prune(-1)
    manager.abort()
    connection.close()


def test_prune_drops_old_events_and_retires_idle_segments(db):
    manager, connection, storage = opened(db)
    storage.events.append('old', {})
    manager.commit()
    old = storage.events.last_position()
    # A second writer that stays idle.
    other_manager, other, other_storage = opened(db)
    other_storage.events.append('idle', {})
    other_manager.commit()
    later = time.time() + 3600
    manager.begin()
    assert storage.events.prune(max_age=60) == 0
    assert storage.events.prune(max_age=60, now=later) == 2
    manager.commit()
    assert storage.events.since(0) == []
    assert repr(storage.events) == '<EventOutbox (0 writers)>'
    # Both writers go on, each in a segment of its own again.
    storage.events.append('new', {})
    manager.commit()
    other_manager.abort()
    other_storage.events.append('new too', {})
    other_manager.commit()
    manager.abort()
    events = storage.events.since(old)
    assert types(events) == ['new', 'new too']
    for m, c in ((manager, connection), (other_manager, other)):
        m.abort()
        c.close()


def test_an_old_storage_gets_its_outbox_with_its_first_event(db):
    manager, connection, storage = opened(db)
    del storage._outbox                     # as made before the outbox
    manager.commit()
    assert storage.events.since(0) == []
    manager.abort()
    assert '_outbox' not in storage.__dict__   # a read wrote nothing
    storage.events.append('first', {})
    manager.commit()
    assert types(storage.events.since(0)) == ['first']
    connection.close()


def _writers(uri, count, mode, writers=2):
    processes = [subprocess.Popen(
        [sys.executable, WRITER, uri, str(n), str(count), mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(writers)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        results.append(json.loads(out))
    return results


class Follower(threading.Thread):
    """Reads the feed as it grows, from a connection of its own."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db, self.seen, self.done = db, [], threading.Event()

    def run(self):
        manager = transaction.TransactionManager()
        connection = self.db.open(manager)
        position = 0
        try:
            while True:
                last_round = self.done.is_set()
                manager.abort()                 # see the newest commits
                events = get_storage(connection, create=False).events.since(
                    position, limit=50)
                self.seen += events
                if events:
                    position = events[-1].position
                elif last_round:
                    return
                else:
                    time.sleep(0.01)
        finally:
            manager.abort()
            connection.close()


@pytest.mark.server
def test_two_zeo_clients_write_a_complete_ordered_feed(zeo_uri):
    db = open_db(zeo_uri)
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.addTrackObserver(storage.events)
        for task in ('task-0', 'task-1'):
            storage.goals.add_task_goal(task, CountTracker(
                name='visits', target=[2, 5], conditions=[]))
    follower = Follower(db)
    follower.start()
    count = 60
    try:
        quiet = _writers(zeo_uri, count, 'events')
        busy = _writers(zeo_uri, count, 'tracks')
    finally:
        follower.done.set()
        follower.join(60)
    # Only outbox appends: not one conflict between the two writers.
    assert [r['retries'] for r in quiet] == [0, 0]
    with db.transaction() as connection:
        feed = get_storage(connection).events.since(0, limit=100_000)
    # The follower, reading while they wrote, saw exactly the whole feed.
    assert follower.seen == feed
    positions = [e.position for e in feed]
    assert positions == sorted(set(positions))
    steps = [e.data for e in feed if e.type == 'test.step']
    tracks = [e.data for e in feed if e.type == 'track.saved']
    assert len(steps) == 2 * 2 * count and len(tracks) == 2 * count
    for writer in (0, 1):   # each writer's events in its commit order
        mine = [(d['i'], d['part']) for d in steps if d['writer'] == writer]
        assert mine == [(i, p) for i in range(count) for p in (0, 1)]
        mine = [d['data']['i'] for d in tracks
                if d['data']['writer'] == writer]
        assert mine == list(range(count))
    # Every goal event heard after a commit is in the feed, once.
    goal = sorted((e.data['code'], e.data['group_id'], e.data['name'])
                  for e in feed if e.type.startswith('goal.'))
    heard = sorted(tuple(h) for r in busy for h in r['heard'])
    assert goal == heard
    assert goal.count((1003, '["task-0", "user-0-0"]', 'visits')) == 1
    # A track and its goal events are one transaction: one tid, the track
    # first (its observer was added before the goals').
    tid_of = {}
    for event in feed:
        tid_of.setdefault(event.position >> INDEX_BITS, []).append(event.type)
    for kinds in tid_of.values():
        assert kinds in (['test.step'] * 2, ) or (
            kinds[0] == 'track.saved' and kinds.count('track.saved') == 1)
    db.close()


def test_forget_drops_the_events_of_groups_and_users_only(db):
    manager, connection, storage = opened(db)
    storage.addTrackObserver(storage.events)
    outbox = storage.events
    outbox.append('goal.x', {'group_id': 'ann'})
    outbox.append('goal.x', {'group_id': 'bob'})
    storage.saveUserTrack('t', 0, 'ann', {}, timeStamp=T0)
    storage.saveUserTrack('t', 0, 'bob', {}, timeStamp=T0)
    manager.commit()
    outbox.append('goal.x', {'group_id': 't/ann'})
    outbox.append('other', {'group_id': 'x', 'userName': 'ann'})
    manager.commit()
    before = outbox.since(0)
    seen = before[1].position           # a reader got here
    with pytest.raises(ValueError):
        outbox.forget(['ann'], limit=0)
    assert outbox.forget(['ann', 't/ann'], ['ann'], limit=2) == 2
    manager.commit()
    assert outbox.forget(['ann', 't/ann'], ['ann']) == 1
    manager.commit()
    assert outbox.forget(['ann', 't/ann'], ['ann']) == 0
    after = outbox.since(0)
    # The others keep their positions: a reader misses none of them.
    assert after == [e for e in before if e.position in
                     {before[1].position, before[3].position,
                      before[5].position}]
    assert [e.data.get('group_id') or e.data['userName'] for e in after] \
        == ['bob', 'bob', 'x']
    assert outbox.since(seen) == after[1:]
    assert len(outbox) == 3 and outbox.last_position() == after[-1].position
    # New events come after them, in a new batch.
    outbox.append('new', {})
    manager.commit()
    assert types(outbox.since(after[-1].position)) == ['new']
    connection.close()


def test_a_track_saved_event_carries_the_event_id(db):
    manager, connection, storage = opened(db)
    storage.addTrackObserver(storage.events)
    storage.saveUserTrack('t', 0, 'ann', {}, timeStamp=T0, eventId='x-1')
    manager.commit()
    [event] = storage.events.since(0)
    assert event.data['eventId'] == 'x-1'
    connection.close()

"""Every goal event code reaches the storage's outbox as JSON that reads back.

A real FileStorage, a goal of each time-driven kind, tracks that complete
stages and ``storage.goals.tick``: ``storage.events.since(0)`` then holds an
event of every code in ``EVENT_CODES``, each with the tracker's JSON, from
which the tracker's definition is read back.
"""

from cybertools_tracking.db import open_db, tracking_transaction
from cybertools_tracking.goals import EVENT_CODES
from cybertools_tracking.goals import CountLimiter, CountTracker
from cybertools_tracking.goals import DeadlineLimiter, KeyValueEQ
from cybertools_tracking.goals import PeriodAccumulationTracker
from cybertools_tracking.goals import PeriodTracker, SequenceTracker
from cybertools_tracking.goals import SlidingWindowLimiter, WindowTracker
from cybertools_tracking.goals import all_of
from cybertools_tracking.goals.serialize import EVENT_TYPES
from cybertools_tracking.goals.serialize import tracker_from_json
from cybertools_tracking.goals.serialize import tracker_to_json

DAY = 86400
T0 = 1_700_006_400          # 2023-11-15 00:00 UTC, a Wednesday
LESSON = KeyValueEQ('taskId', 'lesson')


def test_every_event_code_goes_through_the_outbox(tmp_path):
    db = open_db(str(tmp_path / 'events.fs'))
    try:
        with tracking_transaction(db) as storage:
            goals = storage.goals
            window = WindowTracker('two-a-day', [LESSON], [1, 2], DAY)
            goals.add_trackers('ann', [
                window,
                PeriodTracker('daily', [LESSON], 1, tz='Europe/Berlin'),
                PeriodAccumulationTracker('minutes', [], 30, 'data.minutes',
                                          period='weekly'),
                SequenceTracker('quiz-after-lesson',
                                [LESSON, KeyValueEQ('taskId', 'quiz')],
                                max_gap=DAY),
                CountTracker('by-friday', [LESSON], 10,
                             limiters=[DeadlineLimiter(T0 + 2 * DAY)]),
                CountTracker('one-an-hour', [LESSON], 10,
                             limiters=[SlidingWindowLimiter(1, 3600)]),
                CountTracker('twice', [], 10, limiters=[CountLimiter(2)]),
            ])
            goals.add_tracker('ann', CountTracker('trial', [], 99),
                              expire_at=T0 + 3 * DAY)
            goals.add_tracker('team', all_of('everyone', [window]))
        with tracking_transaction(db) as storage:
            storage.saveUserTrack('lesson', 0, 'ann', {'minutes': 20},
                                  timeStamp=T0 + 3600)
            storage.saveUserTrack('lesson', 0, 'ann', {'minutes': 20},
                                  timeStamp=T0 + 3700)
            storage.saveUserTrack('quiz', 0, 'ann', {}, timeStamp=T0 + 3800)
        with tracking_transaction(db) as storage:
            storage.goals.tick(now_ts=T0 + 6 * DAY)  # a new ISO week
        with tracking_transaction(db) as storage:
            events = storage.events.since(0)
    finally:
        db.close()

    types = {event.type for event in events}
    missing = {EVENT_TYPES[code] for code in EVENT_CODES} - types
    assert not missing, 'no %s in the outbox' % ', '.join(sorted(missing))
    assert set(EVENT_TYPES) == set(EVENT_CODES)
    seen = {}
    for event in events:
        if event.type.startswith('goal.'):
            seen.setdefault(event.type, []).append(
                (event.data['name'], event.data['tracker']['type']))
            assert event.data['code'] in EVENT_CODES
            assert EVENT_TYPES[event.data['code']] == event.type
    assert ('daily', 'PeriodTracker') in seen['goal.period_closed']
    assert ('minutes', 'PeriodAccumulationTracker') in seen[
        'goal.period_closed']
    assert ('by-friday', 'CountTracker') in seen['goal.tracker_failed']
    assert ('trial', 'CountTracker') in seen['goal.tracker_expired']
    assert ('everyone', 'CompositeTracker') in seen['goal.all_completed']
    assert ('quiz-after-lesson', 'SequenceTracker') in seen[
        'goal.all_completed']
    assert {('one-an-hour', 'CountTracker'), ('twice', 'CountTracker')} <= \
        set(seen['goal.limited'])
    # A closed period says which, with what it reached.
    closed = [e.data for e in events if e.type == 'goal.period_closed'
              and e.data['name'] == 'daily']
    assert closed[0]['period']['key'] == '2023-11-15'
    assert closed[0]['period']['progress'] == 1
    assert closed[0]['period']['met_at'] == T0 + 3600
    limited = [e.data for e in events if e.type == 'goal.limited'
               and e.data['name'] == 'one-an-hour']
    assert limited[0]['limiter']['type'] == 'SlidingWindowLimiter'

    # Each event's tracker JSON gives the definition back (composites need
    # their components found; the window tracker is the one).
    for event in events:
        if not event.type.startswith('goal.'):
            continue
        shown = event.data['tracker']
        again = tracker_from_json(shown, resolve=lambda group, name:
                                  WindowTracker(name, [], [1, 2], DAY,
                                                group_id=group))
        assert type(again).__name__ == shown['type']
        copy = tracker_to_json(again)
        for name in ('name', 'conditions', 'target', 'reset_policy',
                     'window', 'period', 'tz', 'steps', 'max_gap',
                     'components', 'measure', 'key'):
            assert copy.get(name) == shown.get(name), (event.type, name)

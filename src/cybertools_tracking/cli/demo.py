"""The ``demo`` command: a fresh storage filled with a sample (an
e-learning week), and a tour of what it holds.

A storage that holds just the sample is recognised by its contents (the
sample is the same every time), so running the demo again shows it again,
while a storage with any other track is left alone. Nothing marks the
sample in the database.
"""

import datetime
import random

from cybertools_tracking.cli.common import EXIT_OK, PROG, CommandError
from cybertools_tracking.cli.common import connection, db_arg, storage_name
from cybertools_tracking.cli.formatting import RUN_COLUMNS, TRACK_COLUMNS
from cybertools_tracking.cli.formatting import run_rows, table, track_row
from cybertools_tracking.db import get_storage
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.timestamps import as_timestamp

DEMO_BASE = datetime.datetime(2024, 1, 15, 8, 0)  # local time, a Monday
DEMO_DAYS = 5
DEMO_SEED = 20240115
DEMO_BATCH = 500
DEMO_TASKS = {  # task id -> number of pages; learners go through in order
    'python/intro': 12,
    'python/loops': 18,
    'python/functions': 22,
    'stats/means': 15,
    'stats/regression': 20,
}
DEMO_USERS = ('alice', 'ben', 'carla', 'david', 'emma', 'felix', 'greta',
              'hannah', 'ivan', 'julia', 'karl', 'lena', 'mona', 'nils',
              'olga', 'paul', 'sam', 'sara', 'sophie', 'stefan')
# The statistics course closes on Tuesday evening: its run is finished.
# A new cohort starts the Python intro on Wednesday morning: a new run.
DEMO_STOP = ('stats/means', DEMO_BASE + datetime.timedelta(days=1, hours=10))
DEMO_START = ('python/intro', DEMO_BASE + datetime.timedelta(days=2,
                                                             hours=-1))


def add_commands(command):
    demo = command('demo', run_demo, 'fill a fresh storage with a sample '
                   '(an e-learning scenario) and show what it holds',
                   'cybertools-tracking --db var/demo.fs demo')
    demo.add_argument('--force', action='store_true',
                      help='delete an existing storage of that name first')


def demo_events():
    """The sample as a list of (timeStamp, taskId, userName, data), in
    time order: users come on most days for a session or two, open one
    lesson and page through it, with a quiz score and reading time per
    page."""
    rng = random.Random(DEMO_SEED)
    stop = as_timestamp(DEMO_STOP[1])
    tasks = list(DEMO_TASKS)
    events = []
    for day in range(DEMO_DAYS):
        morning = as_timestamp(DEMO_BASE + datetime.timedelta(days=day))
        for user in DEMO_USERS:
            if rng.random() < 0.15:
                continue                      # a day off
            for session in range(rng.randint(2, 4)):
                ts = morning + rng.randint(0, 9 * 3600)
                open_tasks = [t for t in tasks
                              if not (t == DEMO_STOP[0] and ts > stop)]
                task = rng.choice(open_tasks)
                pages = DEMO_TASKS[task]
                first = rng.randint(1, pages - 5)
                for page in range(first, pages + 1):
                    duration = rng.randint(20, 300)
                    score = min(100, max(0, round(rng.gauss(72, 15))))
                    events.append((ts, task, user, {
                        'page': page, 'score': score, 'duration': duration}))
                    ts += duration
    events.sort(key=lambda event: event[:3])
    # A session can run past the course's close: drop those pages.
    return [e for e in events if not (e[1] == DEMO_STOP[0] and e[0] > stop)]


def fill_demo(manager, connection, name):
    """Save the sample into the storage ``name``, committing every
    DEMO_BATCH tracks; run the scenario's stop and start at their times.
    Returns the storage."""
    storage = get_storage(connection, name)
    changes = [
        (as_timestamp(DEMO_STOP[1]), 'stop', DEMO_STOP[0]),
        (as_timestamp(DEMO_START[1]), 'start', DEMO_START[0]),
    ]
    for count, (ts, task, user, data) in enumerate(demo_events(), 1):
        while changes and changes[0][0] <= ts:
            at, change, changed = changes.pop(0)
            # startRun and stopRun stamp the run with the clock; the demo
            # plays at its own fixed time, so the run is set to that.
            if change == 'stop':
                run = storage.getRun(storage.stopRun(changed))
                run.end = max(at, run.start)
            else:
                run = storage.getRun(storage.startRun(changed))
                run.start = run.end = at
        storage.saveUserTrack(task, 0, user, data, timeStamp=ts)
        if count % DEMO_BATCH == 0:
            manager.commit()
            connection.cacheGC()
    manager.commit()
    return storage


def holds_the_sample(storage):
    """Whether ``storage`` holds the demo's sample and nothing else: as
    many tracks, the same tasks, and the sample's last track last."""
    events = demo_events()
    if len(storage) != len(events):
        return False
    if set(storage.getTaskIds()) != set(DEMO_TASKS):
        return False
    last = storage.query(taskId='*', newestFirst=True, limit=1)
    ts, task, user, data = events[-1]
    return bool(last) and (last[0].timeStamp, last[0].taskId,
                           last[0].userName, last[0].data) == (ts, task,
                                                               user, data)


def run_demo(args):
    name = storage_name(args)
    with connection(args, write=True) as (manager, conn):
        root = conn.root()
        existing = root.get(name)
        if existing is not None:
            if not isinstance(existing, TrackingStorage):
                raise CommandError('root[%r] is a %s, not a tracking '
                                   'storage; not touching it'
                                   % (name, type(existing).__name__))
            # A storage holding just the sample of an earlier demo is
            # replaced: running the demo again shows it again.
            if (len(existing) and not args.force
                    and not holds_the_sample(existing)):
                raise CommandError(
                    'the storage %r in %s already has %d tracks; the demo '
                    'needs a fresh one (--force deletes it, or use another '
                    '--storage or --db)' % (name, db_arg(args),
                                            len(existing)))
            # Replaced, not emptied: a fresh storage numbers tracks and
            # runs from 1 again, so the demo shows the same output.
            del root[name]
        storage = fill_demo(manager, conn, name)
        show_demo(args, storage)
    return EXIT_OK


def show_demo(args, storage):
    tasks = storage.getTaskIds()
    users = sorted({user for task in tasks
                    for user in storage.getUserNames(task)})
    runs = storage.getRuns()
    print('Filled the storage %r in %s with a sample: %d tracks of %d '
          'users in %d tasks, %d runs.'
          % (storage_name(args), db_arg(args), len(storage), len(users),
             len(tasks), len(runs)))

    print('\nTasks and their users  (getTaskIds, getUserNames):')
    table(('taskId', 'users'),
          [(task, str(len(storage.getUserNames(task)))) for task in tasks])

    task = DEMO_START[0]
    for user in storage.getUserNames(task):
        last = storage.getLastUserTrack(task, 0, user)
        if last is not None:    # the user has tracks in the current run
            break
    print('\nThe last track of %s in %s, current run  '
          '(getLastUserTrack(%r, 0, %r)):' % (user, task, task, user))
    table(TRACK_COLUMNS, [track_row(last)])

    print('\nRuns; * marks a task\'s current run  (getRuns, '
          'getCurrentRuns):')
    table(RUN_COLUMNS, run_rows(runs, storage.getCurrentRuns()))

    start = DEMO_BASE + datetime.timedelta(days=1, hours=2)
    end = start + datetime.timedelta(minutes=5)
    found = storage.query(timeFrom=as_timestamp(start),
                          timeTo=as_timestamp(end))
    print('\nTracks from %s to %s  (query(timeFrom=..., timeTo=...)): %d, '
          'the first 3:' % (start.strftime('%Y-%m-%d %H:%M'),
                            end.strftime('%H:%M'), len(found)))
    table(TRACK_COLUMNS, [track_row(t) for t in found[:3]])

    found = storage.query(userName='s*')
    names = sorted({t.userName for t in found})
    print('\nTracks of users whose names start with s  '
          '(query(userName=\'s*\')): %d, of %s.'
          % (len(found), ', '.join(names)))

    db = '' if getattr(args, 'db', None) is None else ' --db ' + args.db
    print('\nTry:')
    for line in ("query --user 's*' --task 'python/*' --limit 5",
                 'query --from 2024-01-17T09:00 --to 2024-01-17T09:10 '
                 '--format jsonl',
                 'runs --task python/intro',
                 'stats'):
        print('  %s%s %s' % (PROG, db, line))

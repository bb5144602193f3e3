"""Storage benchmark: ingest and lookups, TrackingStorage against SQLite.

Both sides get the same tracks (``workload``) and answer the same
questions. SQLite stands for "what a plain relational table with
equivalent indexes does on this machine": a composite index (taskId,
runId, userName, timeStamp, id) for the last track, one on userName and
one on timeStamp; WAL journal with synchronous=FULL, so that a commit is
as durable as a FileStorage commit (both fsync).

Not a test: it prints figures and writes them as JSON; RESULTS.md holds
the recorded runs.
"""

import json
import os
import random
import shutil
import sqlite3
import statistics
import time

import transaction
from BTrees.LOBTree import LOBTree
from persistent import Persistent

from cybertools_tracking.db import get_storage, open_db

BASE_TS = 1_700_000_000
TRACKS_PER_SECOND = 50       # simulated time: 50 tracks per second
BATCH = 1000


def workload(count, mode='sessions', tasks=20, users=1000, seed=1,
             tasks_per_user=None, share=(0, 1)):
    """Yield (taskId, userName, timeStamp, data) for ``count`` tracks.

    ``sessions``: 50 users at a time, each doing 1-40 things in a task
    before leaving (interleaved), the shape of real activity.
    ``uniform``: every track from a random (task, user): the worst case
    for any index, since consecutive tracks share nothing.
    ``tasks_per_user``: each user works in only that many tasks (the same
    ones in every process), instead of in any task.
    ``share=(k, n)``: only the users u with u % n == k, the users whose
    requests writer k of n serves.
    """
    part, parts = share
    rnd = random.Random(seed)
    sessions = []
    for i in range(count):
        if mode == 'uniform':
            task, user = rnd.randrange(tasks), rnd.randrange(users)
        else:
            while len(sessions) < 50:
                user = rnd.randrange(users // parts) * parts + part
                task = (rnd.randrange(tasks) if tasks_per_user is None else
                        (user * 7 + rnd.randrange(tasks_per_user)) % tasks)
                sessions.append([task, user, rnd.randint(1, 40)])
            k = rnd.randrange(len(sessions))
            task, user, left = sessions[k]
            if left == 1:
                sessions.pop(k)
            else:
                sessions[k][2] = left - 1
        yield ('task%03d' % task, 'user%05d' % user,
               BASE_TS + i // TRACKS_PER_SECOND,
               {'page': 'p%d' % rnd.randrange(30), 'score': rnd.randrange(100),
                'duration': round(rnd.random() * 60, 1)})


class ZODBSide:
    name = 'TrackingStorage (FileStorage)'

    def __init__(self, directory):
        self.path = os.path.join(directory, 'tracking.fs')
        self.db = open_db(self.path)
        self.conn = self.db.open()
        self.storage = get_storage(self.conn)
        transaction.commit()

    def add(self, task, user, ts, data):
        self.storage.saveUserTrack(task, 0, user, data, timeStamp=ts)

    def commit(self):
        transaction.commit()
        self.conn.cacheGC()

    def restart(self):
        """Close and reopen, like a restarted process: a cold cache."""
        self.conn.close()
        self.db.close()
        self.db = open_db(self.path)
        self.conn = self.db.open()
        self.storage = get_storage(self.conn, create=False)

    def run_of(self, task):
        return self.storage.getRun(task).id

    def last(self, task, run, user):
        track = self.storage.getLastUserTrack(task, run, user)
        return track.__name__, track.data

    def user_tracks(self, user):
        return [(t.__name__, t.data) for t in
                self.storage.query(userName=user)]

    def size(self):
        return os.path.getsize(self.path)

    def close(self):
        transaction.abort()
        self.conn.close()
        self.db.close()


class SQLiteSide:
    name = 'SQLite (WAL, synchronous=FULL)'

    def __init__(self, directory):
        self.path = os.path.join(directory, 'tracking.sqlite')
        self.db = sqlite3.connect(self.path)
        self.db.execute('PRAGMA journal_mode=WAL')
        self.db.execute('PRAGMA synchronous=FULL')
        self.db.executescript('''
            CREATE TABLE runs (id INTEGER PRIMARY KEY, taskId TEXT,
                               start INTEGER, end INTEGER, finished INTEGER);
            CREATE TABLE current_runs (taskId TEXT PRIMARY KEY, runId INTEGER);
            CREATE TABLE tracks (id INTEGER PRIMARY KEY, taskId TEXT NOT NULL,
                                 runId INTEGER NOT NULL, userName TEXT NOT NULL,
                                 timeStamp INTEGER NOT NULL, data TEXT NOT NULL);
            CREATE INDEX tracks_last ON tracks
                (taskId, runId, userName, timeStamp, id);
            CREATE INDEX tracks_user ON tracks (userName);
            CREATE INDEX tracks_time ON tracks (timeStamp);
        ''')
        self.runs = {}
        self.pending = []

    def add(self, task, user, ts, data):
        # The same work as saveUserTrack: find or start the task's run.
        run = self.runs.get(task)
        if run is None:
            cur = self.db.execute('INSERT INTO runs (taskId, start, end, '
                                  'finished) VALUES (?, ?, ?, 0)',
                                  (task, ts, ts))
            run = self.runs[task] = cur.lastrowid
            self.db.execute('INSERT INTO current_runs VALUES (?, ?)',
                            (task, run))
        self.pending.append((task, run, user, ts, json.dumps(data)))

    def commit(self):
        self.db.executemany('INSERT INTO tracks (taskId, runId, userName, '
                            'timeStamp, data) VALUES (?, ?, ?, ?, ?)',
                            self.pending)
        self.pending = []
        self.db.commit()

    def restart(self):
        self.db.close()
        self.db = sqlite3.connect(self.path)

    def run_of(self, task):
        return self.db.execute('SELECT runId FROM current_runs WHERE '
                               'taskId = ?', (task,)).fetchone()[0]

    def last(self, task, run, user):
        row = self.db.execute(
            'SELECT id, data FROM tracks WHERE taskId = ? AND runId = ? AND '
            'userName = ? ORDER BY timeStamp DESC, id DESC LIMIT 1',
            (task, run, user)).fetchone()
        return '%07i' % row[0], json.loads(row[1])

    def user_tracks(self, user):
        return [('%07i' % id, json.loads(data)) for id, data in
                self.db.execute('SELECT id, data FROM tracks WHERE '
                                'userName = ? ORDER BY id', (user,))]

    def size(self):
        return sum(os.path.getsize(self.path + suffix)
                   for suffix in ('', '-wal') if os.path.exists(self.path + suffix))

    def close(self):
        self.db.close()


def ingest(side, count, mode, checkpoints, seen):
    """Add ``count`` tracks, committing every BATCH; return the rate (tracks
    per second) over each stretch ending at a checkpoint."""
    rates = {}
    start = last = time.perf_counter()
    previous = 0
    for i, (task, user, ts, data) in enumerate(workload(count, mode), 1):
        side.add(task, user, ts, data)
        seen.add((task, user))
        if i % BATCH == 0:
            side.commit()
        if i in checkpoints:
            now = time.perf_counter()
            rates[i] = (i - previous) / (now - last)
            previous, last = i, now
    side.commit()
    return rates, count / (time.perf_counter() - start)


def latency(function, args_list, repeat=1):
    """Per-call times in microseconds."""
    times = []
    for args in args_list * repeat:
        t0 = time.perf_counter()
        function(*args)
        times.append((time.perf_counter() - t0) * 1e6)
    return times


def summary(times):
    times = sorted(times)
    return {'mean': statistics.fmean(times), 'p50': times[len(times) // 2],
            'p99': times[int(len(times) * 0.99)]}


def lookups(side, seen, samples=2000, seed=7):
    """Latency of the last track and of one user's tracks, after a restart
    (cold) and once the cache holds what the calls need (warm)."""
    rnd = random.Random(seed)
    pairs = rnd.sample(sorted(seen), min(samples, len(seen)))
    users = sorted({user for task, user in pairs})[:200]
    side.restart()
    runs = {task: side.run_of(task) for task, user in pairs}
    last_args = [(task, runs[task], user) for task, user in pairs]
    user_args = [(user,) for user in users]
    result = {}
    result['last_cold'] = summary(latency(side.last, last_args))
    result['last_warm'] = summary(latency(side.last, last_args))
    result['user_tracks_cold'] = summary(latency(side.user_tracks, user_args))
    result['user_tracks_warm'] = summary(latency(side.user_tracks, user_args))
    result['tracks_per_user'] = statistics.fmean(
        len(side.user_tracks(user)) for user, in user_args[:20])
    # Both sides must give the same answers, or the timings mean nothing.
    result['answers'] = [side.last(*args) for args in last_args[:50]]
    return result


def run_side(cls, directory, count, mode, checkpoints):
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    side = cls(directory)
    seen = set()
    rates, overall = ingest(side, count, mode, checkpoints, seen)
    result = {'rates': rates, 'overall': overall, 'size': side.size()}
    result.update(lookups(side, seen))
    side.close()
    return result


class _Tiny(Persistent):
    """The least a persistent track can be: its fields in a tuple."""

    def __init__(self, *fields):
        self.fields = fields

    def __getstate__(self):
        return self.fields

    def __setstate__(self, state):
        self.fields = state


def floor(directory, count=200_000, mode='sessions'):
    """Tracks per second for one tiny persistent object per track in one
    LOBTree, no indexes, commit every BATCH: what one record per track
    costs on this machine, the bound for any design whose tracks are
    persistent objects."""
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    db = open_db(os.path.join(directory, 'floor.fs'))
    connection = db.open()
    tree = connection.root()['tracks'] = LOBTree()
    transaction.commit()
    start = time.perf_counter()
    for i, (task, user, ts, data) in enumerate(workload(count, mode), 1):
        tree[i] = _Tiny(task, 1, user, ts, data)
        if i % BATCH == 0:
            transaction.commit()
            connection.cacheGC()
    transaction.commit()
    rate = count / (time.perf_counter() - start)
    connection.close()
    db.close()
    return rate

"""Storage benchmark: TrackingStorage against SQLite, and against itself
at another git ref.

``.venv/bin/python benchmarks/storage_bench.py [--tracks N] [--quick]
[--compare REF] [--ingest-tracks M]``, or ``benchmarks/run.py --only
storage`` with the same options.

Both engines get the same tracks (``workload``, commit every ``BATCH``)
and answer the same questions. SQLite stands for "what a plain relational
table with equivalent indexes does on this machine": a composite index
(taskId, runId, userName, timeStamp, id) for the last track, one on
userName and one on timeStamp; WAL journal with synchronous=FULL, so
that a commit is as durable as a FileStorage commit (both fsync).

The TrackingStorage side uses the public API only (``open_db``,
``get_storage``, ``saveUserTrack``, ``getLastUserTrack``, ``query``) and
counts records at the storage (``_measure.RecordCounter``), so it
measures any layout of the library. Each side runs in a process of its
own, so that its peak RSS is its own; with ``--compare REF`` the library
as it is at REF (unpacked with ``git archive``) runs in its own processes
too, first on ``sys.path``, and the report sets this checkout against it
as ratios. The sides take turns (the order reversed for every other
workload): this shared machine's speed drifts within minutes, so compare
figures within one run, never across runs.

Measured per side and workload:

- ingest: tracks/s; peak RSS of the process; records stored and pickle
  bytes stored per track;
- bytes per track on disk before and after ``db.pack()`` (SQLite: db and
  WAL, then after a checkpoint and VACUUM);
- cold reads, each right after reopening the database (an empty ZODB or
  SQLite cache; the OS's file cache stays warm for both): a combination's
  last track as the very first call, and again after one unrelated
  last-track lookup has loaded the shared upper nodes; one user's tracks
  (~1,000: ``--users`` defaults to tracks / 1,000) likewise; records
  loaded and time;
- warm reads: the same calls repeated;
- updates: one combination's last track updated ``UPDATES`` times with
  ``saveUserTrack(..., update=True)``, one commit each: time, records and
  bytes stored per update;
- with ``--ingest-tracks M``, the ingest and pack figures again for M
  tracks (no reads), e.g. a million when the full run uses fewer.

Not a test: it prints a Markdown report and writes it, with the raw
figures as JSON, to ``benchmarks/var/``; RESULTS.md holds recorded runs.
"""

import argparse
import contextlib
import datetime
import gc
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time

import transaction
from BTrees.LOBTree import LOBTree
from persistent import Persistent

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import _measure  # noqa: E402
import storage_report  # noqa: E402
from _measure import RecordCounter, stats  # noqa: E402

from cybertools_tracking.db import get_storage, open_db  # noqa: E402

BASE_TS = 1_700_000_000
TRACKS_PER_SECOND = 50       # simulated time: 50 tracks per second
BATCH = 1000
UPDATES = 100
WARM_CALLS = 200


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


# The sides: one interface over TrackingStorage and SQLite

class ZODBSide:
    """TrackingStorage in a FileStorage, through the public API only."""

    label = 'TrackingStorage (FileStorage)'

    def __init__(self, directory):
        self.path = os.path.join(directory, 'tracking.fs')
        self._open()
        self.storage = get_storage(self.conn)
        transaction.commit()

    def _open(self):
        self.db = open_db(self.path)
        self.counter = RecordCounter(self.db.storage)
        self.conn = self.db.open()

    def counts(self):
        """(records loaded, records stored, bytes stored) since opening."""
        return self.counter.counts()

    def add(self, task, user, ts, data):
        self.storage.saveUserTrack(task, 0, user, data, timeStamp=ts)

    def commit(self, count=0):
        transaction.commit()
        self.conn.cacheGC()

    def finish(self):
        self.commit()

    def reopen(self):
        """Close and open again, like a restarted process: a cold cache."""
        self.close()
        self._open()
        self.storage = get_storage(self.conn, create=False)

    restart = reopen

    def run_of(self, task):
        return self.storage.getRun(task).id

    def last(self, task, run, user):
        track = self.storage.getLastUserTrack(task, run, user)
        return track.__name__, dict(track.data)

    def user_tracks(self, user):
        return [(t.__name__, dict(t.data)) for t in
                self.storage.query(userName=user)]

    def update_last(self, task, run, user, data, ts):
        self.storage.saveUserTrack(task, run, user, data, update=True,
                                   timeStamp=ts)

    def pack(self):
        self.db.pack()

    def size(self):
        return os.path.getsize(self.path)

    def close(self):
        transaction.abort()
        self.conn.close()
        self.db.close()


class SQLiteSide:
    """The same tracks and questions in a table with equivalent indexes."""

    label = 'SQLite (WAL, synchronous=FULL)'

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

    def counts(self):
        return None           # no records to count

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

    def commit(self, count=0):
        self.db.executemany('INSERT INTO tracks (taskId, runId, userName, '
                            'timeStamp, data) VALUES (?, ?, ?, ?, ?)',
                            self.pending)
        self.pending = []
        self.db.commit()

    def finish(self):
        self.commit()

    def reopen(self):
        self.db.close()
        self.db = sqlite3.connect(self.path)

    restart = reopen

    def run_of(self, task):
        return self.db.execute('SELECT runId FROM current_runs WHERE '
                               'taskId = ?', (task,)).fetchone()[0]

    def _last(self, task, run, user):
        return self.db.execute(
            'SELECT id, data FROM tracks WHERE taskId = ? AND runId = ? AND '
            'userName = ? ORDER BY timeStamp DESC, id DESC LIMIT 1',
            (task, run, user)).fetchone()

    def last(self, task, run, user):
        num, data = self._last(task, run, user)
        return '%07i' % num, json.loads(data)

    def user_tracks(self, user):
        return [('%07i' % id, json.loads(data)) for id, data in
                self.db.execute('SELECT id, data FROM tracks WHERE '
                                'userName = ? ORDER BY id', (user,))]

    def update_last(self, task, run, user, data, ts):
        # saveUserTrack(update=True): the data merged, the time moved.
        num, old = self._last(task, run, user)
        merged = json.loads(old)
        merged.update(data)
        self.db.execute('UPDATE tracks SET data = ?, timeStamp = ? '
                        'WHERE id = ?', (json.dumps(merged), ts, num))

    def pack(self):
        self.db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
        self.db.execute('VACUUM')
        self.db.execute('PRAGMA wal_checkpoint(TRUNCATE)')

    def size(self):
        return sum(os.path.getsize(self.path + suffix)
                   for suffix in ('', '-wal') if os.path.exists(self.path + suffix))

    def close(self):
        self.db.close()


# Measuring one side (in a process of its own)

class Clock:
    """Time and records loaded by one call."""

    def __init__(self, side):
        self.side = side

    def __call__(self, function, *args):
        counts = self.side.counts()
        t0 = time.perf_counter()
        result = function(*args)
        elapsed = time.perf_counter() - t0
        loads = None if counts is None else (
            self.side.counts()[0] - counts[0])
        return result, elapsed, loads


def ingest(side, tracks, mode, users, tasks, seen):
    """Add ``tracks`` tracks, committing every BATCH (``side.commit(i)``,
    i the tracks so far), then ``side.finish()``. Returns tracks/s, the
    peak RSS so far, and records and pickle bytes stored per track."""
    start = side.counts()
    t0 = time.perf_counter()
    for i, (task, user, ts, data) in enumerate(
            workload(tracks, mode, users=users, tasks=tasks), 1):
        side.add(task, user, ts, data)
        seen.add((task, user))
        if i % BATCH == 0:
            side.commit(i)
    side.finish()
    elapsed = time.perf_counter() - t0
    out = {'ingest': tracks / elapsed, 'ingest_s': elapsed,
           'rss_mb': _measure.peak_rss_mb()}
    counts = side.counts()
    if counts is not None:
        out['stores_per_track'] = (counts[1] - start[1]) / tracks
        out['stored_bytes_per_track'] = (counts[2] - start[2]) / tracks
    out['bytes_per_track'] = side.size() / tracks
    return out


def pack(side, tracks):
    """Bytes per track on disk after packing, and the seconds it took."""
    t0 = time.perf_counter()
    side.pack()
    return {'pack_s': time.perf_counter() - t0,
            'bytes_per_track_packed': side.size() / tracks}


def cold_reads(side, seen, runs, count, answers):
    """Times (µs) and records loaded of reads right after reopening, for
    ``count`` samples (``_measure.samples``); appends the results to
    ``answers``. Returns the summaries and the tracks per user read."""
    clock = Clock(side)
    cold = {'last_first': [], 'last_upper': [], 'user_first': [],
            'user_upper': []}
    loads = {key: [] for key in cold}
    in_gc = {key: [] for key in cold}
    sizes = []
    meter = _measure.GCMeter()

    def timed(key, function, *arguments):
        meter.reset()
        meter.on = True
        result, seconds, loaded = clock(function, *arguments)
        meter.on = False
        cold[key].append(seconds * 1e6)
        loads[key].append(loaded)
        in_gc[key].append(meter.seconds * 1e6)
        return result

    # After each reopen a full collection: the connection and cache just
    # closed are cyclic garbage (at 1M tracks, collecting them took
    # 0.4-2.5 s, inside whichever timed read the collector ran in).
    for x, y, u, v in _measure.samples(seen, count):
        side.reopen()
        gc.collect()
        answers.append(timed('last_first', side.last,
                             x[0], runs[x[0]], x[1]))
        answers.append(timed('last_upper', side.last,
                             y[0], runs[y[0]], y[1]))
        result = timed('user_upper', side.user_tracks, u)
        answers.append(result)
        sizes.append(len(result))
        side.reopen()
        gc.collect()
        timed('user_first', side.user_tracks, v)
    meter.close()
    out = {'cold': {key: stats(values) for key, values in cold.items()},
           'cold_gc': {key: stats(values) for key, values in in_gc.items()},
           'tracks_per_user': sum(sizes) / len(sizes)}
    if side.counts() is not None:
        out['cold_loads'] = {key: stats(values)
                             for key, values in loads.items()}
    return out


def warm_reads(side, seen, runs):
    """Times (µs) of last-track and user reads whose records are in the
    cache: each call made once before it is timed."""
    rnd = random.Random(11)
    pairs = rnd.sample(sorted(seen), min(WARM_CALLS, len(seen)))
    users = sorted({user for task, user in pairs})[:10]
    warm, in_gc = {}, {}
    meter = _measure.GCMeter()
    for key, function, calls in (
            ('last', side.last, [(t, runs[t], u) for t, u in pairs]),
            ('user', side.user_tracks, [(u,) for u in users])):
        for arguments in calls:
            function(*arguments)
        gc.collect()        # earlier garbage is not these calls' cost
        times = []
        meter.reset()
        meter.on = True
        for arguments in calls:
            t0 = time.perf_counter()
            function(*arguments)
            times.append((time.perf_counter() - t0) * 1e6)
        meter.on = False
        warm[key] = stats(times)
        # The cyclic GC's share of the timed calls: its full collections
        # walk every tracked object of the process (``gc_objects``).
        in_gc[key] = {'us_per_call': meter.seconds * 1e6 / len(calls),
                      'collections': list(meter.collections)}
    meter.close()
    return {'warm': warm, 'warm_gc': in_gc,
            'gc_objects': len(gc.get_objects())}


def updates(side, seen, runs, tracks, answers):
    """The update-heavy pattern: one combination's last track updated
    UPDATES times, one commit each; times (µs), records and bytes stored
    per update."""
    task, user = sorted(seen)[len(seen) // 2]
    run = runs[task]
    ts = BASE_TS + tracks
    times = []
    before = side.counts()
    for i in range(UPDATES):
        t0 = time.perf_counter()
        side.update_last(task, run, user, {'score': 1000 + i}, ts + i)
        side.commit()
        times.append((time.perf_counter() - t0) * 1e6)
    after = side.counts()
    out = {'update': stats(times)}
    if before is not None:
        out['update_stores'] = (after[1] - before[1]) / UPDATES
        out['update_bytes'] = (after[2] - before[2]) / UPDATES
    answers.append(side.last(task, run, user))
    return out


def measure(side, tracks, mode, users, tasks, samples, stop_after=None):
    """Everything for one side and workload, or up to ``stop_after``
    (``'ingest'`` or ``'pack'``); a dict for JSON, with a digest of every
    answer the side gave (equal digests: equal answers)."""
    seen = set()
    out = ingest(side, tracks, mode, users, tasks, seen)
    if stop_after == 'ingest':
        return out
    out.update(pack(side, tracks))
    print('   %s %s: ingest %.0f/s, packed in %.1f s' % (
        side.label, mode, out['ingest'], out['pack_s']),
        file=sys.stderr, flush=True)
    if stop_after == 'pack':
        return out
    side.reopen()
    runs = {task: side.run_of(task) for task, user in seen}
    answers = []
    out.update(cold_reads(side, seen, runs, samples, answers))
    out.update(warm_reads(side, seen, runs))
    out.update(updates(side, seen, runs, tracks, answers))
    out['answers'] = _measure.digest(answers)
    return out


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


def child(args):
    """One side, one workload, one library: the figures as JSON."""
    import cybertools_tracking
    where = os.path.realpath(cybertools_tracking.__file__)
    if not where.startswith(os.path.realpath(args.lib) + os.sep):
        raise SystemExit('cybertools_tracking came from %s, expected it '
                         'from %s (is it installed elsewhere on sys.path?)'
                         % (where, args.lib))
    directory = os.path.join(args.var, 'storage-%s-%s' % (args.child,
                                                          args.mode))
    shutil.rmtree(directory, ignore_errors=True)
    if args.child == 'floor':
        result = {'ingest': floor(directory, args.tracks, args.mode)}
    else:
        os.makedirs(directory)
        side = (SQLiteSide if args.child == 'sqlite' else ZODBSide)(directory)
        result = measure(side, args.tracks, args.mode, args.users,
                         args.tasks, args.samples, args.stop_after)
        side.close()
    shutil.rmtree(directory, ignore_errors=True)
    with open(args.out, 'w') as f:
        json.dump(result, f)


# Running the sides

def add_options(parser):
    """The options of this benchmark that ``run.py`` shares."""
    parser.add_argument('--compare', metavar='REF',
                        help='also measure the library as it is at this git '
                        'ref (e.g. main), in processes of its own, and give '
                        'this checkout as ratios to it')
    parser.add_argument('--ingest-tracks', type=int, metavar='M',
                        help='also ingest and pack M tracks per side (no '
                        'reads), e.g. 1000000 when --tracks is smaller')
    parser.add_argument('--users', type=int, default=None,
                        help='default: tracks / 1,000 (min. 20), so that a '
                        'user has ~1,000 tracks')
    parser.add_argument('--tasks', type=int, default=20)
    parser.add_argument('--samples', type=int, default=20,
                        help='cold reads of each kind (a reopen each)')
    parser.add_argument('--rounds', type=int, default=1,
                        help='ingest runs per side; the best counts, rounds '
                        'after the first only ingest')
    parser.add_argument('--no-floor', dest='floor', action='store_false',
                        help="skip the one-record-per-track floor")


def users_for(args, tracks):
    return args.users or max(20, tracks // 1000)


def run_child(args, side, mode, tracks, library, stop_after):
    """Measure one side in a new process whose ``sys.path`` starts with
    ``library`` (a ``src`` directory); return its figures."""
    out = os.path.join(args.var, 'storage-%s-%s.json' % (side, mode))
    command = [sys.executable, os.path.abspath(__file__),
               '--child', 'sqlite' if side == 'sqlite' else (
                   'floor' if side == 'floor' else 'zodb'),
               '--mode', mode, '--out', out, '--lib', library,
               '--tracks', str(tracks), '--users',
               str(users_for(args, tracks)), '--tasks', str(args.tasks),
               '--samples', str(args.samples), '--var', args.var]
    if stop_after:
        command += ['--stop-after', stop_after]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [library] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    subprocess.run(command, check=True, env=env)
    with open(out) as f:
        return json.load(f)


def run(args):
    """All sides, workloads and rounds; returns (results, meta) for
    ``report``: results[part][mode][side], part ``full`` (``--tracks``)
    and ``ingest`` (``--ingest-tracks``)."""
    os.makedirs(args.var, exist_ok=True)
    started = time.time()
    meta = {'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
            'machine': _measure.machine(),
            'load': ', '.join('%.2f' % x for x in os.getloadavg()),
            'batch': BATCH, 'updates': UPDATES,
            'users': {'full': users_for(args, args.tracks),
                      'ingest': users_for(args, args.ingest_tracks or 0)},
            'labels': {'sqlite': SQLiteSide.label,
                       'this': 'this checkout (src/ as of %s)'
                               % _measure.describe(REPO)}}
    with _libraries(args, meta) as libraries:
        results = {'full': {mode: {} for mode in args.modes}}
        plan = [('full', args.tracks, args.rounds)]
        if args.ingest_tracks:
            results['ingest'] = {mode: {} for mode in args.modes}
            plan.append(('ingest', args.ingest_tracks, 1))
        turn = 0
        for part, tracks, rounds in plan:
            sides = ['sqlite'] + list(libraries)
            if args.floor and part == 'full':
                sides.append('floor')
            for round in range(rounds):
                for mode in args.modes:
                    # Every other turn backwards: no side always runs first.
                    order = sides[::-1] if turn % 2 else sides
                    turn += 1
                    for side in order:
                        print('  storage %s, %d tracks, round %d: %s / %s'
                              % (part, tracks, round + 1, mode, side),
                              file=sys.stderr, flush=True)
                        result = run_child(
                            args, side, mode, tracks,
                            libraries.get(side, libraries['this']),
                            'ingest' if round > 0 else (
                                'pack' if part == 'ingest' else None))
                        kept = results[part][mode].setdefault(side, result)
                        kept.setdefault('ingest_rounds', []).append(
                            result['ingest'])
                        kept['ingest'] = max(kept['ingest_rounds'])
    meta['minutes'] = (time.time() - started) / 60
    return results, meta


@contextlib.contextmanager
def _libraries(args, meta):
    """Yield {'ref': src of --compare's ref, 'this': src of this checkout};
    the ref's is unpacked for the duration of the run."""
    this = os.path.join(REPO, 'src')
    if not args.compare:
        yield {'this': this}
        return
    with _measure.library_at(REPO, args.compare) as ref:
        meta['labels']['ref'] = '%s (src/ as of %s)' % (
            args.compare, _measure.describe(REPO, args.compare))
        yield {'ref': ref, 'this': this}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tracks', type=int, default=200_000)
    parser.add_argument('--quick', action='store_true',
                        help='20,000 tracks, 3 samples (under a minute)')
    parser.add_argument('--modes', nargs='+', default=['sessions', 'uniform'],
                        choices=['sessions', 'uniform'])
    parser.add_argument('--var', default=os.path.join(HERE, 'var'))
    parser.add_argument('--report', metavar='JSON',
                        help='print the report of a saved run again')
    add_options(parser)
    parser.add_argument('--child', choices=['sqlite', 'zodb', 'floor'],
                        help=argparse.SUPPRESS)
    parser.add_argument('--lib', help=argparse.SUPPRESS)
    parser.add_argument('--mode', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    parser.add_argument('--stop-after', choices=['ingest', 'pack'],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.report:
        _measure.print_saved(args.report, storage_report.report)
        return
    if args.quick:
        quick(args)
    results, meta = run(args)
    lines = storage_report.report(args, results, meta)
    _measure.save_run(os.path.join(args.var, 'storage-last-run'), args,
                      results, meta, lines)
    print('\n'.join(lines))


def quick(args):
    """The sizes of ``--quick``."""
    args.tracks, args.samples = 20_000, 3
    if args.ingest_tracks:
        args.ingest_tracks = min(args.ingest_tracks, 40_000)


if __name__ == '__main__':
    main()

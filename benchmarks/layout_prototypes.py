"""Layout prototypes for issue 8 against the current storage and SQLite.

``.venv/bin/python benchmarks/layout_prototypes.py [--tracks N] [--quick]``

Each side (SQLite, the current TrackingStorage, the prototypes of
``layout_models.py``) runs in a process of its own, so that its peak RSS
is its own and one side's garbage does not slow the next; the sides take
turns in one run (the order reversed for the second workload), because
this shared machine's speed drifts by ±20% within minutes. Every figure
is compared within the run, as a ratio, never across runs.

For each side and workload (``storage_bench.workload``, commit every
1,000 tracks):

- ingest: tracks/s; records stored and pickle bytes per track, counted in
  the storage (``_measure.RecordCounter``); peak RSS of the process;
- bytes per track on disk before and after ``db.pack()`` (SQLite: db and
  WAL, then after a checkpoint and VACUUM);
- cold reads, each right after reopening the database (a new cache; the
  OS's file cache stays warm, for both engines): a combination's last
  track on the very first call, and again after one unrelated last-track
  lookup has loaded the shared upper nodes; one user's tracks likewise;
  records loaded (``loadBefore`` calls) and time;
- warm reads: the same calls repeated;
- updates: the last track of one combination updated 100 times, one
  commit each.

By default a user has ~1,000 tracks (``--users`` = tracks / 1,000), ~50
per (task, user) combination, the shape of one million tracks of 1,000
users, at a fifth of the cost. ``--check`` runs a consistency check of
the prototypes against a plain model instead.
"""

import argparse
import datetime
import json
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import transaction  # noqa: E402
import ZODB  # noqa: E402
from ZODB.FileStorage import FileStorage  # noqa: E402

import layout_models as models  # noqa: E402
import storage_bench  # noqa: E402
from _measure import RecordCounter, machine  # noqa: E402
from _measure import print_saved, save_run  # noqa: E402
from _measure import duration as _t  # noqa: E402
from _measure import optional as _f  # noqa: E402
from cybertools_tracking.db import DEFAULT_CACHE_SIZE  # noqa: E402
from cybertools_tracking.db import get_storage  # noqa: E402
from storage_bench import SQLiteSide  # noqa: E402

SIDES = ('sqlite', 'current', 'A', 'B', 'C64', 'C16', 'H')
# C16 and H on request: the default run stays near ten minutes.
DEFAULT_SIDES = ('sqlite', 'current', 'A', 'B', 'C64')


# The sides: one interface over SQLite, the current storage, prototypes

class _ZODBSide:

    cache_bytes = 0       # no bound but DEFAULT_CACHE_SIZE objects

    def __init__(self, directory):
        self.path = os.path.join(directory, 'data.fs')
        self._open()
        self._setUp(self.conn.root())
        transaction.commit()

    def _open(self):
        self.fs = FileStorage(self.path)
        self.counter = RecordCounter(self.fs)
        self.db = ZODB.DB(self.fs, cache_size=DEFAULT_CACHE_SIZE,
                          cache_size_bytes=self.cache_bytes)
        self.conn = self.db.open()

    def reopen(self):
        """Close and open again: an empty cache, like a new process."""
        self.close()
        self._open()
        self._find(self.conn.root())

    def counts(self):
        return self.counter.counts()

    def commit(self, count=0):
        transaction.commit()
        self.conn.cacheGC()

    def finish(self):
        self.commit()

    def pack(self):
        self.db.pack()

    def size(self):
        return os.path.getsize(self.path)

    def close(self):
        transaction.abort()
        self.conn.close()
        self.db.close()


class CurrentSide(_ZODBSide, storage_bench.ZODBSide):
    """The library's TrackingStorage: storage_bench's calls, this
    module's database (a cache bounded by ``--cache-mb`` too)."""

    label = 'current TrackingStorage'

    def _setUp(self, root):
        self.storage = get_storage(self.conn)

    def _find(self, root):
        self.storage = get_storage(self.conn, create=False)


class ProtoSide(_ZODBSide):

    def __init__(self, directory, factory):
        self.factory = factory
        super().__init__(directory)

    @property
    def label(self):
        return self.store.label

    def _setUp(self, root):
        self.store = root['store'] = self.factory()

    def _find(self, root):
        self.store = root['store']

    def add(self, task, user, ts, data):
        self.store.add(task, user, ts, data)

    def run_of(self, task):
        return self.store.run_of(task)

    def last(self, task, run, user):
        num, data = self.store.last(task, run, user)
        return '%07i' % num, data

    def user_tracks(self, user):
        return [('%07i' % num, data)
                for num, data in self.store.user_rows(user)]

    def update_last(self, task, run, user, data, ts):
        self.store.update_last(task, run, user, data, ts)


class HybridSide(ProtoSide):
    """B while importing, compacted into C every ``every`` tracks and at
    the end; read (and updated) as C."""

    def __init__(self, directory, tail, page, every):
        self.every = every
        self.compaction = 0.0
        super().__init__(directory,
                         lambda: models.PagedRows(tail=tail, page=page))

    @property
    def label(self):
        return ('H arrival rows, compacted every %d into %s'
                % (self.every, self.store.label))

    def _setUp(self, root):
        super()._setUp(root)
        self.arrival = root['arrival'] = models.ArrivalRows()

    def add(self, task, user, ts, data):
        self.arrival.add(task, user, ts, data)

    def commit(self, count=0):
        transaction.commit()
        if count and count % self.every == 0:
            self._compact(self.arrival.allocated())
        self.conn.cacheGC()

    def finish(self):
        transaction.commit()
        self._compact(models.KEY_END)
        del self.conn.root()['arrival']
        transaction.commit()

    def _compact(self, upTo):
        t0 = time.perf_counter()
        models.compact(self.arrival, self.store, upTo)
        transaction.commit()
        self.compaction += time.perf_counter() - t0


def make_side(name, directory, args):
    if name == 'sqlite':
        return SQLiteSide(directory)
    if name == 'current':
        return CurrentSide(directory)
    if name == 'A':
        return ProtoSide(directory, models.ClusteredRows)
    if name == 'B':
        return ProtoSide(directory, models.ArrivalRows)
    if name.startswith('C'):
        tail = int(name[1:])
        return ProtoSide(directory, lambda: models.PagedRows(
            tail=tail, page=args.page))
    if name == 'H':
        return HybridSide(directory, args.tail, args.page, args.compact_every)
    raise ValueError('unknown side %r; expected one of %s'
                     % (name, ', '.join(SIDES)))


# Measuring one side (in a process of its own)

def measure(args):
    """Everything for one side and workload (``storage_bench.measure``);
    returns a dict for JSON."""
    directory = os.path.join(args.var, 'layout-%s-%s' % (args.child,
                                                         args.mode))
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    _ZODBSide.cache_bytes = args.cache_mb << 20
    side = make_side(args.child, directory, args)
    out = {'label': side.label}
    out.update(storage_bench.measure(side, args.tracks, args.mode,
                                     args.users, args.tasks, args.samples,
                                     'ingest' if args.ingest_only else None))
    if isinstance(side, HybridSide):
        out['compaction_s'] = side.compaction
    side.close()
    shutil.rmtree(directory, ignore_errors=True)
    return out


def floor_rate(args):
    directory = os.path.join(args.var, 'layout-floor')
    rate = storage_bench.floor(directory, args.tracks, args.mode)
    shutil.rmtree(directory, ignore_errors=True)
    return {'ingest': rate}


# The report

def report(args, results, meta):
    lines = ['## %s — layout prototypes for issue 8' % meta['date'], '',
             'Machine: %s. Load average at start: %s. '
             '`%s` (one process per side, workload and round, in turns), '
             '%.0f minutes.'
             % (meta['machine'], meta['load'], command_line(args),
                meta['minutes']), '']
    for mode in args.modes:
        res = results[mode]
        sides = [s for s in args.sides if s in res]
        base = res.get('sqlite')
        cur = res.get('current')
        same = len({res[s]['answers'] for s in sides}) == 1
        lines += ['### Workload `%s` (answers identical on all sides: %s)'
                  % (mode, 'yes' if same else 'NO'), '',
                  '| | ' + ' | '.join(sides) + ' |',
                  '|---' * (len(sides) + 1) + '|']

        def row(label, cell):
            lines.append('| %s | %s |' % (label, ' | '.join(
                cell(res[s]) for s in sides)))

        def ratio(value, to):
            return '' if not to else ' (%.2fx)' % (value / to)

        row('ingest tracks/s, best of %d (x SQLite)' % args.rounds,
            lambda r: '%.0f%s' % (r['ingest'], ratio(
                r['ingest'], base and base['ingest'])))
        if args.rounds > 1:
            row('ingest tracks/s, each round', lambda r: ' / '.join(
                '%.0f' % x for x in r['ingest_rounds']))
        row('records stored per track', lambda r: _f(
            r.get('stores_per_track'), '%.3f'))
        row('pickle bytes stored per track', lambda r: _f(
            r.get('stored_bytes_per_track'), '%.0f'))
        row('bytes/track on disk, before pack', lambda r: '%.0f' % (
            r['bytes_per_track']))
        row('bytes/track after pack (x SQLite)', lambda r: '%.0f%s' % (
            r['bytes_per_track_packed'], ratio(
                r['bytes_per_track_packed'],
                base and base['bytes_per_track_packed'])))
        row('peak RSS of the process, MB', lambda r: '%.0f' % r['rss_mb'])
        for key, label in (
                ('last_first', 'cold last track, first call'),
                ('last_upper', 'cold last track, upper nodes loaded'),
                ('user_first', "cold one user's tracks, first call"),
                ('user_upper', "cold one user's tracks, upper nodes "
                               'loaded')):
            row(label + ': records loaded mean (max)', lambda r: (
                '%.1f (%d)' % (r['cold_loads'][key]['mean'],
                               r['cold_loads'][key]['max'])
                if 'cold_loads' in r else '–'))
            unit, scale = ('µs', 1) if key.startswith('last') else ('ms',
                                                                    1e3)
            row(label + ': mean / p50 %s' % unit, lambda r: '%s / %s' % (
                _t(r['cold'][key]['mean'] / scale),
                _t(r['cold'][key]['p50'] / scale)))
            if key.startswith('user'):
                row(label + ': of which in the cyclic GC, mean ms',
                    lambda r: _t(r['cold_gc'][key]['mean'] / 1e3)
                    if 'cold_gc' in r else '–')
        row('warm last track: mean / p50 µs', lambda r: '%s / %s' % (
            _t(r['warm']['last']['mean']), _t(r['warm']['last']['p50'])))
        row("warm one user's tracks: mean ms", lambda r: _t(
            r['warm']['user']['mean'] / 1e3))
        row("warm one user's tracks: in the cyclic GC, ms per call "
            '(collections of generation 0 / 1 / 2)', lambda r: (
                '%s (%s)' % (_t(r['warm_gc']['user']['us_per_call'] / 1e3),
                             ' / '.join(str(n) for n in
                                        r['warm_gc']['user']['collections']))
                if 'warm_gc' in r else '–'))
        row('objects tracked by the cyclic GC at the warm reads',
            lambda r: '{:,}'.format(r['gc_objects'])
            if 'gc_objects' in r else '–')
        # An update is one commit, so mostly an fsync: the median says
        # more than the mean on a disk that others share.
        row('update x100: mean / p50 ms per update (p50 x current)',
            lambda r: '%s / %s%s' % (
                _t(r['update']['mean'] / 1e3), _t(r['update']['p50'] / 1e3),
                ratio(r['update']['p50'], cur and cur['update']['p50'])))
        row('update: records / kB stored per update', lambda r: (
            '%.1f / %.1f' % (r['update_stores'], r['update_bytes'] / 1e3)
            if 'update_stores' in r else '–'))
        row("tracks per user read", lambda r: '%.0f' % r['tracks_per_user'])
        lines.append('')
        if 'H' in res:
            h = res['H']
            lines += ['H: of its %.1f s ingest, %.1f s were compaction.'
                      % (h['ingest_s'], h['compaction_s']), '']
        if 'floor' in res:
            lines += ['Floor (one tiny persistent object per track, one '
                      'LOBTree, no index), same run: %.0f tracks/s%s.'
                      % (res['floor']['ingest'],
                         ratio(res['floor']['ingest'],
                               base and base['ingest'])), '']
    lines += ['Columns: ' + '; '.join('%s = %s' % (s, results[args.modes[0]]
                                                   [s]['label'])
                                      for s in args.sides
                                      if s in results[args.modes[0]]) + '.',
              '']
    return lines


def command_line(args):
    words = ['benchmarks/layout_prototypes.py', '--tracks', args.tracks,
             '--users', args.users, '--tasks', args.tasks,
             '--samples', args.samples, '--rounds', args.rounds,
             '--sides'] + args.sides + ['--modes'] + args.modes
    if args.floor:
        words.append('--floor')
    if getattr(args, 'cache_mb', 0):       # runs saved before the option
        words += ['--cache-mb', args.cache_mb]
    if 'H' in args.sides or any(s.startswith('C') for s in args.sides):
        words += ['--page', args.page]
    if 'H' in args.sides:
        words += ['--tail', args.tail, '--compact-every', args.compact_every]
    return ' '.join(str(w) for w in words)


# The consistency check

def check(seed=3, count=3000):
    """The prototypes against a plain model: random seconds (out of order,
    ties), updates, compaction, every record through a pickle and back."""
    rnd = random.Random(seed)
    db = ZODB.DB(None)
    conn = db.open()
    root = conn.root()
    stores = {'A': models.ClusteredRows(), 'B': models.ArrivalRows(),
              'C': models.PagedRows(tail=8, page=5)}
    hybrid = models.PagedRows(tail=8, page=5)
    arrival = models.ArrivalRows()
    root.update(stores, H=hybrid, arrival=arrival)
    transaction.commit()
    model, added = {}, {}      # num -> [key, ts, data]; H has no updates
    for i in range(1, count + 1):
        ts = 1000 + rnd.randrange(200)
        if model and rnd.random() < 0.1:
            key = rnd.choice(sorted({k for k, t, d in model.values()}))
            num = max((t, n) for n, (k, t, d) in model.items()
                      if k == key)[1]
            for name, store in stores.items():
                got = store.update_last(key[1], key[2], key[0], {'u': i}, ts)
                assert got == num, (name, got, num)
            model[num][1:] = [ts, dict(model[num][2], u=i)]
            continue
        task, user = 'task%d' % rnd.randrange(3), 'user%d' % rnd.randrange(5)
        data = {'i': i, 'x': 'y' * rnd.randrange(20)}
        nums = {s.add(task, user, ts, data) for s in stores.values()}
        nums.add(arrival.add(task, user, ts, data))
        assert len(nums) == 1, nums
        num = nums.pop()
        key = (user, task, stores['A'].run_of(task))
        model[num], added[num] = [key, ts, data], [key, ts, data]
        if i % 97 == 0:
            models.compact(arrival, hybrid, arrival.allocated())
        if i % 50 == 0:
            transaction.commit()
            conn.cacheMinimize()
    models.compact(arrival, hybrid, models.KEY_END)
    transaction.commit()
    conn.cacheMinimize()
    stores['H'] = hybrid
    for name, store in stores.items():
        rows = added if name == 'H' else model
        for num, (key, ts, data) in rows.items():
            assert store.get(num) == data, (name, num)
        for key in {k for k, t, d in rows.values()}:
            ts, num = max((t, n) for n, (k, t, d) in rows.items() if k == key)
            got = store.last(key[1], key[2], key[0])
            assert got == (num, rows[num][2]), (name, key, got)
        for user in {k[0] for k, t, d in rows.values()}:
            want = sorted((n, d) for n, (k, t, d) in rows.items()
                          if k[0] == user)
            assert store.user_rows(user) == want, (name, user)
        assert len(store) == len(rows), (name, len(store), len(rows))
    pages = [sum(len(c._pages) for c in s._combos.values())
             for s in (stores['C'], hybrid)]
    print('check passed: %d tracks, %d updates; sealed pages: C %d, H %d'
          % (len(model), count - len(model), pages[0], pages[1]))
    conn.close()
    db.close()


# Running it all

def run_child(args, side, mode, ingest_only):
    out = os.path.join(args.var, 'layout-%s-%s.json' % (side, mode))
    command = [sys.executable, os.path.abspath(__file__), '--child', side,
               '--mode', mode, '--out', out, '--tracks', str(args.tracks),
               '--users', str(args.users), '--tasks', str(args.tasks),
               '--samples', str(args.samples),
               '--page', str(args.page), '--tail', str(args.tail),
               '--compact-every', str(args.compact_every),
               '--cache-mb', str(args.cache_mb), '--var', args.var]
    subprocess.run(command + (['--ingest-only'] if ingest_only else []),
                   check=True)
    with open(out) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tracks', type=int, default=200_000)
    parser.add_argument('--users', type=int, default=None,
                        help='default: tracks / 1,000 (min. 20)')
    parser.add_argument('--samples', type=int, default=20,
                        help='cold reads per kind (one reopen each)')
    parser.add_argument('--quick', action='store_true',
                        help='50,000 tracks, 6 samples')
    parser.add_argument('--tasks', type=int, default=20,
                        help='1 makes every user one big combination')
    parser.add_argument('--sides', nargs='+', default=list(DEFAULT_SIDES),
                        help='of %s, C<tail> for any tail (default: %s)'
                        % (', '.join(SIDES), ' '.join(DEFAULT_SIDES)))
    parser.add_argument('--modes', nargs='+', default=['sessions', 'uniform'],
                        choices=['sessions', 'uniform'])
    parser.add_argument('--floor', action='store_true',
                        help="also storage_bench's one-record-per-track "
                        'floor')
    parser.add_argument('--page', type=int, default=256,
                        help="C's rows per sealed page")
    parser.add_argument('--tail', type=int, default=64,
                        help="H's tail (C's is in its name)")
    parser.add_argument('--compact-every', type=int, default=20_000)
    parser.add_argument('--cache-mb', type=int, default=0,
                        help="bound the ZODB cache's estimated size too "
                        '(cache_size_bytes)')
    parser.add_argument('--var', default=os.path.join(HERE, 'var'))
    parser.add_argument('--rounds', type=int, default=2,
                        help='ingest runs per side, the best counts; '
                        'rounds after the first only ingest')
    parser.add_argument('--check', action='store_true')
    parser.add_argument('--ingest-only', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--mode', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    parser.add_argument('--report', metavar='JSON',
                        help='print the report of a saved run again')
    args = parser.parse_args()
    if args.check:
        check()
        return
    if args.report:
        print_saved(args.report, report)
        return
    if args.quick:
        args.tracks, args.samples = 50_000, 6
    if args.users is None:
        args.users = max(20, args.tracks // 1000)
    if args.child:
        result = (floor_rate(args) if args.child == 'floor'
                  else measure(args))
        with open(args.out, 'w') as f:
            json.dump(result, f)
        return
    os.makedirs(args.var, exist_ok=True)
    started = time.time()
    meta = {'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
            'machine': machine(),
            'load': ', '.join('%.2f' % x for x in os.getloadavg())}
    results = {mode: {} for mode in args.modes}
    sides = list(args.sides) + (['floor'] if args.floor else [])
    turn = 0
    for round in range(args.rounds):
        for mode in args.modes:
            # Every other turn backwards: no side always runs first.
            order = sides[::-1] if turn % 2 else sides
            turn += 1
            for side in order:
                print('  round %d: %s / %s' % (round + 1, mode, side),
                      file=sys.stderr, flush=True)
                result = run_child(args, side, mode, ingest_only=round > 0)
                kept = results[mode].setdefault(side, result)
                kept.setdefault('ingest_rounds', []).append(result['ingest'])
                kept['ingest'] = max(kept['ingest_rounds'])
    meta['minutes'] = (time.time() - started) / 60
    lines = report(args, results, meta)
    print('\n'.join(lines))
    save_run(os.path.join(args.var, 'layout-last-run'), args, results, meta,
             lines)


if __name__ == '__main__':
    main()

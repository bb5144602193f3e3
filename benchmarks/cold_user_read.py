"""Cold read of one user's tracks, TrackingStorage against SQLite.

    .venv/bin/python benchmarks/cold_user_read.py [--tracks 200000]
        [--users 200] [--reads 20] [--rounds 3] [--src OTHER_SRC ...]

The one figure issue 8 still asked for: one user's ~1,000 tracks read
right after reopening the database (ZODB: a new connection and cache,
then one unrelated ``getLastUserTrack`` to load the shared upper nodes;
SQLite: a new connection), as ``storage_bench.cold_reads`` measures it,
in a quicker run. Both databases are built once (sessions workload,
packed) in ``--var``; then every side reads the same users in turns, in
processes of their own, round after round, so that the shared machine's
drift hits every side alike. ``--src`` adds a side that runs the library
found there (e.g. ``git archive be9e121 src | tar -x -C /tmp/base`` for
/tmp/base/src) on the same database.

Reported per side: median and mean time per read (ms), the time inside
the cyclic garbage collector, records loaded, and the ratio to SQLite.
"""

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def build(args):
    """Build the side's database in ``args.var`` (a directory of its own
    per side: each library writes its own layout) unless it is there;
    return what the readers need to know of it."""
    import storage_bench as sb
    os.makedirs(args.var, exist_ok=True)
    marker = os.path.join(args.var, 'cold-user-read.json')
    if os.path.exists(marker):
        with open(marker) as f:
            meta = json.load(f)
        if (meta['tracks'], meta['users'], meta['library']) == (
                args.tracks, args.users, _library()):
            return meta
    for name in os.listdir(args.var):
        if name.startswith(('tracking.', 'tracking-')):
            os.remove(os.path.join(args.var, name))
    seen = set()
    run = None
    sides = (sb.SQLiteSide(args.var) if args.side == 'sqlite'
             else sb.ZODBSide(args.var),)
    for side in sides:
        for i, (task, user, ts, data) in enumerate(sb.workload(
                args.tracks, 'sessions', users=args.users), 1):
            side.add(task, user, ts, data)
            seen.add((task, user))
            if i % sb.BATCH == 0:
                side.commit(i)
        side.finish()
        side.pack()
        run = side.run_of('task000')
        side.close()
    users = sorted({user for task, user in seen})
    meta = {'tracks': args.tracks, 'users': args.users, 'userNames': users,
            'pair': sorted(seen)[0], 'run': run, 'library': _library()}
    with open(marker, 'w') as f:
        json.dump(meta, f)
    return meta


def _library():
    """A digest of the library's source this process runs (SQLite's side
    too, for simplicity): a database is built again when it changed."""
    import hashlib
    import cybertools_tracking
    digest = hashlib.sha256()
    top = os.path.dirname(cybertools_tracking.__file__)
    for folder, dirs, files in sorted(os.walk(top)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith('.py'):
                with open(os.path.join(folder, name), 'rb') as f:
                    digest.update(f.read())
    return digest.hexdigest()[:16]


def _records(self, user):
    """``user_tracks`` through ``queryRecords``: TrackRecord tuples read
    from the rows, no Track view made."""
    return [(r.trackId, dict(r.data))
            for r in self.storage.queryRecords(userName=user)]


def child(args):
    """One side's reads; prints a JSON line of per-read figures."""
    import storage_bench as sb
    from _measure import GCMeter
    meta = build(args)
    meta['read'] = json.loads(sys.stdin.read())
    if args.api == 'records':
        sb.ZODBSide.user_tracks = _records
    if args.side == 'sqlite':
        side = sb.SQLiteSide.__new__(sb.SQLiteSide)
        side.path = os.path.join(args.var, 'tracking.sqlite')
        import sqlite3
        side.db = sqlite3.connect(side.path)
    else:
        side = sb.ZODBSide.__new__(sb.ZODBSide)
        side.path = os.path.join(args.var, 'tracking.fs')
        side._open()
        side.storage = None
        side.reopen()
    meter = GCMeter()
    task, user = meta['pair']
    times, in_gc, loads, sizes = [], [], [], []
    for name in meta['read']:
        side.reopen()
        gc.collect()
        side.last(task, meta['run'], user)         # the upper nodes
        counts = side.counts()
        meter.reset()
        meter.on = True
        t0 = time.perf_counter()
        result = side.user_tracks(name)
        elapsed = time.perf_counter() - t0
        meter.on = False
        if counts is not None:
            loads.append(side.counts()[0] - counts[0])
        times.append(elapsed * 1e3)
        in_gc.append(meter.seconds * 1e3)
        sizes.append(len(result))
    meter.close()
    side.close()
    print(json.dumps({'times': times, 'gc': in_gc, 'loads': loads,
                      'sizes': sizes}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tracks', type=int, default=200_000)
    parser.add_argument('--users', type=int, default=200)
    parser.add_argument('--reads', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--src', action='append', default=[],
                        help='another library to read the same database')
    parser.add_argument('--var', default=os.path.join(HERE, 'var',
                                                      'cold-user-read'))
    parser.add_argument('--api', choices=('query', 'records', 'both'),
                        default='both', help='how the ZODB sides read: '
                        'storage.query (Track views), storage.queryRecords'
                        ' (TrackRecord tuples), or both (default)')
    parser.add_argument('--side', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        return child(args)
    # The user names the workload makes (the build of each side checks).
    import storage_bench as sb
    names = sorted({user for task, user, ts, data in sb.workload(
        args.tracks, 'sessions', users=args.users)})
    step = max(1, len(names) // args.reads)
    read = names[1::step][:args.reads]
    apis = ['query', 'records'] if args.api == 'both' else [args.api]
    sides = [('sqlite', None, None)] + [
        ('%s, %s' % (label, api), src, api)
        for label, src in [('this checkout', None)] + [
            (src, src) for src in args.src]
        for api in apis]
    results = {label: {'times': [], 'gc': [], 'loads': [], 'sizes': []}
               for label, src, api in sides}
    # A database per library (the label without the api).
    libraries = [None] + list(args.src)
    plain = os.environ.get('PYTHONPATH')
    for round in range(args.rounds):
        for label, src, api in (sides if round % 2 == 0 else sides[::-1]):
            env = dict(os.environ)
            if src:
                env['PYTHONPATH'] = os.pathsep.join(
                    p for p in (os.path.abspath(src), plain) if p)
            var = os.path.join(args.var, 'sqlite' if api is None else
                               'library-%d' % libraries.index(src))
            out = subprocess.run(
                [sys.executable, __file__, '--side',
                 'sqlite' if api is None else 'zodb', '--var', var,
                 '--api', api or 'query',
                 '--tracks', str(args.tracks), '--users', str(args.users)],
                input=json.dumps(read), capture_output=True, text=True,
                env=env)
            if out.returncode:
                sys.exit('%s failed:\n%s' % (label, out.stderr))
            out = out.stdout
            for key, values in json.loads(out).items():
                results[label][key].extend(values)
    base = statistics.median(results['sqlite']['times'])
    print('%d tracks, %d users, %d reads x %d rounds, load %s'
          % (args.tracks, args.users, args.reads, args.rounds,
             ', '.join('%.2f' % x for x in os.getloadavg())))
    print('| side | tracks/read | median ms | mean ms | in GC ms (mean)'
          ' | records loaded | x SQLite (median) |')
    print('|---|---|---|---|---|---|---|')
    for label, src, api in sides:
        r = results[label]
        median = statistics.median(r['times'])
        print('| %s | %.0f | %.2f | %.2f | %.2f | %s | %.2fx |' % (
            label, statistics.mean(r['sizes']), median,
            statistics.mean(r['times']), statistics.mean(r['gc']),
            '%.1f' % statistics.mean(r['loads']) if r['loads'] else '–',
            median / base))


if __name__ == '__main__':
    main()

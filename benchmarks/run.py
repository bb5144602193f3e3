"""Run the benchmarks: ``.venv/bin/python benchmarks/run.py [--quick]``.

Four parts, all by default (``--only`` picks):

``storage``
    ingest and lookups, TrackingStorage on a FileStorage against SQLite
    with equivalent indexes (``storage_bench.py``);
``goals``
    the goal layer against dictrack 2.0.6, installed in a venv of its own
    under ``benchmarks/var/`` (``goals_bench.py``);
``concurrency``
    1, 2 and 4 writer processes on ZEO and on PostgreSQL
    (``concurrency_bench.py``; needs the local PostgreSQL);
``threads``
    1 and 8 writer threads of one process, a connection each, on a
    FileStorage and on ZEO (``threads_bench.py``).

Prints a Markdown report and writes it, with the raw figures as JSON, to
``benchmarks/var/`` (not versioned). Copy a report worth keeping into
``RESULTS.md`` with a line on what changed.
"""

import argparse
import datetime
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import concurrency_bench  # noqa: E402
import goals_bench  # noqa: E402
import storage_bench  # noqa: E402
import threads_bench  # noqa: E402


machine = goals_bench.machine


def storage_report(args, out):
    big, small = args.tracks, 10_000
    checkpoints = sorted({c for c in (10_000, 100_000, 250_000, 500_000,
                                      750_000, 1_000_000, big) if c <= big})
    results = {}
    for mode in args.modes:
        for cls in (storage_bench.ZODBSide, storage_bench.SQLiteSide):
            for count in (small, big):
                key = '%s/%s/%d' % (cls.__name__, mode, count)
                print('  running', key, file=sys.stderr, flush=True)
                results[key] = storage_bench.run_side(
                    cls, os.path.join(args.var, 'work'), count, mode,
                    checkpoints if count == big else [count])
    lines = ['### Storage: %d tracks, commit every %d' % (big,
                                                          storage_bench.BATCH),
             '']
    for mode in args.modes:
        z = results['ZODBSide/%s/%d' % (mode, big)]
        s = results['SQLiteSide/%s/%d' % (mode, big)]
        zs = results['ZODBSide/%s/%d' % (mode, small)]
        ss = results['SQLiteSide/%s/%d' % (mode, small)]
        same = z['answers'] == s['answers'] and zs['answers'] == ss['answers']
        lines += ['Workload `%s` (answers identical on both sides: %s)'
                  % (mode, same), '',
                  '| | TrackingStorage | SQLite |', '|---|---|---|']
        for c in sorted(z['rates']):
            lines.append('| ingest tracks/s, stretch ending at %d | %.0f | %.0f |'
                         % (c, z['rates'][c], s['rates'][c]))
        lines.append('| ingest tracks/s, whole run | %.0f | %.0f |'
                     % (z['overall'], s['overall']))
        lines.append('| bytes per track on disk | %.0f | %.0f |'
                     % (z['size'] / big, s['size'] / big))
        for label, key in (('last track', 'last'),
                           ("one user's tracks", 'user_tracks')):
            for state in ('warm', 'cold'):
                for n, zr, sr in ((small, zs, ss), (big, z, s)):
                    a, b = zr[key + '_' + state], sr[key + '_' + state]
                    lines.append(
                        '| %s, %s, at %d: mean / p99 µs | %.0f / %.0f | %.0f / %.0f |'
                        % (label, state, n, a['mean'], a['p99'],
                           b['mean'], b['p99']))
        lines.append("| tracks per user at %d | %.0f | %.0f |"
                     % (big, z['tracks_per_user'], s['tracks_per_user']))
        ratio = (z['last_warm']['mean'] / zs['last_warm']['mean'])
        lines += ['', 'Last track, warm: %d tracks vs %d: %.2fx; vs SQLite '
                  'at %d: %.2fx.' % (big, small, ratio, big,
                                     z['last_warm']['mean']
                                     / s['last_warm']['mean']), '']
    rate = storage_bench.floor(os.path.join(args.var, 'work'),
                               min(big, 200_000))
    lines += ['The floor: one tiny persistent object per track in one '
              'LOBTree, no indexes, %d tracks: %.0f tracks/s.'
              % (min(big, 200_000), rate), '']
    for key, value in results.items():
        value.pop('answers', None)
    out['storage'] = results
    out['floor'] = rate
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--tracks', type=int, default=1_000_000)
    parser.add_argument('--quick', action='store_true',
                        help='100,000 tracks instead of a million')
    parser.add_argument('--modes', nargs='+', default=['sessions', 'uniform'],
                        choices=['sessions', 'uniform'])
    parser.add_argument('--only', nargs='+',
                        default=['storage', 'goals', 'concurrency',
                                 'threads'],
                        choices=['storage', 'goals', 'concurrency',
                                 'threads'])
    parser.add_argument('--var', default=os.path.join(HERE, 'var'))
    args = parser.parse_args()
    if args.quick:
        args.tracks = 100_000
    os.makedirs(args.var, exist_ok=True)
    stamp = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
    out = {'date': stamp, 'machine': machine()}
    lines = ['## %s' % stamp, '', 'Machine: %s' % out['machine'], '']
    if 'storage' in args.only:
        lines += storage_report(args, out)
    if 'goals' in args.only:
        lines += goals_bench.report(
            {'items': 20_000 if args.quick else 100_000, 'var': args.var,
             'repeat': 1 if args.quick else 2}, out=out)
        lines.append('')
    if 'concurrency' in args.only:
        lines += concurrency_bench.report(
            total=4_000 if args.quick else 20_000, var=args.var, out=out,
            prefill=10_000 if args.quick else concurrency_bench.PREFILL)
    if 'threads' in args.only:
        lines += threads_bench.report(
            total=1_000 if args.quick else threads_bench.TOTAL, var=args.var,
            out=out, rounds=1 if args.quick else threads_bench.ROUNDS)
    print(goals_bench.save_report(args.var, 'last-run', lines, out))


if __name__ == '__main__':
    main()

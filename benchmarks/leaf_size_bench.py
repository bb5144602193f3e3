"""The bucket size of the combination trees: ingest and bytes against reads.

    python benchmarks/leaf_size_bench.py --sizes 60 90 120 180 [options]

``store.RowTree.max_leaf_size`` is how many seconds of one combination's
rows one record holds. Bigger buckets mean fewer records for a user's
tracks (a cold read loads fewer), and bigger records rewritten when a
track is added (ingest pickles and writes more, most of all in the
uniform workload, where consecutive tracks go to different
combinations). For each size (a process of its own, the class attribute
set before anything is stored) and workload: an ingest of
``storage_bench.workload`` (commit every 1,000), tracks/s, pickle bytes
stored per track, bytes per track on disk before and after a pack, and
the records a cold read of one user's tracks loads (mean of ``--samples``
users, each right after reopening). Sizes and workloads take turns;
``--rounds`` ingests each, the best rate counts. By default a
combination gets ~50 tracks (``--users`` = tracks / 1,000), the shape of
1M tracks of 1,000 users.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def child(args):
    from cybertools_tracking import store
    import storage_bench
    store.RowTree.max_leaf_size = args.size
    directory = os.path.join(args.var, 'leaf-%d-%s' % (args.size, args.mode))
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    side = storage_bench.ZODBSide(directory)
    seen = set()
    out = storage_bench.ingest(side, args.tracks, args.mode, args.users,
                               args.tasks, seen)
    if not args.ingest_only:
        out.update(storage_bench.pack(side, args.tracks))
        users = sorted({user for task, user in seen})
        loads = []
        for user in random.Random(3).sample(users, args.samples):
            side.reopen()
            before = side.counts()[0]
            side.user_tracks(user)
            loads.append(side.counts()[0] - before)
        out['user_loads'] = sum(loads) / len(loads)
        out['user_loads_max'] = max(loads)
    side.close()
    shutil.rmtree(directory, ignore_errors=True)
    with open(args.out, 'w') as f:
        json.dump(out, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[60, 90, 120, 180])
    parser.add_argument('--tracks', type=int, default=200_000)
    parser.add_argument('--users', type=int, default=None)
    parser.add_argument('--tasks', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--samples', type=int, default=10)
    parser.add_argument('--modes', nargs='+', default=['sessions', 'uniform'])
    parser.add_argument('--var', default=os.path.join(HERE, 'var'))
    parser.add_argument('--size', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--mode', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    parser.add_argument('--ingest-only', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.users is None:
        args.users = max(20, args.tracks // 1000)
    if args.size:
        child(args)
        return
    os.makedirs(args.var, exist_ok=True)
    started = time.time()
    results = {}
    turn = 0
    for round in range(args.rounds):
        for mode in args.modes:
            order = args.sizes[::-1] if turn % 2 else args.sizes
            turn += 1
            for size in order:
                print('  round %d: %s / %d' % (round + 1, mode, size),
                      file=sys.stderr, flush=True)
                out = os.path.join(args.var, 'leaf-%d-%s.json' % (size, mode))
                command = [sys.executable, os.path.abspath(__file__),
                           '--size', str(size), '--mode', mode, '--out', out,
                           '--tracks', str(args.tracks), '--users',
                           str(args.users), '--tasks', str(args.tasks),
                           '--samples', str(args.samples), '--var', args.var]
                subprocess.run(command + (['--ingest-only'] if round else []),
                               check=True)
                with open(out) as f:
                    result = json.load(f)
                kept = results.setdefault((mode, size), result)
                kept.setdefault('rates', []).append(result['ingest'])
    print('`benchmarks/leaf_size_bench.py --tracks %d --users %d --rounds %d '
          '--sizes %s` (%.0f minutes, load average at the end %s)\n'
          % (args.tracks, args.users, args.rounds,
             ' '.join(map(str, args.sizes)), (time.time() - started) / 60,
             ', '.join('%.1f' % x for x in os.getloadavg())))
    print('| workload | leaf size | ingest tracks/s, each round | x size %d '
          '(best) | pickle bytes stored per track | bytes/track before pack '
          '| after pack | records loaded, cold user read, mean (max) |'
          % args.sizes[0])
    print('|---|---|---|---|---|---|---|---|')
    for mode in args.modes:
        base = max(results[(mode, args.sizes[0])]['rates'])
        for size in args.sizes:
            r = results[(mode, size)]
            print('| %s | %d | %s | %.2fx | %.0f | %.0f | %.0f | %.1f (%d) |'
                  % (mode, size, ' / '.join('%.0f' % x for x in r['rates']),
                     max(r['rates']) / base, r['stored_bytes_per_track'],
                     r['bytes_per_track'], r['bytes_per_track_packed'],
                     r['user_loads'], r['user_loads_max']))


if __name__ == '__main__':
    main()

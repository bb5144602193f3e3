"""A task template's backfill: one transaction against batches.

``python benchmarks/task_backfill_bench.py [--tracks N] [--users U]
[--batch B] [--rounds R] [--var DIR]``

Builds one FileStorage of ``N`` tracks (default 200,000): 6 in 7 in
the task ``course``, spread over ``U`` users (default 2,000), the rest in
another task.  Then, in each round, each side runs in a fresh process on
a fresh copy of that file, the two sides' order alternating:

- ``one``: ``add_task_goal('course', tracker, backfill=True)`` and one
  commit (what there was before ``start_task_backfill``);
- ``batched``: ``start_task_backfill(..., batch_size=B)`` (default
  10,000), then ``continue_task_backfill`` and a commit per batch, until
  the job is finished.

Each child reports the seconds of the backfill (commits included) and
its peak RSS before and after it (``ru_maxrss``); the parent prints the
medians and the ratios batched / one, and checks that both sides give
every user's copy the same progress.  The tracker is an accumulation
with three stages, so copies complete stages (history records, outbox
events) as they would in use.  Only ratios within one run mean anything
on a shared machine.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _measure import machine, peak_rss_mb  # noqa: E402

T0 = 1_700_000_000
TASK = 'course'


def tracker():
    from cybertools_tracking.goals import AccumulationTracker, KeyValueGE
    return AccumulationTracker('points', [KeyValueGE('data.score', 5)],
                               [50, 300, 10 ** 9], key='data.score')


def build(path, tracks, users):
    import transaction
    from cybertools_tracking.db import get_storage, open_db
    db = open_db(path)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    storage = get_storage(conn)
    for n in range(tracks):
        task = TASK if n % 7 else 'other'
        storage.saveUserTrack(task, 0, 'user-%d' % (n % users),
                              {'score': n % 10}, timeStamp=T0 + n)
        if (n + 1) % 5_000 == 0:
            tm.commit()
            conn.cacheGC()
    tm.commit()
    conn.close()
    db.close()


def child(side, path, batch):
    import transaction
    from cybertools_tracking.db import get_storage, open_db
    from cybertools_tracking.tracked_goals import task_group
    db = open_db(path)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    goals = get_storage(conn, create=False).goals
    users = sorted(get_storage(conn, create=False).getUserNames(TASK))
    tm.abort()
    before = peak_rss_mb()
    start = time.perf_counter()
    if side == 'one':
        goals.add_task_goal(TASK, tracker(), backfill=True)
        tm.commit()
        transactions = 1
    else:
        goals.start_task_backfill(TASK, tracker(), batch_size=batch)
        tm.commit()
        transactions = 1
        while goals.task_backfill_jobs():
            goals.continue_task_backfill(TASK, 'points')
            tm.commit()
            transactions += 1
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    progress = [goals.get_trackers(task_group(TASK, user),
                                   include_completed=True)[0].progress
                for user in users]
    tm.abort()
    conn.close()
    db.close()
    print(json.dumps({'seconds': seconds, 'before': before, 'peak': peak,
                      'transactions': transactions,
                      'progress': sum(progress), 'copies': len(progress)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tracks', type=int, default=200_000)
    parser.add_argument('--users', type=int, default=2_000)
    parser.add_argument('--batch', type=int, default=10_000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--var', default=None,
                        help='folder for the files (default: a temporary '
                             'one, removed after)')
    parser.add_argument('--child', nargs=2, metavar=('SIDE', 'PATH'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], args.batch)
    var = args.var or tempfile.mkdtemp(prefix='task-backfill-')
    os.makedirs(var, exist_ok=True)
    base = os.path.join(var, 'base.fs')
    try:
        start = time.perf_counter()
        build(base, args.tracks, args.users)
        print('built %d tracks of %d users in %.0f s; %s'
              % (args.tracks, args.users, time.perf_counter() - start,
                 machine()), flush=True)
        figures = {'one': [], 'batched': []}
        for round_ in range(args.rounds):
            sides = ['one', 'batched'] if round_ % 2 == 0 \
                else ['batched', 'one']
            for side in sides:
                path = os.path.join(var, side + '.fs')
                for suffix in ('', '.index', '.lock', '.tmp'):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
                shutil.copy(base, path)
                out = subprocess.run(
                    [sys.executable, __file__, '--child', side, path,
                     '--batch', str(args.batch)],
                    check=True, capture_output=True, text=True).stdout
                got = json.loads(out.strip().splitlines()[-1])
                figures[side].append(got)
                print('round %d %-7s %6.2f s  peak RSS %6.1f MB (+%.1f)  '
                      '%d transactions  load %.2f'
                      % (round_ + 1, side, got['seconds'], got['peak'],
                         got['peak'] - got['before'], got['transactions'],
                         os.getloadavg()[0]), flush=True)
        same = len({(f['progress'], f['copies'])
                    for side in figures for f in figures[side]}) == 1
        med = {side: {key: statistics.median(f[key] for f in figures[side])
                      for key in ('seconds', 'peak')}
               for side in figures}
        growth = {side: statistics.median(f['peak'] - f['before']
                                          for f in figures[side])
                  for side in figures}
        print()
        print('| | seconds (median of %d) | peak RSS MB | RSS growth MB '
              '| transactions |' % args.rounds)
        print('|---|---|---|---|---|')
        for side in ('one', 'batched'):
            print('| %s | %.2f | %.1f | %.1f | %d |'
                  % (side, med[side]['seconds'], med[side]['peak'],
                     growth[side], figures[side][0]['transactions']))
        print('| batched / one | %.2f | %.2f | %.2f | |'
              % (med['batched']['seconds'] / med['one']['seconds'],
                 med['batched']['peak'] / med['one']['peak'],
                 growth['batched'] / growth['one']
                 if growth['one'] else float('nan')))
        print('same progress on both sides: %s (%d copies, %d in all)'
              % ('yes' if same else 'NO', figures['one'][0]['copies'],
                 figures['one'][0]['progress']))
    finally:
        if args.var is None:
            shutil.rmtree(var, ignore_errors=True)


if __name__ == '__main__':
    main()

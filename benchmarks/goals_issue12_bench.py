"""Issue 12 benchmarks: backfill, leaderboards, history.

``.venv/bin/python benchmarks/goals_issue12_bench.py [--tracks N]
[--groups N] [--outcomes N] [--only backfill|leaderboard|history]``

``backfill``
    A FileStorage of N stored tracks (default 1,000,000): 1,000 users, 10
    tasks, one track per user and task in turn, data ``{'score': 0..9}``.
    Then, each measured cold (database just opened) and warm (the best of
    two more runs in the same connection, each after an abort; the
    connection's cache holds every track):

    - *template*: ``add_task_goal('task-3', tracker, backfill=True)``,
      the tracker counting ``data.score >= 5``: the query reads the one
      task's tracks (a tenth of the store) and feeds each user's copy;
    - *users*: ``add_tracker(user, tracker, backfill=True)`` for 100
      users, each reading that user's tracks (a thousandth each);
    - *full scan*: one tracker fed every stored track
      (``query(taskId='*')``), what a backfill costs when no index can
      narrow the range.

    The rate is tracks evaluated (read from the store and offered to the
    tracker) per second; the store holds N.
``leaderboard``
    A ``Leaderboard`` of N groups (default 100,000) in a FileStorage,
    committed; then, warm: ``update`` of a random group to a random score,
    ``rank`` of a random group, ``top(10)``, each the mean of 20,000 (top:
    2,000) calls.  Also the update through ``track`` (an evaluation that
    moves a tracker on a board against one without a board).
``history``
    A ``GoalHistory`` of N outcomes (default 1,000,000) over N / 100
    groups (10,000) in a FileStorage, committed every 10,000; then one group's last 100
    records, cold: the connection's cache emptied (``cacheMinimize``)
    before each of 200 queries of random groups; the median, the 95th
    percentile, the worst, and the records loaded per query.

Prints a Markdown report and writes it with the raw figures to
``benchmarks/var/issue12-last-run.{md,json}``.
"""

import argparse
import datetime
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import goals_bench  # noqa: E402

VAR = os.path.join(HERE, 'var')
USERS, TASKS = 1_000, 10
WARM_CACHE = 3_000_000   # objects in the connection cache for backfill
QUERIES = 200            # cold history queries


def _db(path, **kw):
    from cybertools_tracking.db import open_db
    return open_db(path, **kw)


# -- backfill ------------------------------------------------------------------

def build_store(path, count, log):
    import transaction
    from cybertools_tracking.db import get_storage
    db = _db(path)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    storage = get_storage(conn)
    tm.commit()
    start = time.perf_counter()
    t0 = 1_700_000_000
    for n in range(count):
        storage.saveUserTrack('task-%d' % ((n // USERS) % TASKS), 0,
                              'user-%d' % (n % USERS), {'score': n % 10},
                              timeStamp=t0 + n)
        if (n + 1) % 5_000 == 0:
            tm.commit()
            conn.cacheGC()
            if (n + 1) % 100_000 == 0:
                log('  backfill: %d tracks stored (%.0f/s)' % (
                    n + 1, (n + 1) / (time.perf_counter() - start)))
    tm.commit()
    seconds = time.perf_counter() - start
    conn.close()
    db.close()
    return seconds


def _timed_backfill(path, what, log):
    """Run backfill *what* cold, then warm; return figures of both."""
    import transaction
    from cybertools_tracking.db import get_storage
    from cybertools_tracking.goals import CountTracker, KeyValueGE
    from cybertools_tracking.goals.backfill import replay

    def tracker(name):
        return CountTracker(name, [KeyValueGE('data.score', 5)], 10 ** 9)

    # A cache that holds every track: "warm" means nothing is loaded.
    db = _db(path, cache_size=WARM_CACHE)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    storage = get_storage(conn, create=False)
    goals = storage.goals
    results = {}
    for run in ('cold', 'warm', 'warm'):
        start = time.perf_counter()
        if what == 'template':
            evaluated = goals.add_task_goal('task-3', tracker('t'),
                                            backfill=True)
        elif what == 'users':
            evaluated = sum(
                goals.add_tracker('user-%d' % u, tracker('u'),
                                  backfill=True)
                for u in range(0, USERS, USERS // 100))
        else:  # full scan: one tracker, every stored track
            goals.add_tracker('everyone', tracker('f'))
            [one] = goals.get_trackers('everyone')
            from cybertools_tracking.tracked_goals import _items
            # What backfill reads: records where the storage has them
            # (this version), tracks before.
            read = getattr(storage, 'queryRecords', storage.query)
            evaluated = replay(goals.registry, one,
                               _items(read(taskId='*')),
                               goals._dispatch)
        seconds = time.perf_counter() - start
        if run not in results or seconds < results[run]['seconds']:
            results[run] = {'evaluated': evaluated, 'seconds': seconds,
                            'rate': evaluated / seconds}
        log('  backfill %s %s: %d tracks in %.2f s' % (what, run, evaluated,
                                                      seconds))
        tm.abort()
    conn.close()
    db.close()
    return results


def run_backfill(count, var, log, keep):
    os.makedirs(var, exist_ok=True)
    path = os.path.join(var, 'issue12-store-%d.fs' % count)
    built = None
    if not os.path.exists(path):
        tmp = path + '.building'
        for leftover in (tmp, tmp + '.index', tmp + '.lock', tmp + '.tmp'):
            if os.path.exists(leftover):
                os.remove(leftover)
        built = build_store(tmp, count, log)
        for suffix in ('', '.index'):
            if os.path.exists(tmp + suffix):
                os.rename(tmp + suffix, path + suffix)
        for suffix in ('.lock', '.tmp'):
            if os.path.exists(tmp + suffix):
                os.remove(tmp + suffix)
    figures = {'tracks': count, 'build_seconds': built}
    for what in ('template', 'users', 'full'):
        figures[what] = _timed_backfill(path, what, log)
    if not keep:
        for suffix in ('', '.index', '.lock', '.tmp'):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    return figures


# -- leaderboard ---------------------------------------------------------------

def run_leaderboard(groups, var, log):
    import transaction
    from cybertools_tracking.goals import CountTracker, TrackingManager
    from cybertools_tracking.goals.leaderboard import Leaderboard
    tmp = tempfile.mkdtemp(prefix='board-', dir=var)
    try:
        db = _db(os.path.join(tmp, 'board.fs'))
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        rnd = random.Random(12)
        board = conn.root()['board'] = Leaderboard('points')
        start = time.perf_counter()
        for n in range(groups):
            board.update('user-%d' % n, rnd.randrange(10 ** 6))
            if (n + 1) % 10_000 == 0:
                tm.commit()
        tm.commit()
        build = time.perf_counter() - start
        names = ['user-%d' % rnd.randrange(groups) for _ in range(20_000)]
        scores = [rnd.randrange(10 ** 6) for _ in range(20_000)]
        for name in names[:2000]:      # warm the cache
            board.rank(name)
        figures = {'groups': groups, 'build_seconds': build}
        start = time.perf_counter()
        for name, score in zip(names, scores):
            board.update(name, score)
        figures['update_us'] = (time.perf_counter() - start) / len(names) * 1e6
        tm.commit()
        start = time.perf_counter()
        for name in names:
            board.rank(name)
        figures['rank_us'] = (time.perf_counter() - start) / len(names) * 1e6
        start = time.perf_counter()
        for _ in range(2000):
            board.top(10)
        figures['top10_us'] = (time.perf_counter() - start) / 2000 * 1e6
        tm.abort()
        # Through ``track``: the same evaluation with and without a board.
        for with_board in (False, True):
            manager = TrackingManager(conn)
            key = 'goals-%s' % with_board
            manager._home.root_key = key
            for n in range(2000):
                manager.add_tracker('g%d' % n, CountTracker('p', [], 10 ** 9))
            if with_board:
                manager.add_leaderboard('p')
            tm.commit()
            items = ['g%d' % rnd.randrange(2000) for _ in range(20_000)]
            start = time.perf_counter()
            for group in items:
                manager.track(group, {})
            figures['track_us_%s' % ('board' if with_board else 'plain')] = (
                (time.perf_counter() - start) / len(items) * 1e6)
            tm.commit()
        conn.close()
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log('  leaderboard: update %.1f us, rank %.1f us, top10 %.1f us' % (
        figures['update_us'], figures['rank_us'], figures['top10_us']))
    return figures


# -- history -------------------------------------------------------------------

def run_history(outcomes, var, log):
    import transaction
    from cybertools_tracking.goals.history import GoalHistory
    groups = max(1, outcomes // 100)    # 100 records a group on average
    tmp = tempfile.mkdtemp(prefix='history-', dir=var)
    try:
        db = _db(os.path.join(tmp, 'history.fs'))
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        history = conn.root()['history'] = GoalHistory()
        rnd = random.Random(12)
        start = time.perf_counter()
        t0 = 1_700_000_000
        for n in range(outcomes):
            history.record('user-%d' % rnd.randrange(groups), 'points',
                           'stage_completed', stage=n % 7 + 1,
                           progress=n, time=t0 + n, track_id='%07i' % n)
            if (n + 1) % 10_000 == 0:
                tm.commit()
                conn.cacheGC()
                if (n + 1) % 200_000 == 0:
                    log('  history: %d outcomes' % (n + 1))
        tm.commit()
        build = time.perf_counter() - start
        size = os.path.getsize(os.path.join(tmp, 'history.fs'))
        times = []
        found = []
        loads = []
        for _ in range(QUERIES):
            conn.cacheMinimize()
            conn.getTransferCounts(True)
            group = 'user-%d' % rnd.randrange(groups)
            start = time.perf_counter()
            records = history.query(group, limit=100)
            times.append(time.perf_counter() - start)
            loads.append(conn.getTransferCounts(True)[0])
            found.append(len(records))
        conn.close()
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures = {'outcomes': outcomes, 'groups': groups, 'build_seconds': build,
               'size': size, 'median_ms': statistics.median(times) * 1e3,
               'max_ms': max(times) * 1e3,
               'records_per_query': statistics.mean(found),
               'p95_ms': sorted(times)[int(len(times) * 0.95)] * 1e3,
               'loads_median': statistics.median(loads),
               'loads_max': max(loads), 'queries': len(times)}
    log('  history: median %.2f ms, p95 %.2f ms, worst %.2f ms; records '
        'loaded per query: median %s, most %s' % (
            figures['median_ms'], figures['p95_ms'], figures['max_ms'],
            figures['loads_median'], figures['loads_max']))
    return figures


# -- report --------------------------------------------------------------------

def report(figures, command, started, load):
    lines = ['### Issue 12: backfill, leaderboards, history', '',
             'Run %s on %s; load average %.2f at the start. Command: `%s`.'
             % (started, goals_bench.machine(), load, command), '']
    b = figures.get('backfill')
    if b:
        lines += ['Backfill over %s stored tracks (FileStorage; store built '
                  'in %s). Rate = tracks read and evaluated per second.'
                  % (format(b['tracks'], ','),
                     '%.0f s' % b['build_seconds'] if b['build_seconds']
                     else 'an earlier run'), '',
                  '| backfill | tracks evaluated | cold /s | warm /s |',
                  '|---|---|---|---|']
        titles = {'template': 'task template, index narrows to one task',
                  'users': '100 users, index narrows to each user',
                  'full': 'full scan, every stored track'}
        for what in ('template', 'users', 'full'):
            r = b[what]
            lines.append('| %s | %s | %s | %s |' % (
                titles[what], format(r['cold']['evaluated'], ','),
                format(round(r['cold']['rate']), ','),
                format(round(r['warm']['rate']), ',')))
        lines.append('')
    lb = figures.get('leaderboard')
    if lb:
        lines += ['Leaderboard of %s groups (FileStorage, warm): update '
                  '%.1f µs, rank %.1f µs, top(10) %.1f µs per call. '
                  '`track` of an item that moves a tracker: %.1f µs without '
                  'a board, %.1f µs with one.' % (
                      format(lb['groups'], ','), lb['update_us'],
                      lb['rank_us'], lb['top10_us'], lb['track_us_plain'],
                      lb['track_us_board']), '']
    h = figures.get('history')
    if h:
        lines += ['History of %s outcomes over %s groups (%.0f MB): one '
                  'group\'s last 100 records (%.0f found on average), cold '
                  '(cache emptied before each): median %.2f ms, p95 %.2f '
                  'ms, worst of %d %.2f ms; records loaded per query: '
                  'median %s, most %s.' % (
                      format(h['outcomes'], ','), format(h['groups'], ','),
                      h['size'] / 1e6, h['records_per_query'],
                      h['median_ms'], h['p95_ms'], h['queries'],
                      h['max_ms'], h['loads_median'], h['loads_max']), '']
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tracks', type=int, default=1_000_000)
    parser.add_argument('--groups', type=int, default=100_000)
    parser.add_argument('--outcomes', type=int, default=1_000_000)
    parser.add_argument('--only', action='append',
                        choices=('backfill', 'leaderboard', 'history'))
    parser.add_argument('--keep', action='store_true',
                        help='keep the backfill store in benchmarks/var for '
                             'the next run')
    parser.add_argument('--var', default=VAR)
    args = parser.parse_args()
    parts = args.only or ['backfill', 'leaderboard', 'history']

    def log(text):
        print(text, file=sys.stderr, flush=True)

    os.makedirs(args.var, exist_ok=True)
    started = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
    load = os.getloadavg()[0]
    figures = {}
    if 'backfill' in parts:
        figures['backfill'] = run_backfill(args.tracks, args.var, log,
                                           args.keep)
    if 'leaderboard' in parts:
        figures['leaderboard'] = run_leaderboard(args.groups, args.var, log)
    if 'history' in parts:
        figures['history'] = run_history(args.outcomes, args.var, log)
    command = 'python benchmarks/goals_issue12_bench.py ' + ' '.join(
        sys.argv[1:])
    text = goals_bench.save_report(args.var, 'issue12-last-run',
                                   report(figures, command.strip(), started,
                                          load), figures)
    print(text)


if __name__ == '__main__':
    main()

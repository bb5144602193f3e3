"""Many threads of one process writing at once (an app server's workers).

For 1 and THREADS threads in one process, each with a connection and a
transaction manager of its own: the tracks per second of all threads
together (all tracks over the time from the common start to the last
thread's end) and the conflict retries per 1,000 commits, one track per
commit, as a web request saves one. Each thread serves users of its own
(USERS in all, split among the threads), so that the threads share
nothing but the storage's structures; whatever conflicts remain are the
storage's. Into a FileStorage and into ZEO (a real server process), a
fresh database per run. The conflicts retried are counted by the class of
the record they happened on.

A commit here waits for an fsync, whose time on a shared machine moves a
lot from minute to minute; so 1 and THREADS threads run alternately,
ROUNDS times, and the fastest run of each counts (the retries are those
of all rounds).
"""

import collections
import os
import re
import shutil
import sys
import threading
import time

import transaction

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from cybertools_tracking.db import get_storage, open_db  # noqa: E402
from cybertools_tracking.db import retry_transaction  # noqa: E402

THREADS = 8
TOTAL = 4_000
ROUNDS = 3
USERS = 400
TASK = 'lesson'
T0 = 1_700_000_000


def _filestorage(var):
    directory = os.path.join(var, 'threads-fs')
    shutil.rmtree(directory, ignore_errors=True)
    return os.path.join(directory, 'tracking.fs'), lambda: None


def _zeo(var):
    from concurrency_bench import _zeo as start
    return start(var, 'threads-zeo')


ENGINES = {'FileStorage': _filestorage, 'ZEO': _zeo}

_CLASS = re.compile(r'class ([\w.]+)')


def _writer(db, number, threads, count, barrier, result):
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    storage = get_storage(connection, create=False)
    users = ['user-%d' % n for n in range(number, USERS, threads)]
    conflicts = collections.Counter()

    def on_retry(attempt, error):
        found = _CLASS.search(str(error))
        conflicts[found.group(1) if found else type(error).__name__] += 1

    barrier.wait()
    start = time.perf_counter()
    for i in range(count):
        def work():
            return storage.saveUserTrack(TASK, 0, users[i % len(users)],
                                         {'i': i}, timeStamp=T0 + i // 50)
        retry_transaction(work, manager, attempts=100, on_retry=on_retry)
    result[number] = {'start': start, 'end': time.perf_counter(),
                      'conflicts': conflicts}
    connection.close()


def run(engine, threads, total=TOTAL, var=os.path.join(HERE, 'var')):
    uri, cleanup = ENGINES[engine](var)
    try:
        db = open_db(uri, pool_size=threads + 2)
        with db.transaction() as connection:
            get_storage(connection).startRun(TASK)
        barrier = threading.Barrier(threads)
        result = {}
        workers = [threading.Thread(
            target=_writer, args=(db, n, threads, total // threads, barrier,
                                  result)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        with db.transaction() as connection:
            stored = len(get_storage(connection))
        db.close()
    finally:
        cleanup()
    tracks = (total // threads) * threads
    assert len(result) == threads and stored == tracks, (result, stored)
    elapsed = (max(r['end'] for r in result.values())
               - min(r['start'] for r in result.values()))
    conflicts = sum((r['conflicts'] for r in result.values()),
                    collections.Counter())
    retries = sum(conflicts.values())
    return {'rate': tracks / elapsed, 'elapsed': elapsed, 'commits': tracks,
            'retries': retries, 'retries_per_1000': 1000.0 * retries / tracks,
            'conflicts': dict(conflicts.most_common())}


def report(total=TOTAL, var=os.path.join(HERE, 'var'), out=None,
           rounds=ROUNDS):
    lines = ['### Threads of one process: %d tracks, one per commit, %d '
             'users; fastest of %d rounds' % (total, USERS, rounds), '',
             '| engine | threads | tracks/s (all threads) | vs 1 thread '
             '| retries per 1,000 commits | conflicts retried, by class |',
             '|---|---|---|---|---|---|']
    figures = {}
    for engine in ENGINES:
        runs = {threads: [] for threads in (1, THREADS)}
        try:
            # Alternating, so that a slow phase of a shared machine does
            # not land on one side only.
            for round in range(rounds):
                for threads in runs:
                    print('  running %s with %d threads, round %d'
                          % (engine, threads, round + 1),
                          file=sys.stderr, flush=True)
                    runs[threads].append(run(engine, threads, total, var))
        except Exception as error:       # a server that is not there
            lines.append('| %s | | not run: %s | | | |'
                         % (engine, str(error).splitlines()[0]))
            continue
        single = max(r['rate'] for r in runs[1])
        for threads, results in runs.items():
            figures['%s/%d' % (engine, threads)] = results
            conflicts = sum((collections.Counter(r['conflicts'])
                             for r in results), collections.Counter())
            commits = sum(r['commits'] for r in results)
            rate = max(r['rate'] for r in results)
            lines.append('| %s | %d | %.0f | %.2fx | %.1f | %s |' % (
                engine, threads, rate, rate / single,
                1000.0 * sum(conflicts.values()) / commits,
                ', '.join('%s %d' % (name.rsplit('.', 1)[-1], n)
                          for name, n in conflicts.most_common()) or '-'))
    lines.append('')
    if out is not None:
        out['threads'] = figures
    return lines


if __name__ == '__main__':
    # python threads_bench.py [TOTAL [ROUNDS]]
    numbers = [int(arg) for arg in sys.argv[1:3]] + [TOTAL, ROUNDS][
        len(sys.argv[1:3]):]
    print('\n'.join(report(numbers[0], rounds=numbers[1])))

"""``tick`` over many groups of which few are due (issue 12 follow-up).

GROUPS groups in a FileStorage, each with one ``CountTracker``; DUE of
them have a ``DeadlineLimiter`` that has passed at the tick's time, a
third of the others one far in the future (indexed, not due), the rest
none.  Times one ``tick`` (``TrackingManager(db).tick(now_ts=...)``,
aborted after each so every round does the same work):

- cold: the database just opened, the connection's cache empty;
- warm: the same connection again, everything it read still cached.

Run under the code being measured.  For a before/after in one run, the
same script runs under another checkout's ``src`` (``--src``), each side
building its own database with its own code::

    python benchmarks/tick_bench.py [--groups N] [--due N] [--rounds N]
        [--src PATH] [--label NAME]

Prints one JSON line per side.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--groups', type=int, default=100_000)
    parser.add_argument('--due', type=int, default=100)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--src', default=os.path.join(os.path.dirname(HERE),
                                                      'src'))
    parser.add_argument('--label', default='this')
    return parser.parse_args()


def main():
    args = parse()
    sys.path.insert(0, args.src)
    import transaction
    import ZODB
    from ZODB.FileStorage import FileStorage
    from cybertools_tracking.goals import CountTracker, TrackingManager
    from cybertools_tracking.goals.limiters import DeadlineLimiter

    now = 1_700_000_000
    step = args.groups // args.due
    tmp = tempfile.mkdtemp(prefix='tickbench-')
    path = os.path.join(tmp, 'ticks.fs')
    try:
        db = ZODB.DB(FileStorage(path))
        tm = transaction.TransactionManager()
        manager = TrackingManager(db, transaction_manager=tm)
        start = time.perf_counter()
        for n in range(args.groups):
            if n % step == 0:
                limiters = [DeadlineLimiter(now - 1)]       # due
            elif n % 3 == 0:
                limiters = [DeadlineLimiter(now + 10 ** 6)]  # not yet
            else:
                limiters = []
            manager.add_tracker('g%06d' % n, CountTracker(
                'n', [], 5, limiters=limiters), now_ts=now - 10)
            if n % 10_000 == 9_999:
                tm.commit()
        tm.commit()
        built = time.perf_counter() - start
        manager.close()
        db.close()
        cold, warm, loads = [], [], []
        for _ in range(args.rounds):
            db = ZODB.DB(FileStorage(path), cache_size=10 ** 6)
            manager = TrackingManager(db, transaction_manager=tm)
            connection = manager.connection
            connection.getTransferCounts(clear=True)
            start = time.perf_counter()
            result = manager.tick(now_ts=now)
            cold.append(time.perf_counter() - start)
            loads.append(connection.getTransferCounts(clear=True)[0])
            assert len(result.failed) == args.due, len(result.failed)
            tm.abort()
            for _ in range(2):
                start = time.perf_counter()
                result = manager.tick(now_ts=now)
                warm.append(time.perf_counter() - start)
                assert len(result.failed) == args.due
                tm.abort()
            manager.close()
            db.close()
        print(json.dumps({
            'label': args.label, 'groups': args.groups, 'due': args.due,
            'build_s': round(built, 1),
            'cold_ms': round(min(cold) * 1000, 1),
            'warm_ms': round(min(warm) * 1000, 2),
            'cold_loads': min(loads),
            'load': os.getloadavg()[0]}))
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main()

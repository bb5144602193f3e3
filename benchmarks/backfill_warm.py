"""Warm backfill only, for comparing two versions in one session.

``python benchmarks/backfill_warm.py STORE.fs LABEL``: on the store that
``goals_issue12_bench.py --only backfill --keep`` leaves in
``benchmarks/var``, a task template's backfill (``add_task_goal(...,
backfill=True)``, one task of ten) and 100 users' (``add_tracker(...,
backfill=True)``), each run four times in one connection with a cache
that holds every track (each aborted): the first is cold and dropped,
the best of the other three is printed as tracks per second.  Run it
with each version's Python in turn (main's venv, then the branch's).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import goals_issue12_bench as bench  # noqa: E402


def main():
    import transaction
    from cybertools_tracking.db import get_storage
    from cybertools_tracking.goals import CountTracker, KeyValueGE
    path, label = sys.argv[1], sys.argv[2]
    db = bench._db(path, cache_size=bench.WARM_CACHE)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    goals = get_storage(conn, create=False).goals

    def tracker(name):
        return CountTracker(name, [KeyValueGE('data.score', 5)], 10 ** 9)

    out = []
    for what in ('template', 'users'):
        best = evaluated = None
        for attempt in range(4):
            start = time.perf_counter()
            if what == 'template':
                evaluated = goals.add_task_goal('task-3', tracker('t'),
                                                backfill=True)
            else:
                evaluated = sum(goals.add_tracker(
                    'user-%d' % u, tracker('u'), backfill=True)
                    for u in range(0, bench.USERS, bench.USERS // 100))
            seconds = time.perf_counter() - start
            tm.abort()
            if attempt and (best is None or seconds < best):
                best = seconds
        out.append('%s %d tracks: warm best of 3 %.0f/s'
                   % (what, evaluated, evaluated / best))
    conn.close()
    db.close()
    print(label, 'load %.2f' % os.getloadavg()[0], '; '.join(out))


if __name__ == '__main__':
    main()

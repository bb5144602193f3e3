"""What keeping a group's newest records in one record costs a writer.

``python benchmarks/history_write_cost.py``: 20,000 outcomes over 1,000
groups recorded into a ``GoalHistory`` in a FileStorage, ten a commit,
once with the groups' pages (``RecentOutcomes``) and once without (the
shards' ``recent`` set to None, as in a history made before them), twice
in turn; prints microseconds per outcome (commits included) and bytes
written per outcome.
"""

import os
import random
import shutil
import tempfile
import time


def run(pages, outcomes=20_000, groups=1_000):
    import transaction
    import ZODB
    from ZODB.FileStorage import FileStorage
    from cybertools_tracking.goals.history import GoalHistory
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, 'h.fs')
    try:
        db = ZODB.DB(FileStorage(path))
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        history = conn.root()['h'] = GoalHistory()
        if not pages:
            for shard in history.shards:
                shard.recent = None
        tm.commit()
        before = os.path.getsize(path)
        rnd = random.Random(1)
        start = time.perf_counter()
        for n in range(outcomes):
            history.record('g%d' % rnd.randrange(groups), 'points',
                           'stage_completed', stage=1, progress=n,
                           time=1e9 + n, track_id='%07i' % n)
            if n % 10 == 9:
                tm.commit()
        tm.commit()
        seconds = time.perf_counter() - start
        written = os.path.getsize(path) - before
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return seconds / outcomes * 1e6, written / outcomes


def main():
    for _ in range(2):
        for pages in (False, True):
            us, size = run(pages)
            print('%-8s %.1f us per outcome (a commit every 10), %.0f bytes '
                  'written per outcome' % ('pages' if pages else 'no pages',
                                           us, size), flush=True)


if __name__ == '__main__':
    main()

"""A writer killed (SIGKILL) at random points: after each kill, reopening
shows every committed batch whole, no part of the interrupted one unless
all of it, consistent indexes, and goal progress equal to the tracks."""

import collections
import os
import random
import signal
import subprocess
import sys
import time

import transaction

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import CountTracker

WRITER = os.path.join(os.path.dirname(__file__), 'crash_writer.py')
BATCH = 150
KILLS = 20


def test_killed_writer_loses_nothing_committed(tmp_path):
    path = str(tmp_path / 'crash.fs')
    db = open_db(path)
    with db.transaction() as connection:
        storage = get_storage(connection)
        for n in range(5):
            storage.goals.add_tracker('user-%d' % n, CountTracker(
                name='all', target=10 ** 9, conditions=[]))
    db.close()
    rnd = random.Random(4)
    reported = set()
    for kill in range(KILLS):
        writer = subprocess.Popen(
            [sys.executable, WRITER, path, str(BATCH), str(kill)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == 'ready'
        # Kill after 0-4 commits and somewhere within the next one.
        for _ in range(rnd.randrange(5)):
            line = writer.stdout.readline()
            reported.add(int(line.split()[1]))
        time.sleep(rnd.uniform(0, 0.15))
        writer.send_signal(signal.SIGKILL)
        out, err = writer.communicate(timeout=60)
        reported.update(int(line.split()[1]) for line in out.splitlines()
                        if line.startswith('committed'))

        db = open_db(path)
        connection = db.open()
        storage = get_storage(connection, create=False)
        batches = collections.Counter(t.data['batch']
                                      for t in storage.values())
        assert reported <= set(batches), 'a reported batch is missing'
        assert all(n == BATCH for n in batches.values()), batches
        assert set(batches) == set(range(1, storage._batches + 1))
        assert check_storage(storage) == []
        per_user = collections.Counter(t.userName for t in storage.values())
        for user, count in per_user.items():
            assert storage.goals.get_trackers(user)[0].progress == count
        transaction.abort()
        connection.close()
        db.close()
    assert len(reported) > KILLS // 2     # the kills did not all come early

"""One writer process of the concurrency benchmark.

    python bench_writer.py URI WRITER COUNT BATCH START_AT [SHARE PARTS]

Waits until the wall clock reaches START_AT (so that all writers start
together), saves COUNT tracks of the sessions workload (its own seed), BATCH
per transaction with retries, and prints JSON: start, end, commits, retries, and the conflicts retried
(error class, oid, record class).
"""

import json
import os
import sys
import time

import transaction

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from storage_bench import workload  # noqa: E402

from cybertools_tracking.db import get_storage, open_db, retry_transaction  # noqa: E402


def _conflict(error):
    """[error class, oid as hex or None, record class or None]."""
    oid = getattr(error, 'oid', None)
    return [type(error).__name__, None if oid is None else oid.hex(),
            getattr(error, 'class_name', None)]


def main(uri, writer, count, batch, start_at, share=(0, 1)):
    db = open_db(uri)
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    storage = get_storage(connection, create=False)
    items = list(workload(count, 'sessions', seed=100 + writer,
                          tasks_per_user=2, share=share))
    retries = []
    time.sleep(max(0.0, start_at - time.time()))
    start = time.time()
    for first in range(0, count, batch):
        chunk = items[first:first + batch]

        def work():
            for task, user, ts, data in chunk:
                storage.saveUserTrack(task, 0, user, data, timeStamp=ts)
        retry_transaction(work, manager, attempts=100,
                          on_retry=lambda attempt, error: retries.append(
                              _conflict(error)))
    end = time.time()
    connection.close()
    db.close()
    print(json.dumps({'start': start, 'end': end, 'retries': len(retries), 'conflicts': retries,
                      'commits': (count + batch - 1) // batch}))


if __name__ == '__main__':
    uri, writer, count, batch, start_at = sys.argv[1:6]
    share = tuple(int(n) for n in sys.argv[6:8]) or (0, 1)
    main(uri, int(writer), int(count), int(batch), float(start_at), share)

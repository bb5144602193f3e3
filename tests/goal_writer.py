"""A writer process for the goal layer's concurrency tests on ZEO.

    python goal_writer.py URI WRITER COUNT BATCH

Saves COUNT tracks into the storage at URI, BATCH per transaction,
retrying conflicts.  Most tracks are the first of a NEW user of a task
(``w<WRITER>-<n>``), so each makes a group (the user's copies of the
task's goal templates: the sharded registry and the index of due times
grow from every writer at once); the others go to users every writer
shares.  Each track carries ``points``.  Prints one JSON object: the ids
saved, the number of retries and commits, and the conflicts by class.
"""

import collections
import json
import random
import sys

import transaction

from cybertools_tracking.db import get_storage, open_db, retry_transaction

TASKS = ['lesson', 'quiz']
SHARED = ['shared-%d' % n for n in range(4)]
T0 = 1_700_000_000


def main(uri, writer, count, batch):
    db = open_db(uri)
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    storage = get_storage(connection, create=False)
    rnd = random.Random(writer)
    items = []
    for i in range(count):
        user = (rnd.choice(SHARED) if rnd.random() < 0.3
                else 'w%d-%d' % (writer, i))
        items.append((rnd.choice(TASKS), user,
                      {'points': rnd.randrange(1, 10), 'writer': writer,
                       'i': i}, T0 + i))
    retries = collections.Counter()
    ids = []

    def work(chunk):
        return [storage.saveUserTrack(task, 0, user, data, timeStamp=when)
                for task, user, data, when in chunk]

    for start in range(0, count, batch):
        chunk = items[start:start + batch]
        ids.extend(retry_transaction(
            lambda: work(chunk), manager, attempts=100,
            on_retry=lambda attempt, error: retries.update(
                ['%s %s' % (type(error).__name__,
                            getattr(error, 'class_name', None))])))
    connection.close()
    db.close()
    print(json.dumps({'ids': ids, 'retries': sum(retries.values()),
                      'conflicts': dict(retries),
                      'commits': (count + batch - 1) // batch}))


if __name__ == '__main__':
    uri, writer, count, batch = sys.argv[1:]
    main(uri, int(writer), int(count), int(batch))

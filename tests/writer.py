"""A writer process for the concurrency tests.

    python writer.py URI WRITER COUNT BATCH

Saves COUNT tracks (seeded by WRITER) into the storage of the database at
URI, BATCH tracks per transaction, retrying conflicts. Prints one JSON
object: the ids it saved, the goal events it heard after commit, and the
number of retries.
"""

import json
import random
import sys

import transaction

from cybertools_tracking.db import get_storage, open_db, retry_transaction
from cybertools_tracking.goals import EVENT_ALL

TASKS = ['task-%d' % n for n in range(4)]
USERS = ['user-%d' % n for n in range(10)]


def main(uri, writer, count, batch):
    db = open_db(uri)
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    storage = get_storage(connection, create=False)
    heard = []
    for code in EVENT_ALL:
        storage.goals.add_listener(
            code, when='after_commit', callback=lambda event: heard.append(
                [event.code, event.group_id, event.name]))
    rnd = random.Random(writer)
    items = [(rnd.choice(TASKS), rnd.choice(USERS),
              {'kind': rnd.choice('ab'), 'writer': writer, 'i': i})
             for i in range(count)]
    retries = []
    ids = []

    def work(chunk):
        return [storage.saveUserTrack(task, 0, user, data)
                for task, user, data in chunk]

    for start in range(0, count, batch):
        chunk = items[start:start + batch]
        ids.extend(retry_transaction(
            lambda: work(chunk), manager, attempts=100,
            on_retry=lambda attempt, error: retries.append(type(error).__name__)))
    connection.close()
    db.close()
    print(json.dumps({'ids': ids, 'heard': heard, 'retries': len(retries),
                      'commits': (count + batch - 1) // batch}))


if __name__ == '__main__':
    uri, writer, count, batch = sys.argv[1:]
    main(uri, int(writer), int(count), int(batch))

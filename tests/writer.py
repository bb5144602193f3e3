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

from writer_session import WriterSession

TASKS = ['task-%d' % n for n in range(4)]
USERS = ['user-%d' % n for n in range(10)]


def main(uri, writer, count, batch):
    session = WriterSession(uri)
    storage = session.storage
    rnd = random.Random(writer)
    items = [(rnd.choice(TASKS), rnd.choice(USERS),
              {'kind': rnd.choice('ab'), 'writer': writer, 'i': i})
             for i in range(count)]
    ids = []

    def work(chunk):
        return [storage.saveUserTrack(task, 0, user, data)
                for task, user, data in chunk]

    for start in range(0, count, batch):
        chunk = items[start:start + batch]
        ids.extend(session.commit(lambda: work(chunk)))
    session.close()
    print(json.dumps({'ids': ids, 'heard': session.heard,
                      'retries': session.retries,
                      'commits': (count + batch - 1) // batch}))


if __name__ == '__main__':
    uri, writer, count, batch = sys.argv[1:]
    main(uri, int(writer), int(count), int(batch))

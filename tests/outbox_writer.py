"""A writer process for the outbox tests.

    python outbox_writer.py URI WRITER COUNT MODE

MODE ``events``: COUNT transactions that each append two events and
nothing else, so that any conflict comes from the outbox itself.
MODE ``tracks``: COUNT transactions that each save a track (goals and
track events do the rest). Retries conflicts; prints one JSON object:
what it appended, the goal events it heard after commit, and the number
of retries.
"""

import json
import sys

import transaction

from cybertools_tracking.db import get_storage, open_db, retry_transaction
from cybertools_tracking.goals import EVENT_ALL


def main(uri, writer, count, mode):
    db = open_db(uri)
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    storage = get_storage(connection, create=False)
    heard = []
    for code in EVENT_ALL:
        storage.goals.add_listener(
            code, when='after_commit', callback=lambda event: heard.append(
                [event.code, event.group_id, event.name]))
    retries = []

    def work(i):
        if mode == 'events':
            for part in (0, 1):
                storage.events.append('test.step', {'writer': writer,
                                                    'i': i, 'part': part})
        else:
            storage.saveUserTrack('task-%d' % (i % 2), 0,
                                  'user-%d-%d' % (writer, i % 3),
                                  {'writer': writer, 'i': i})

    for i in range(count):
        retry_transaction(lambda: work(i), manager, attempts=100,
                          on_retry=lambda attempt, error: retries.append(
                              type(error).__name__))
    connection.close()
    db.close()
    print(json.dumps({'heard': heard, 'retries': len(retries)}))


if __name__ == '__main__':
    uri, writer, count, mode = sys.argv[1:]
    main(uri, int(writer), int(count), mode)

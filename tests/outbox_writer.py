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

from writer_session import WriterSession


def main(uri, writer, count, mode):
    session = WriterSession(uri)
    storage = session.storage

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
        session.commit(lambda: work(i))
    session.close()
    print(json.dumps({'heard': session.heard, 'retries': session.retries}))


if __name__ == '__main__':
    uri, writer, count, mode = sys.argv[1:]
    main(uri, int(writer), int(count), mode)

"""A process that starts on a database at a signal, for the tests of
processes that open a new database together.

    python opener.py URI START USER

Prints ``ready``, waits until the file START exists, then opens the
database at URI, gets the tracking storage (creating it if it is not
there), saves a track for USER, retrying conflicts, and prints JSON: the
storage's oid and the track's id.
"""

import json
import os
import sys
import time

import transaction

from cybertools_tracking.db import get_storage, open_db, retry_transaction


def main(uri, start, user):
    print('ready', flush=True)
    while not os.path.exists(start):
        time.sleep(0.001)
    db = open_db(uri)
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    storage = get_storage(connection)
    track = retry_transaction(
        lambda: storage.saveUserTrack('task', 0, user, {}), manager,
        attempts=50)
    if storage._p_oid is None:
        # What happened when the storage was made in the caller's
        # transaction: the first commit failed on the root, and the
        # retries saved into a storage that was never stored.
        sys.exit('the storage this process saved into is not stored')
    print(json.dumps({'storage': storage._p_oid.hex(), 'track': track}))
    connection.close()
    db.close()


if __name__ == '__main__':
    main(*sys.argv[1:4])

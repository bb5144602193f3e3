"""A writer that the crash test kills: python crash_writer.py PATH BATCH SEED

Saves batches of BATCH tracks, one transaction each, forever; after each
commit it prints ``committed <batch number>``. Batch numbers continue
from what the storage holds.
"""

import random
import sys

import transaction

from cybertools_tracking.db import get_storage, open_db


def main(path, size, seed):
    db = open_db(path)
    connection = db.open()
    storage = get_storage(connection, create=False)
    batch = storage._batches = getattr(storage, '_batches', 0)
    rnd = random.Random(seed)
    print('ready', flush=True)
    while True:
        batch += 1
        for i in range(size):
            storage.saveUserTrack('task-%d' % rnd.randrange(3), 0,
                                  'user-%d' % rnd.randrange(5),
                                  {'batch': batch, 'i': i})
        storage._batches = batch
        transaction.commit()
        # One write of the whole line: print() writes its parts one by
        # one, and unbuffered (PYTHONUNBUFFERED) each part is a write of
        # its own, so a kill could cut the line after "committed".
        sys.stdout.write('committed %d\n' % batch)
        sys.stdout.flush()


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

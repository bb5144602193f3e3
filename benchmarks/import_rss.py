"""Peak RSS of one process importing tracks through ``open_db`` with its
defaults (the connection cache bound of ``db.DEFAULT_CACHE_BYTES``), the
issue 8 target "RSS during a 1M import stays under 200 MB".

    .venv/bin/python benchmarks/import_rss.py [--tracks 1000000]
        [--mode uniform|sessions] [--src SRC]

``--src`` measures another checkout's library (its ``src``) instead.
Prints tracks/s, peak RSS and the cache's estimated size at the end.
"""

import argparse
import os
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tracks', type=int, default=1_000_000)
    parser.add_argument('--mode', choices=('uniform', 'sessions'),
                        default='uniform')
    parser.add_argument('--batch', type=int, default=1000)
    parser.add_argument('--src', help='the library to measure (a src dir)')
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
    sys.path.insert(0, HERE)
    import transaction
    from storage_bench import workload
    from cybertools_tracking.db import get_storage, open_db
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(os.path.join(tmp, 'rss.fs'))
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        tracks = get_storage(conn)
        start = time.perf_counter()
        for n, (task, user, ts, data) in enumerate(
                workload(args.tracks, args.mode), 1):
            tracks.saveUserTrack(task, 0, user, data,
                                 timeStamp=ts)
            if n % args.batch == 0:
                tm.commit()
        tm.commit()
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print('%s, %d tracks (%s): %.0f tracks/s, peak RSS %.0f MB, cache '
              '%.0f MB estimated / %d objects at the end'
              % (args.src or 'this checkout', args.tracks, args.mode,
                 args.tracks / seconds, peak,
                 conn._cache.total_estimated_size / 2**20,
                 len(conn._cache)))
        conn.close()
        db.close()


if __name__ == '__main__':
    main()

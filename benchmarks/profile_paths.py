"""Profile (or time) the save path and the warm query path of the storage.

    python benchmarks/profile_paths.py [--tracks N] [--mode sessions]
                                       [--profile save|read] [--src SRC]

Ingests ``storage_bench.workload`` tracks into a fresh FileStorage
(commit every 1,000) and reads every user's tracks warm with
``query(userName=...)`` as ``storage_bench.ZODBSide.user_tracks`` does,
plus each combination's last track. Prints tracks/s and µs per track
read; with ``--profile`` the cProfile of that phase (top 25 by internal
time). ``--src`` puts another library's ``src`` first on sys.path (a
frozen copy of the code before a change), for before/after in one run.
``--count-pickled`` counts, during the ingest, the objects ZODB's
pickler hands to ``persistent_id`` (it calls it for every object of a
record: a third of the commit), per commit and by the kind of record
(the store's slot and shard trees by name): a figure that a loaded
machine does not change.
"""

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--tracks', type=int, default=50_000)
    parser.add_argument('--users', type=int, default=None)
    parser.add_argument('--mode', default='sessions')
    parser.add_argument('--profile', choices=['save', 'read', 'last'])
    parser.add_argument('--src')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--count-pickled', action='store_true')
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, os.path.abspath(args.src))
    sys.path.insert(0, HERE)
    import transaction
    import storage_bench
    from cybertools_tracking.db import get_storage, open_db
    import cybertools_tracking
    users = args.users or max(20, args.tracks // 1000)
    events = list(storage_bench.workload(args.tracks, args.mode, 20, users))
    directory = tempfile.mkdtemp(prefix='profile-paths-')
    db = open_db(os.path.join(directory, 'p.fs'))
    conn = db.open()
    storage = get_storage(conn)
    transaction.commit()
    pickled = _count_pickled(storage) if args.count_pickled else None
    profiler = cProfile.Profile() if args.profile else None
    if args.profile == 'save':
        profiler.enable()
    started = time.perf_counter()
    for i, (task, user, ts, data) in enumerate(events, 1):
        storage.saveUserTrack(task, 0, user, data, timeStamp=ts)
        if i % 1000 == 0:
            transaction.commit()
            conn.cacheGC()
    transaction.commit()
    elapsed = time.perf_counter() - started
    if args.profile == 'save':
        profiler.disable()
    print('library', os.path.dirname(cybertools_tracking.__file__))
    print('ingest %s: %.0f tracks/s' % (args.mode, len(events) / elapsed))
    if pickled is not None:
        pickled.stop()
        commits = len(events) / 1000
        print('objects pickled (persistent_id calls) per commit of 1,000:')
        for kind, n in pickled.counts.most_common():
            print('  %-22s %8.0f' % (kind, n / commits))
        print('  %-22s %8.0f' % ('all', sum(pickled.counts.values())
                                 / commits))
    # Ten users, as storage_bench.warm_reads reads (their ~10,000 tracks
    # fit the caches of decoded rows and views).
    names = sorted({user for task, user, ts, data in events})[:10]
    combos = sorted({(task, user) for task, user, ts, data in events})
    runs = {task: storage.getRun(task).id for task, user in combos}

    def read_users():
        n = 0
        for user in names:
            n += len([(t.__name__, dict(t.data))
                      for t in storage.query(userName=user)])
        return n

    def read_last():
        for task, user in combos:
            t = storage.getLastUserTrack(task, runs[task], user)
            t.__name__, dict(t.data)
        return len(combos)

    read_users()      # warm
    transaction.abort()
    # As storage_bench.warm_reads does: the same reads again in one
    # transaction (views handed out already may be found again).
    read_users()
    started = time.perf_counter()
    n = read_users()
    print('warm user tracks, same transaction: %.2f µs per track'
          % ((time.perf_counter() - started) / n * 1e6))
    transaction.abort()
    for label, fn in (('warm user tracks, new transaction', read_users),
                      ('warm last track', read_last)):
        best = None
        for r in range(args.repeat):
            if r == 0 and (args.profile, label[:9]) in (
                    ('read', 'warm user'), ('last', 'warm last')):
                profiler.enable()
            started = time.perf_counter()
            n = fn()
            elapsed = time.perf_counter() - started
            if args.profile in ('read', 'last'):
                profiler.disable()
            transaction.abort()    # a new transaction per round
            best = elapsed if best is None else min(best, elapsed)
        print('%s: %.2f µs per track (%d tracks, best of %d)'
              % (label, best / n * 1e6, n, args.repeat))
    conn.close()
    db.close()
    shutil.rmtree(directory, ignore_errors=True)
    if profiler:
        pstats.Stats(profiler).sort_stats('tottime').print_stats(25)


class _count_pickled:
    """Counts ZODB's persistent_id calls by the record being pickled
    while in effect (it wraps ZODB.serialize.ObjectWriter's methods)."""

    def __init__(self, storage):
        import collections
        from ZODB import serialize
        store = storage._store
        names = {}
        for label, trees in (
                ('cid -> key slot', store._keys),
                ('time map slot', store._times),
                ('registry shard', store._combinations._shards),
                ('by-user shard', store._byUser._shards)):
            names.update((id(tree), label) for tree in trees)
        self.counts = counts = collections.Counter()
        self.writer = writer = serialize.ObjectWriter
        self.saved = persistent_id, serialize_ = (writer.persistent_id,
                                                  writer.serialize)
        current = [None]

        def counting_persistent_id(self, obj):
            counts[current[0]] += 1
            return persistent_id(self, obj)

        def naming_serialize(self, obj):
            current[0] = names.get(id(obj), type(obj).__name__)
            return serialize_(self, obj)

        writer.persistent_id = counting_persistent_id
        writer.serialize = naming_serialize

    def stop(self):
        self.writer.persistent_id, self.writer.serialize = self.saved


if __name__ == '__main__':
    main()

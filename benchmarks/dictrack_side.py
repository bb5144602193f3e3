"""The dictrack side of ``goals_bench.py``; run by dictrack's own venv.

``benchmarks/var/dictrack-venv/bin/python benchmarks/dictrack_side.py
--workload a|b [--items N] [--seed S]`` builds the workload with
``goals_bench.build_workload``, feeds it to dictrack's ``TrackingManager``
on a ``MemoryDataCache`` and prints one JSON object on stdout: the tracking
loop's time and rate, the workload digest, and the final progress and
completion of every tracker.

dictrack 2.0.6's ``TrackingManager`` needs a data store object (with
``data_store=None`` its constructor fails on an attribute assignment), so
``DictStore`` below stands in: a dict of trackers per group, used when a
group is first loaded into the cache and when a completed tracker is
removed, never on the ordinary tracking path.
"""

import argparse
import json
import logging
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import goals_bench  # noqa: E402  (stdlib only at import time)


def make_store_class():
    from dictrack.data_stores.base import BaseDataStore

    class DictStore(BaseDataStore):
        """Trackers in a dict per group; nothing expires, nothing persists."""

        def __init__(self):
            super().__init__()
            self.groups = {}

        def start_scheduler(self):
            pass  # nothing to expire

        def store(self, group_id, tracker, expire=None, expire_at=None,
                  **kwargs):
            self.groups.setdefault(group_id, {})[tracker.name] = tracker

        def store_all(self, group_id, trackers, expire=None, expire_at=None,
                      **kwargs):
            for tracker in trackers:
                self.store(group_id, tracker)

        def load(self, group_id, name=None, **kwargs):
            trackers = self.groups.get(group_id, {})
            if name is None:
                return True, list(trackers.values())
            names = [name] if isinstance(name, str) else name
            return True, [trackers[n] for n in names if n in trackers]

        def remove(self, group_id, name=None, **kwargs):
            trackers = self.groups.get(group_id, {})
            if name is None:
                self.groups.pop(group_id, None)
                return
            for n in [name] if isinstance(name, str) else name:
                trackers.pop(n, None)

        def flush(self):
            self.groups.clear()

        def _check_expire(self):
            pass

    return DictStore


def run(name, items, seed):
    from dictrack.conditions.keys import KeyValueEQ
    from dictrack.data_caches.memory import MemoryDataCache
    from dictrack.manager import TrackingManager
    from dictrack.trackers.numerics.count import CountTracker

    workload = goals_bench.build_workload(name, items, seed)
    cache = MemoryDataCache()
    manager = TrackingManager(data_cache=cache,
                              data_store=make_store_class()())
    for gid, specs in workload['groups'].items():
        manager.add_trackers(gid, [
            CountTracker(name=s['name'],
                         conditions=[KeyValueEQ(key=k, value=v)
                                     for k, v in s['conditions']],
                         target=s['target'])
            for s in specs])
    stream = workload['items']
    completed = {}
    track = manager.track
    clock = time.perf_counter
    failed = 0
    start = clock()
    for gid, data in stream:
        ok, dirtied, done, limited = track(gid, data)
        if done or not ok:
            failed += not ok
            for tracker in done:
                completed[goals_bench.key(gid, tracker.name)] = [
                    tracker.progress, True]
    seconds = clock() - start
    if failed:
        raise RuntimeError('track returned ok=False %d times' % failed)
    progress = {}
    for gid in workload['groups']:
        for tracker in manager.get_trackers(gid):
            progress[goals_bench.key(gid, tracker.name)] = [
                tracker.progress, bool(tracker.completed)]
    progress.update(completed)
    cache.scheduler.shutdown(wait=False)
    return {'workload': name, 'items': len(stream), 'seconds': seconds,
            'rate': len(stream) / seconds if seconds else float('inf'),
            'digest': goals_bench.digest(workload), 'progress': progress}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--workload', choices=goals_bench.WORKLOADS,
                        required=True)
    parser.add_argument('--items', type=int, default=goals_bench.ITEMS)
    parser.add_argument('--seed', type=int, default=goals_bench.SEED)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    json.dump(run(args.workload, args.items, args.seed), sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()

"""snapshot(storage): everything a TrackingStorage holds, as plain values.

For tests that a refused call changed nothing: compare the snapshots
taken before and after it.
"""

import copy

from cybertools_tracking.rows import unpack


def _nums(value):
    return [value] if isinstance(value, int) else list(value)


def snapshot(storage):
    store = storage._store
    return {
        'len': len(storage),
        'tracks': [(num, type(t), t.__name__, t.__parent__ is storage,
                    t.taskId, t.runId, t.userName, t.timeStamp,
                    copy.deepcopy(t.data))
                   for num, t in storage._tracks.items()],
        'rows': [(key, cid, [(ts, repr(unpack(group)))
                             for ts, group in tree.items()])
                 for key, (cid, tree) in store._combinations.items()],
        'locations': list(store.locations()),
        'byUser': [(user, list(combos))
                   for user, combos in store._byUser.items()],
        'taskRuns': [(task, list(runs))
                     for task, runs in store._taskRuns.items()],
        'runTasks': [(run, list(tasks))
                     for run, tasks in store._runTasks.items()],
        'times': [[(ts, _nums(nums)) for ts, nums in tree.items()]
                  for tree in store._times],
        'fields': sorted((name, field.kind,
                          [(value, _nums(nums))
                           for value, nums in field._fwd.items()],
                          list(field._rev.items()))
                         for name, field in storage._fields.items()),
        'runs': [(run.id, run.taskId, run.start, run.end, run.finished)
                 for run in storage._runs.values()],
        'current': list(storage.currentRuns.items()),
        'counters': (storage._trackIds.value, storage._runIds.value),
    }

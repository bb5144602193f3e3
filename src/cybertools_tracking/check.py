"""A full consistency check of a TrackingStorage.

Reads every track and every index entry and reports each disagreement
between them as a sentence. Used by the crash and concurrency tests and
by ``cybertools-tracking check``. Cost: one pass over all tracks and
indexes, so minutes for millions of tracks.
"""

from cybertools_tracking.index import _pairs

__all__ = ['check_storage']


def check_storage(storage, limit=100):
    """Return a list of problems found (empty when consistent).

    Stops collecting after ``limit`` problems.
    """
    problems = []

    def problem(text, *args):
        if len(problems) < limit:
            problems.append(text % args)

    index = storage._index
    tracks = storage._tracks
    count = 0
    highest = 0
    expected = {}          # (task, run, user) -> {(ts, num)}
    times = {}             # ts -> {num}
    for num, track in tracks.items():
        count += 1
        highest = max(highest, num)
        if track.__name__ != storage.idFromNum(num):
            problem('track %d is named %r', num, track.__name__)
        if track.__parent__ is not storage:
            problem('track %d has another parent', num)
        key = (track.taskId, track.runId, track.userName)
        expected.setdefault(key, set()).add((track.timeStamp, num))
        times.setdefault(track.timeStamp, set()).add(num)
        run = storage._runs.get(track.runId)
        if run is None:
            problem('track %d is in run %r, which does not exist', num,
                    track.runId)
        elif run.taskId is not None and run.taskId != track.taskId:
            problem('track %d of task %r is in run %d of task %r', num,
                    track.taskId, run.id, run.taskId)
        elif run.end < track.timeStamp:
            problem('run %d ends at %d, before its track %d at %d',
                    run.id, run.end, num, track.timeStamp)
        for name, field in storage._fields.items():
            value = track.indexValue(name)
            if field._rev.get(num) != value:
                problem('track %d: index %r holds %r, the track %r', num,
                        name, field._rev.get(num), value)
    if len(storage) != count:
        problem('len() says %d, there are %d tracks', len(storage), count)
    if storage._trackIds.value < highest:
        problem('the id counter is at %d, below track %d',
                storage._trackIds.value, highest)

    found = {}
    for key, postings in index._postings.items():
        pairs = set(_pairs(postings, None, None))
        if not pairs:
            problem('combination %r has an empty postings tree', key)
        found[key] = pairs
    for key in set(expected) | set(found):
        missing = expected.get(key, set()) - found.get(key, set())
        extra = found.get(key, set()) - expected.get(key, set())
        for ts, num in sorted(missing):
            problem('track %d is missing from the index of %r', num, key)
        for ts, num in sorted(extra):
            problem('the index of %r lists track %d at %d, which is not '
                    'there', key, num, ts)

    for userName, combos in index._byUser.items():
        if not combos:
            problem('an empty set of combinations for user %r', userName)
        for key in combos:
            if key[2] != userName or key not in found:
                problem('%r is listed under user %r wrongly', key, userName)
    for key in found:
        combos = index._byUser.get(key[2])
        if combos is None or key not in combos:
            problem('%r is not listed under user %r', key, key[2])
    pairs = {key[:2] for key in found}
    by_task = {(task, run) for task, runs in index._taskRuns.items()
               for run in runs}
    by_run = {(task, run) for run, tasks in index._runTasks.items()
              for task in tasks}
    for name, listed in (('tasks', by_task), ('runs', by_run)):
        for pair in sorted(listed - pairs):
            problem('the map of %s lists (task, run) %r, which has no '
                    'tracks', name, pair)
        for pair in sorted(pairs - listed):
            problem('the map of %s misses (task, run) %r', name, pair)

    indexed_times = {}
    for ts, num in index.timePairs():
        indexed_times.setdefault(ts, set()).add(num)
    if indexed_times != times:
        for ts in sorted(set(indexed_times) | set(times)):
            if indexed_times.get(ts, set()) != times.get(ts, set()):
                problem('the time index at %d lists %s, the tracks are %s',
                        ts, sorted(indexed_times.get(ts, ())),
                        sorted(times.get(ts, ())))

    for taskId, runId in storage.currentRuns.items():
        run = storage._runs.get(runId)
        if run is None or run.taskId != taskId:
            problem('the current run of %r is %r, which is not its run',
                    taskId, runId)
    events = storage._eventIds
    if events is not None:
        for text in events.check(lambda num: num in tracks, limit):
            problem('%s', text)
    return problems

"""A full consistency check of a TrackingStorage.

Each part checks itself and reports what disagrees, as sentences: the
track store (rows, their filing, the location map, the time map and the
maps by user, task and run; see ``TrackStore.check``), each extra index
against the tracks' values (``FieldIndex.verify``); here, what ties them
together: the runs, the count, the id counter and the current runs.
Used by the crash and concurrency tests and by ``cybertools-tracking
check``. Cost: one pass over all tracks and indexes, so minutes for
millions of tracks.
"""

from cybertools_tracking.rows import own_core

__all__ = ['check_storage']


def check_storage(storage, limit=100):
    """Return a list of problems found (empty when consistent).

    Stops collecting after ``limit`` problems.
    """
    problems = []

    def problem(text, *args):
        if len(problems) < limit:
            problems.append(text % args)

    if storage.layout != 'rows':
        problem('the storage has the layout before rows: run '
                '"cybertools-tracking upgrade"')
        return problems
    rows = storage._store.check(problem)
    expected = {name: {} for name in storage._fields}
    highest = 0
    for num in sorted(rows):
        key, ts, row = rows[num]
        highest = max(highest, num)
        (taskId, runId, userName), ts = own_core(key, ts, row[2])
        run = storage._runs.get(runId)
        if run is None:
            problem('track %d is in run %r, which does not exist', num,
                    runId)
        elif run.taskId is not None and run.taskId != taskId:
            problem('track %d of task %r is in run %d of task %r', num,
                    taskId, run.id, run.taskId)
        elif run.end < ts:
            problem('run %d ends at %d, before its track %d at %d',
                    run.id, run.end, num, ts)
        if expected:
            track = storage._view(num, key, rows[num][1], row)
            for name in expected:
                expected[name][num] = track.indexValue(name)
    for name, field in storage._fields.items():
        field.verify(problem, expected[name])
    if len(storage) != len(rows):
        problem('len() says %d, there are %d tracks', len(storage),
                len(rows))
    if storage._trackIds.value < highest:
        problem('the id counter is at %d, below track %d',
                storage._trackIds.value, highest)
    for run in storage._runs.values():
        # IRun.end: the latest of the start and later times.
        if run.end < run.start:
            problem('run %d ends at %d, before its start at %d', run.id,
                    run.end, run.start)
    for taskId, runId in storage.currentRuns.items():
        run = storage._runs.get(runId)
        if run is None or run.taskId != taskId:
            problem('the current run of %r is %r, which is not its run',
                    taskId, runId)
    events = storage._eventIds
    if events is not None:
        for text in events.check(lambda num: num in rows, limit):
            problem('%s', text)
    return problems

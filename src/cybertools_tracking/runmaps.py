"""``storage.runs`` and ``storage.finishedRuns``: loops' names for the runs.

loops' storage kept its runs in two trees, the unfinished ones in
``runs`` and the finished ones in ``finishedRuns``, and code that uses it
reads them (``tracks.runs.get(runId)``, ``len(tracks.finishedRuns)``).
The storage here keeps one tree of runs, each knowing whether it is
finished; these read-only mappings show it as loops' two.
"""

from collections.abc import Mapping

__all__ = ['RunMapping']


class RunMapping(Mapping):
    """Run number -> Run, of the finished or the unfinished runs of a
    storage, in number order. Read-only: runs change through the storage
    (``startRun``, ``stopRun``)."""

    def __init__(self, storage, finished):
        self.storage = storage
        self.finished = bool(finished)

    def __getitem__(self, runId):
        if not isinstance(runId, int) or isinstance(runId, bool) \
                or runId <= 0:
            raise KeyError(runId)
        run = self.storage.getRun(runId=runId)
        if run is None or run.finished != self.finished:
            raise KeyError(runId)
        return run

    def __iter__(self):
        return (run.id for run in self.storage.getRuns(
            finished=self.finished))

    def __len__(self):
        return len(self.storage.getRuns(finished=self.finished))

    def __repr__(self):
        return '<%s runs of %r: %r>' % (
            'finished' if self.finished else 'unfinished', self.storage,
            list(self))

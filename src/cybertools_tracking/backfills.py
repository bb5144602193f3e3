"""Backfill in batches: a goal catching up on a large store, resumably.

``goals.add_tracker(..., backfill=True)`` reads and evaluates every
stored track the tracker may count in the caller's one transaction.  On a
store of millions that transaction runs for seconds to minutes, holds its
snapshot, and a conflict or a stop throws all of it away.  A *batched*
backfill spreads the work over many short transactions, each recording
how far it got, so that it can stop anywhere and go on:

1. ``start`` (one transaction): the checks, then the tracker is added to
   its group (live: from this commit on it counts new tracks as they are
   saved), and the ids of the stored tracks it may count, as that
   transaction sees them, are kept in a ``BackfillJob``, cut into
   batches, in id order.
2. ``step`` (one transaction per batch): the next batch's tracks are
   read and fed to the tracker (``goals.backfill.replay``), and the job
   moves on by one batch, in the same transaction.  So a batch counts
   exactly when its transaction commits: after any stop (Ctrl-C, a crash,
   a conflict) the next ``step`` starts at the first batch not committed,
   and no track is counted twice.

Why the ids are fixed at the start: the tracker is live from then on, so
a track saved later is counted when it is saved; a batch that went by
"every matching track after the last one done" would count it again.
Track numbers are no clock either (each connection takes numbers from
its own block), so no position in them separates old tracks from new.

What differs from a one-transaction backfill, exactly:

- *Order.* Tracks saved while the job runs are counted before the stored
  tracks of the batches not yet done.  Counts and sums come out the same;
  which track completed a stage (and when its event says it happened),
  and anything that depends on order (a limiter's window, a sequence,
  a rolling window, a calendar period already closed), may differ.
- *The one gap*, the same as a one-transaction backfill's: a track saved
  in a transaction that began before ``start`` committed and commits
  after it is in neither the job (``start`` did not see it) nor counted
  live (its transaction did not see the tracker).  ZODB readers do not
  conflict with writers, so nothing can catch it; ``redefine(...,
  policy='recompute')`` counts everything again when that matters.
- A track removed before its batch is skipped; one changed is read as it
  is when its batch runs.

The batches not done yet can be cut again (``BackfillJob.rebatch``,
``goals backfill --resume --batch N``): the same ids in the same order,
each new batch read within the spans of the batches its ids came from.

Jobs are kept by the storage's goals (``GoalBinding.backfills``), by
(group, tracker name); a finished one keeps its figures and drops its ids.

A task template's backfill (``TaskBackfillJob``) is one job for the
task, not one per user: ``start`` gives every user of the task a copy
(as ``add_task_goal(..., backfill=True)`` does), and the ids of the
task's stored tracks of those users are cut into batches, ordered by
user and then by id; a batch feeds each track to the copy of its user.
So a task of many users with few tracks each takes few transactions, a
copy is rewritten by one batch or two (in id order across users, every
batch would rewrite every copy), and each copy still gets its user's
tracks in the order they were saved.  What batches cost and save
against one transaction: benchmarks/RESULTS.md (about 2.2x the time,
a third of the memory growth, on 600,000 tracks).  Such
jobs are kept apart (``GoalBinding.task_backfills``), by (task, tracker
name).
"""

import array
import time

from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking.goals.backfill import replay
from cybertools_tracking.goals.due import refresh as refresh_due
from cybertools_tracking.interfaces import IBackfillJob
from cybertools_tracking.interfaces import ITaskBackfillJob

__all__ = ['BackfillJob', 'TaskBackfillJob', 'Found', 'DEFAULT_BATCH',
           'jobs_of', 'task_jobs_of', 'start', 'step', 'step_task']

DEFAULT_BATCH = 10_000


@implementer(IBackfillJob)
class BackfillJob(Persistent):
    """See ``IBackfillJob``: a batched backfill of one tracker, the ids
    of the tracks it is to be fed, in batches, and how far it got.

    ``total`` tracks in ``batches`` batches of at most ``batch_size``;
    ``next_batch`` is the first batch not done (``batches`` when done);
    ``done`` tracks were read so far (removed ones are skipped and count
    as read), ``evaluated`` of them offered to the tracker (fewer once it
    completed or expired).  ``started`` and ``updated`` are seconds since
    the epoch (UTC).  The ids of each batch are one record of 8-byte
    numbers, with the first and last second of its tracks (where a
    batch reads them from the rows); both are dropped when the job
    finishes.
    """

    group_id = name = tracker = None
    total = batches = next_batch = done = evaluated = 0
    batch_size = DEFAULT_BATCH
    started = updated = 0.0
    finished = False
    _nums = None
    _spans = None       # batch -> (first, last second of its tracks)

    def __init__(self, group_id, tracker, found, batch_size):
        self.group_id = group_id
        self.name = tracker.name
        self.tracker = tracker
        self.batch_size = batch_size
        self.total = len(found)
        self.batches = -(-len(found) // batch_size)
        self._nums = LOBTree()
        self._spans = LOBTree()
        for n in range(self.batches):
            part = found[n * batch_size:(n + 1) * batch_size]
            self._nums[n] = array.array(
                'q', [num for num, ts in part]).tobytes()
            stamps = [ts for num, ts in part]
            self._spans[n] = (min(stamps), max(stamps))
        self.started = self.updated = time.time()
        self.finished = not found

    def __repr__(self):
        return '<BackfillJob %r %r: batch %d of %d, %d of %d tracks%s>' % (
            self.group_id, self.name, self.next_batch, self.batches,
            self.done, self.total, ', finished' if self.finished else '')

    def batch_ids(self, n):
        """The track numbers of batch ``n``, in id order."""
        part = array.array('q')
        part.frombytes(self._nums[n])
        return part.tolist()

    def batch_span(self, n):
        """(first, last) second (UTC) of the tracks of batch ``n`` when
        the job started: where a reader finds them (but a track moved
        since may be elsewhere)."""
        return self._spans[n]

    def rebatch(self, batch_size):
        """See ``IBackfillJob.rebatch``.  A new batch's span is the union
        of the spans of the batches its tracks came from (its reader may
        read a few rows more, never fewer)."""
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError('batch_size must be an int of at least 1, got '
                             '%r' % (batch_size,))
        if self.finished:
            return 0
        first = self.next_batch
        cut = _Cutter(batch_size)
        for n in range(first, self.batches):
            cut.add(self.batch_ids(n), self._spans[n], self._extra(n))
        for n in range(first, self.batches):
            self._forget(n)
        for offset, (nums, span, extra) in enumerate(cut.batches()):
            self._keep(first + offset, nums, span, extra)
        self.batch_size = batch_size
        self.batches = first + len(cut.parts)
        return len(cut.parts)

    def _extra(self, n):
        return None             # what else a batch keeps (a task's users)

    def _forget(self, n):
        del self._nums[n]
        del self._spans[n]

    def _keep(self, n, nums, span, extra):
        self._nums[n] = array.array('q', nums).tobytes()
        self._spans[n] = span

    def _finish(self):
        self.finished = True
        self._nums = self._spans = None


class _Cutter:
    """Cuts the batches a job has left into parts of ``size`` tracks: the
    numbers in order, each part with the union of the spans (and of the
    users) of the batches it took tracks from."""

    def __init__(self, size):
        self.size = size
        self.parts = []         # [nums, [first, last], users or None]

    def add(self, nums, span, users):
        at = 0
        while at < len(nums):
            if not self.parts or len(self.parts[-1][0]) == self.size:
                self.parts.append([[], list(span), None])
            part = self.parts[-1]
            room = self.size - len(part[0])
            part[0].extend(nums[at:at + room])
            at += room
            part[1] = [min(part[1][0], span[0]), max(part[1][1], span[1])]
            if users is not None:
                part[2] = tuple(sorted(set(part[2] or ()) | set(users)))

    def batches(self):
        return [(nums, tuple(span), users)
                for nums, span, users in self.parts]


class Found:
    """The tracks a ``TaskBackfillJob`` is to feed, as the start reads
    them, in id order: number (an array of 8-byte ints), second and
    user, in parallel lists."""

    __slots__ = ('nums', 'stamps', 'users')

    def __init__(self):
        self.nums = array.array('q')
        self.stamps = []
        self.users = []

    def add(self, num, stamp, user):
        self.nums.append(num)
        self.stamps.append(stamp)
        self.users.append(user)


@implementer(ITaskBackfillJob)
class TaskBackfillJob(BackfillJob):
    """See ``ITaskBackfillJob``: the batched backfill of a task template,
    over the copies its users got when it started.

    ``group_id`` is None and ``tracker`` the template; ``copies`` maps a
    user's name to the copy it feeds (an OOBTree, dropped when the job
    finishes, as the ids are).
    """

    taskId = None
    copies = None
    users = 0

    _users = None       # batch -> the names of the users of its tracks

    def __init__(self, taskId, template, copies, found, batch_size):
        # *found*: a ``Found`` of the tracks to feed, in id order.
        # Batched by user, then number: a batch holds the tracks of a few
        # users, so a copy is fed (and rewritten) by one batch or two,
        # not by every batch, and each copy still gets its user's tracks
        # in the order they were saved (the sort is stable).
        names = found.users
        order = sorted(range(len(names)), key=names.__getitem__)
        self.group_id = None
        self.name = template.name
        self.tracker = template
        self.batch_size = batch_size
        self.total = len(order)
        self.batches = -(-len(order) // batch_size)
        self.taskId = taskId
        self.users = len(copies)
        self.copies = OOBTree(copies)
        self._nums, self._spans, self._users = LOBTree(), LOBTree(), \
            LOBTree()
        nums, stamps = found.nums, found.stamps
        for n in range(self.batches):
            part = order[n * batch_size:(n + 1) * batch_size]
            self._nums[n] = array.array(
                'q', [nums[i] for i in part]).tobytes()
            times = [stamps[i] for i in part]
            self._spans[n] = (min(times), max(times))
            self._users[n] = tuple(sorted({names[i] for i in part}))
        self.started = self.updated = time.time()
        if not order:
            self._finish()

    def batch_users(self, n):
        """The names of the users whose tracks batch ``n`` holds (as the
        job started), sorted."""
        return self._users[n]

    def _extra(self, n):
        return self._users[n]

    def _forget(self, n):
        BackfillJob._forget(self, n)
        del self._users[n]

    def _keep(self, n, nums, span, users):
        BackfillJob._keep(self, n, nums, span, users)
        self._users[n] = users

    def __repr__(self):
        return '<TaskBackfillJob %r %r: batch %d of %d, %d of %d tracks%s>' \
            % (self.taskId, self.name, self.next_batch, self.batches,
               self.done, self.total, ', finished' if self.finished else '')

    def _finish(self):
        BackfillJob._finish(self)
        self.copies = self._users = None


def jobs_of(binding, create=False):
    """The OOBTree (group_id, name) -> BackfillJob of a ``GoalBinding``;
    None if it has none and not ``create``."""
    jobs = binding.backfills
    if jobs is None and create:
        jobs = binding.backfills = OOBTree()
    return jobs


def task_jobs_of(binding, create=False):
    """The OOBTree (taskId, name) -> TaskBackfillJob of a ``GoalBinding``;
    None if it has none and not ``create``."""
    jobs = binding.task_backfills
    if jobs is None and create:
        jobs = binding.task_backfills = OOBTree()
    return jobs


def start(jobs, group_id, tracker, found, batch_size):
    """File a new job in ``jobs`` for ``tracker`` (placed in ``group_id``
    already) over ``found``, (number, second) of each track, in number
    order; a finished job of the same (group, name) is replaced (the
    caller refuses an unfinished one before anything is written)."""
    job = jobs[(group_id, tracker.name)] = BackfillJob(
        group_id, tracker, found, batch_size)
    return job


def step(job, registry, items_of, dispatch):
    """Feed the next batch of ``job`` to its tracker; return the number
    of tracks evaluated.  ``items_of(nums, span)`` gives what ``replay``
    takes, ``(item, time, cause)``, for the stored tracks among ``nums``
    (found within ``span``, the seconds they had), in id order.  The job
    finishes after its last batch, or at once when its tracker completed,
    expired or was removed (nothing more can count)."""
    if job.finished:
        return 0
    tracker = job.tracker
    if tracker.completed or tracker.removed:
        job._finish()
        return 0
    nums = job.batch_ids(job.next_batch)
    evaluated = replay(registry, tracker,
                       items_of(nums, job.batch_span(job.next_batch)),
                       dispatch)
    refresh_due(registry, job.group_id)  # the items may have opened periods
    job.next_batch += 1
    job.done += len(nums)
    job.evaluated += evaluated
    job.updated = time.time()
    if job.next_batch >= job.batches or tracker.completed \
            or tracker.removed:
        job._finish()
    return evaluated


def step_task(job, registry, items_of, dispatch):
    """Feed the next batch of a ``TaskBackfillJob``: each track to the
    copy of its user (in id order for each copy); return the number of
    tracks evaluated.  ``items_of(nums, span, users)`` as for ``step``,
    with the task's tracks, ``users`` the batch's (where a reader finds
    them; a track given to another user since is found by number).  The
    job finishes after its last batch (a copy that
    completed, expired or was removed takes no more tracks; the job does
    not look at every copy to end early: that would load them all)."""
    if job.finished:
        return 0
    copies = job.copies
    nums = job.batch_ids(job.next_batch)
    per_user = {}
    for entry in items_of(nums, job.batch_span(job.next_batch),
                          job.batch_users(job.next_batch)):
        per_user.setdefault(entry[0]['userName'], []).append(entry)
    evaluated = 0
    for user, entries in per_user.items():
        copy = copies.get(user)
        if copy is None:
            continue    # the track changed its user since the start
        evaluated += replay(registry, copy, entries, dispatch)
        refresh_due(registry, copy.group_id)
    job.next_batch += 1
    job.done += len(nums)
    job.evaluated += evaluated
    job.updated = time.time()
    if job.next_batch >= job.batches:
        job._finish()
    return evaluated

"""The goal commands: ``goals history``, ``goals tick``, ``goals remove``,
``goals backfill``.

::

    cybertools-tracking goals history [--group G] [--tracker NAME] ...
    cybertools-tracking goals tick [--at TIME] [--group G]
    cybertools-tracking goals remove --group G NAME
    cybertools-tracking goals backfill --group G TRACKER.json [--batch N]
                                       [--again]
    cybertools-tracking goals backfill --task T TRACKER.json [--batch N]
    cybertools-tracking goals backfill --resume [--group G] [--task T]
                                       [--batch N]

``history`` lists the recorded outcomes (``goals/history.py``), newest
first; ``tick`` lets time act on the goals without a new track (expired
trackers removed, deadlines failed, calendar periods closed), for a
periodic job; ``remove`` takes a tracker out of a group; ``backfill``
adds a tracker to a group (or a template to a task) and feeds it the
stored tracks in batches, one transaction each, resumable
(``backfills.py``).
"""

import argparse
import json
import signal
import threading
import time

from cybertools_tracking.cli.common import EXIT_INTERRUPTED, EXIT_OK
from cybertools_tracking.cli.common import EXIT_USAGE
from cybertools_tracking.cli.common import CommandError, Progress, error
from cybertools_tracking.cli.common import connection, count, positive_int
from cybertools_tracking.cli.common import did_you_mean
from cybertools_tracking.cli.common import existing_storage, non_negative_int
from cybertools_tracking.cli.common import time_from, time_to, TIME_HELP
from cybertools_tracking.cli.formatting import local_time, table
from cybertools_tracking.jsoncodec import dumps
from cybertools_tracking.backfills import DEFAULT_BATCH
from cybertools_tracking.db import retry_transaction
from cybertools_tracking.goals.interfaces import ConflictingNameError

__all__ = ['add_commands']

HISTORY_COLUMNS = ('time', 'group', 'tracker', 'kind', 'stage', 'progress',
                   'track', 'grantor', 'reason')


def add_commands(command):
    goals = command(
        'goals', run_history, 'goals: "history" lists completions, stages, '
        'resets, limits, expiries, grants and revokes, newest first; "tick" '
        'lets time act without a new track (expired trackers removed, '
        'deadlines failed, calendar periods closed), for a periodic job; '
        '"backfill" adds a tracker fed the stored tracks in resumable '
        'batches; "remove" takes a tracker out of a group. "goals ACTION '
        '--help" says more',
        'cybertools-tracking goals history --group alice --kind completed\n'
        '  cybertools-tracking goals tick --at 2024-02-01T00:00Z\n'
        '  cybertools-tracking goals backfill --group alice points.json')
    action = command.actions(goals)
    history = action(
        'history', run_history, 'list the goals\' recorded outcomes '
        '(completions, stages, resets, limits, expiries, failures, grants '
        'and revokes), newest first',
        'cybertools-tracking goals history --group alice --kind completed')
    history.add_argument('--group', action='append', metavar='GROUP',
                         help='one group (a user)')
    history.add_argument('--tracker', action='append', metavar='NAME',
                         help='tracker name; repeat for any of several')
    history.add_argument('--kind', action='append', metavar='KIND',
                         help='completed, stage_completed, reset, limited, '
                              'expired, failed, granted or revoked; '
                              'repeatable')
    history.add_argument('--from', dest='time_from', metavar='TIME',
                         type=time_from, help='earliest time, as for query')
    history.add_argument('--to', dest='time_to', metavar='TIME',
                         type=time_to, help='latest time, inclusive')
    history.add_argument('--limit', metavar='N', type=non_negative_int,
                         default=100, help='show at most N (default 100)')
    history.add_argument('--format', choices=('table', 'json'),
                         default='table')
    tick = action(
        'tick', run_tick, 'let time act on the goals without a new track: '
        'expired trackers removed, deadlines failed, calendar periods '
        'closed; for a periodic job (cron)',
        'cybertools-tracking goals tick --at 2024-02-01T00:00Z --group alice')
    tick.add_argument('--at', metavar='TIME', type=time_from,
                      help='the time to evaluate at (default now): '
                           + TIME_HELP)
    tick.add_argument('--group', action='append', metavar='GROUP',
                      help='tick only this group (a user); repeatable; a '
                           'group without goals is passed over and named '
                           'on stderr')
    # history's options, hidden: tick acts at one moment (--at) on whole
    # groups, so a range, a tracker or kind filter, a limit or a format
    # would be silently meaningless; each is refused with what to use.
    for option, nargs in (('--from', 1), ('--to', 1), ('--tracker', 1),
                          ('--kind', 1), ('--limit', 1), ('--format', 1)):
        tick.add_argument(option, nargs=nargs, action=_NotForTick,
                          help=argparse.SUPPRESS)
    remove = action(
        'remove', run_remove, 'remove a tracker from a group (one added '
        'to a misspelt group, say); a component of a composite is refused',
        'cybertools-tracking goals remove --group alcie points')
    remove.add_argument('name', metavar='NAME', help='the tracker\'s name')
    remove.add_argument('--group', metavar='GROUP', required=True,
                        help='the group (a user) that has it')
    backfill = action(
        'backfill', run_backfill, 'add a tracker (a JSON file, as the web '
        'API takes) to a group and feed it the group\'s stored tracks in '
        'batches, one transaction each; stopped anywhere (Ctrl-C, a '
        'crash), "goals backfill --resume" goes on after the last batch '
        'committed. The tracker counts new tracks from the first commit '
        'on. With --task it is a template of the task instead: each user '
        'of the task gets a copy, fed their tracks in the task',
        'cybertools-tracking goals backfill --group alice points.json\n'
        '  cybertools-tracking goals backfill --task quiz-1 points.json\n'
        '  cybertools-tracking goals backfill --resume')
    backfill.add_argument('tracker', nargs='?', metavar='TRACKER.json',
                          help='the tracker\'s definition (JSON); - for '
                               'stdin')
    backfill.add_argument('--group', metavar='GROUP',
                          help='the group (a user) to add it to; with '
                               '--resume, only that group\'s backfills')
    backfill.add_argument('--task', metavar='TASK',
                          help='instead of --group: make it a template of '
                               'the task, with a copy for each of its users '
                               'fed their tracks in the task; with '
                               '--resume, only that task\'s backfills')
    backfill.add_argument('--resume', action='store_true',
                          help='go on with the unfinished backfills')
    backfill.add_argument('--batch', metavar='N', type=positive_int,
                          help='tracks per transaction (default 10000); '
                               'with --resume, the batches left are cut '
                               'again to N (default: as they were)')
    backfill.add_argument('--again', action='store_true',
                          help='backfill a tracker whose name the group '
                               'completed before (refused otherwise: its '
                               'stored tracks would complete it again)')
    backfill.add_argument('--max-batches', metavar='N', type=positive_int,
                          help='stop after N batches (go on later with '
                               '--resume)')


class _NotForTick(argparse.Action):
    """Refuses an option of ``goals history`` given to ``goals tick``."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error('%s is an option of "goals history", not of "goals '
                     'tick": tick evaluates every tracker of the chosen '
                     'groups at one moment; it takes --at TIME (default '
                     'now) and --group GROUP (repeatable)' % option_string)


def run_history(args):
    if args.group and len(args.group) > 1:
        raise CommandError('goals history takes one --group', EXIT_USAGE)
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)
        try:
            found = storage.goals.history(
                args.group[0] if args.group else None, args.tracker,
                args.kind, args.time_from, args.time_to, args.limit)
        except (TypeError, ValueError) as problem:
            raise CommandError(str(problem), EXIT_USAGE) from None
        records = [record._asdict() for record in found]
    if args.format == 'json':
        print(dumps(records, indent=2))
    else:
        table(HISTORY_COLUMNS, [
            (local_time(r['time']), r['group_id'], r['tracker'], r['kind'],
             str(r['stage']), str(r['progress']), r['track_id'] or '',
             r['grantor'] or '', r['reason'] or '') for r in records])
    return EXIT_OK


def run_tick(args):
    now = time.time() if args.at is None else args.at
    # write=False: a missing database is an error, not created (the tick
    # commits all the same, retried on conflicts).
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)

        def tick():
            # Named groups without trackers are said, not refused (see
            # groups_without_trackers); read in the tick's transaction.
            without = [] if args.group is None else \
                storage.goals.groups_without_trackers(args.group)
            return storage.goals.tick(now_ts=now, group_ids=args.group), \
                without
        try:
            result, without = retry_transaction(tick, manager)
        except (TypeError, ValueError) as problem:
            raise CommandError(_as_at(str(problem)), EXIT_USAGE) from None
        for group_id in without:
            error('goals tick: group %r has no goals (passed over: '
                  'misspelt, or its last goal went)%s'
                  % (group_id, _close_groups(storage, group_id, manager)))
        for kind in ('closed', 'failed', 'expired'):
            for tracker in getattr(result, kind):
                print('%s\t%s\t%s' % (kind, tracker.group_id, tracker.name))
        print('ticked at %s: %d closed, %d failed, %d expired, %d changed'
              % (local_time(now), len(result.closed), len(result.failed),
                 len(result.expired), len(result.changed)))
    return EXIT_OK


def run_remove(args):
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)
        goals = storage.goals

        def remove():
            return goals.remove_tracker(args.group, args.name)
        try:
            removed = retry_transaction(remove, manager)
        except (TypeError, ValueError, KeyError) as problem:
            raise CommandError(_message(problem), EXIT_USAGE) from None
        if not removed:
            try:
                names = [t.name for t in goals.get_trackers(
                    args.group, include_completed=True)]
            finally:
                manager.abort()
            # A group with no trackers is most likely a misspelt one.
            hint = (did_you_mean(args.name, names) if names else
                    _close_groups(storage, args.group, manager))
            raise CommandError('group %r has no tracker named %r%s' % (
                args.group, args.name, hint), EXIT_USAGE)
        for tracker in removed:
            print('removed %r from %r' % (tracker.name, args.group))
    return EXIT_OK


def _close_groups(storage, group_id, manager):
    """``"; did you mean 'alice'?"`` for an unknown group, or ``''``;
    read in a transaction of its own, let go after."""
    from cybertools_tracking.tracked_goals import group_names
    try:
        return did_you_mean(group_id, group_names(storage))
    finally:
        manager.abort()


def _unknown_group(storage, group_id):
    """True if *group_id* names no goal group and no user with tracks:
    what ``goals tick --group`` says of a group without goals
    (``groups_without_trackers``), with no stored track to feed either.
    Reads only."""
    return bool(storage.goals.groups_without_trackers([group_id])) and \
        not storage.query(userName=group_id, limit=1)


def _as_at(message):
    # The library's tick names its parameter (now_ts); the user gave --at.
    if message.startswith('now_ts '):
        return '--at' + message[len('now_ts'):]
    return message


def _tracker_json(source):
    """The JSON object of a tracker's definition from a file (or stdin),
    checked by building a tracker of it once."""
    from cybertools_tracking.goals.serialize import tracker_from_json
    try:
        if source == '-':
            import sys
            obj = json.load(sys.stdin)
        else:
            with open(source, encoding='utf-8') as f:
                obj = json.load(f)
    except OSError as problem:
        raise CommandError('cannot read %s: %s' % (source, problem),
                           EXIT_USAGE) from None
    except ValueError as problem:
        raise CommandError('%s is not JSON: %s' % (source, problem),
                           EXIT_USAGE) from None
    if isinstance(obj, dict) and obj.get('type') == 'CompositeTracker':
        # A composite counts its components' completions, never a track:
        # there is nothing stored to feed it.
        raise CommandError(
            '%s: a CompositeTracker is not backfilled: it reads no tracks, '
            'it follows its components; backfill each component, then add '
            'the composite with the web API (POST /goals?group=GROUP)'
            % source, EXIT_USAGE)
    try:
        tracker_from_json(obj)
    except (TypeError, ValueError) as problem:
        raise CommandError('%s: %s' % (source, problem), EXIT_USAGE) \
            from None
    return obj


def run_backfill(args):
    if args.resume == bool(args.tracker):
        raise CommandError('goals backfill takes a TRACKER.json with '
                           '--group or --task, or --resume', EXIT_USAGE)
    if args.tracker and bool(args.group) == bool(args.task):
        raise CommandError('goals backfill TRACKER.json needs --group (a '
                           "user's goal) or --task (a task's template), "
                           'one of them', EXIT_USAGE)
    if args.again and not (args.tracker and args.group):
        raise CommandError('--again goes with --group GROUP TRACKER.json: '
                           'it backfills a tracker whose name the group '
                           'completed before', EXIT_USAGE)
    with connection(args, write=False) as (manager, conn), \
            _Interrupts(manager) as commits:
        storage = existing_storage(conn, args)
        goals = storage.goals
        if args.tracker and args.task:
            jobs = [_start_task(storage, commits, args)]
        elif args.tracker:
            jobs = [_start_group(storage, commits, args)]
        else:
            jobs = _unfinished(storage, manager, args)
            if not jobs:
                return EXIT_OK
        budget = args.max_batches
        for kind, key, name in jobs:
            try:
                budget = _run_job(goals, commits, kind, key, name, budget,
                                  _resume_command(args, kind, key),
                                  args.batch if args.resume else None)
            except KeyError as problem:
                # The job went meanwhile (another process removed the
                # tracker and its job): say which, not a traceback.
                raise CommandError('backfill of %r of %r: %s' % (
                    name, key, _message(problem))) from None
            if budget == 0:
                break
    return EXIT_OK


class _Interrupts:
    """Ctrl-C (SIGINT) stops a backfill between its transactions, never
    inside a commit: one that comes while a commit runs waits until the
    commit is done.  (FileStorage that is interrupted in its fsync closes
    itself, and the command could not say how far it got.)  One guard for
    the start and the batches of both kinds of job.

    ``commit(work)`` is ``retry_transaction(work, manager)`` with the
    commit shielded; ``stop()`` raises the KeyboardInterrupt that waited,
    if one did."""

    def __init__(self, manager):
        self.manager = manager
        self.committing = False
        self.waiting = False
        self.previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc_info):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None
        return False

    def _handler(self, signum, frame):
        if self.committing:
            self.waiting = True
        else:
            raise KeyboardInterrupt

    def commit(self, work):
        def shielded():
            self.committing = False     # a retry's work may be stopped
            self.stop()
            result = work()
            self.committing = True      # from here on: the commit
            return result
        try:
            return retry_transaction(shielded, self.manager)
        finally:
            self.committing = False

    def stop(self):
        if self.waiting:
            self.waiting = False
            raise KeyboardInterrupt


def _resume_command(args, kind, key):
    """The command that goes on with an interrupted job: the one given
    with ``--resume`` (its choice of jobs), or ``--resume`` for the job
    just started."""
    command = 'goals backfill --resume'
    if args.resume:
        if args.group is not None:
            command += ' --group %s' % args.group
        if args.task is not None:
            command += ' --task %s' % args.task
        return command
    return '%s --%s %s' % (command, kind, key)


def _start_group(storage, commits, args):
    """Start the backfill of a tracker of ``--group``; return the job as
    ``('group', group_id, name)``."""
    from cybertools_tracking.goals.serialize import tracker_from_json
    goals, manager = storage.goals, commits.manager
    obj = _tracker_json(args.tracker)

    def start():
        # Said, not refused, as by "goals tick --group": a group is made
        # by its first tracker, maybe before the user's first track; read
        # in the start's transaction.
        unknown = _unknown_group(storage, args.group)
        if not args.again:
            _refuse_a_second_completion(goals, args.group, obj.get('name'))
        # A new tracker for each attempt: one placed by an aborted attempt
        # keeps its group.
        return goals.start_backfill(
            args.group, tracker_from_json(obj),
            batch_size=args.batch or DEFAULT_BATCH), unknown
    try:
        job, unknown = commits.commit(start)
    except ConflictingNameError as problem:
        manager.abort()
        raise CommandError(_taken(goals, problem), EXIT_USAGE) from None
    except (TypeError, ValueError, KeyError) as problem:
        raise CommandError(_message(problem), EXIT_USAGE) from None
    if unknown:
        error('goals backfill: group %r has no goals and no stored tracks '
              '(the tracker was added all the same, for tracks to come: '
              'misspelt?)%s; to take it back: "goals remove --group %s '
              '%s"' % (args.group, _close_groups(storage, args.group, manager),
                      args.group, job.name))
    print('added %r to %r: %s to feed it in %s'
          % (job.name, job.group_id, count(job.total, 'stored track'),
             count(job.batches, 'batch', 'batches')))
    return ('group', job.group_id, job.name)


def _refuse_a_second_completion(goals, group_id, name):
    """Refuse to backfill a tracker *name* the group has completed: a
    completed tracker of that name is replaced (add_tracker's rule, for
    a goal set again), but the new one would read the same stored tracks
    and complete again, in the history and for the listeners a second
    time.  The history says; ``--again`` (or another name) is the way to
    do it on purpose."""
    if not isinstance(name, str):
        return      # the tracker's own check says what is wrong
    found = goals.history(group_id, [name], ['completed'], limit=1)
    if not found:
        return
    record = found[0]
    raise CommandError(
        'group %r completed %r at %s%s (goals history --group %s '
        '--tracker %s): a backfill would read the same stored tracks and '
        'complete it a second time, in the history and for its listeners; '
        'give the tracker another "name", or add --again to do it on '
        'purpose' % (
            group_id, name, local_time(record.time),
            ', with track %s' % record.track_id if record.track_id else '',
            group_id, name), EXIT_USAGE)


def _start_task(storage, commits, args):
    """Start the backfill of a template of ``--task``; return the job as
    ``('task', taskId, name)``."""
    from cybertools_tracking.goals.serialize import tracker_from_json
    goals, manager = storage.goals, commits.manager
    obj = _tracker_json(args.tracker)

    def start():
        unknown = args.task not in storage.getTaskIds()
        return goals.start_task_backfill(
            args.task, tracker_from_json(obj),
            batch_size=args.batch or DEFAULT_BATCH), unknown
    try:
        job, unknown = commits.commit(start)
    except (TypeError, ValueError, KeyError) as problem:
        raise CommandError(_message(problem) + _template_advice(
            goals, args.task, obj.get('name'), manager), EXIT_USAGE) \
            from None
    if unknown:
        try:
            hint = did_you_mean(args.task, storage.getTaskIds())
        finally:
            manager.abort()
        error('goals backfill: task %r has no stored tracks (the template '
              'was added all the same, for tracks to come: misspelt?)%s'
              % (args.task, hint))
    print('added template %r to task %r (%s): %s to feed them in %s'
          % (job.name, job.taskId, count(job.users, 'copy', 'copies'),
             count(job.total, 'stored track'),
             count(job.batches, 'batch', 'batches')))
    return ('task', job.taskId, job.name)


def _template_advice(goals, taskId, name, manager):
    """What to do when the start of a template's backfill was refused
    because of the template there: go on with its unfinished backfill;
    ``''`` if it has none."""
    try:
        unfinished = any((job.taskId, job.name) == (taskId, name)
                         for job in goals.task_backfill_jobs())
    finally:
        manager.abort()
    if not unfinished:
        return ''
    return ('; its backfill is unfinished: "goals backfill --resume --task '
            '%s" goes on with it' % taskId)


def _unfinished(storage, manager, args):
    """The unfinished jobs ``--resume`` goes on with, ``(kind, key,
    name)``: those of ``--group`` and of ``--task`` if either is given,
    else all; says so if there are none; CommandError if a group named
    has no goals and is no user of the stored tracks (most likely a
    misspelt one)."""
    goals = storage.goals
    jobs = []
    if args.task is None or args.group is not None:
        jobs += [('group', job.group_id, job.name)
                 for job in goals.backfill_jobs()
                 if args.group is None or job.group_id == args.group]
    if args.group is None or args.task is not None:
        jobs += [('task', job.taskId, job.name)
                 for job in goals.task_backfill_jobs()
                 if args.task is None or job.taskId == args.task]
    # A group with no goals that is no user of the stored tracks either
    # is most likely misspelt.
    from cybertools_tracking.tracked_goals import group_names
    unknown = (not jobs and args.group is not None
               and goals.groups_without_trackers([args.group])
               and args.group not in group_names(storage))
    manager.abort()
    if unknown:
        # Not "nothing left to do" (exit 0): a script must see the typo.
        raise CommandError(
            'goals backfill --resume: group %r has no goals, so no backfill '
            'to resume (misspelt?)%s'
            % (args.group, _close_groups(storage, args.group, manager)),
            EXIT_USAGE)
    if not jobs:
        named = ['group %r' % args.group] if args.group is not None else []
        named += ['task %r' % args.task] if args.task is not None else []
        print('no unfinished backfill' + (
            ' of ' + ' or '.join(named) if named else ''))
    return jobs


def _message(problem):
    """A library exception as one line (a bare KeyError's str() is the
    repr of its key)."""
    if type(problem) is KeyError and problem.args:
        return 'not found: %s' % (problem.args[0],)
    return str(problem)


def _taken(goals, problem):
    """What to do when the group already has a tracker of that name: go
    on with its unfinished backfill, or choose another name."""
    unfinished = any((job.group_id, job.name) == (problem.group_id,
                                                   problem.name)
                     for job in goals.backfill_jobs())
    if unfinished:
        advice = ('its backfill is unfinished: "goals backfill --resume '
                  '--group %s" goes on with it' % problem.group_id)
    else:
        advice = ('give the new tracker another "name" (the one there '
                  'stays as it is)')
    return '%s; %s' % (problem, advice)


def _run_job(goals, commits, kind, key, name, budget, resume,
             batch_size=None):
    """Run the batches of one job (``kind`` 'group' or 'task', of the
    group or task ``key``), each committed; return the batches left of
    ``budget`` (None: no limit).  Ctrl-C ends it with the tracks read so
    far and ``resume``, the command that goes on (exit code 130).  A
    ``batch_size`` (``--resume --batch N``) other than the job's cuts
    the batches left again first, in a transaction of its own."""
    manager = commits.manager
    if kind == 'task':
        def job():
            return {(j.taskId, j.name): j for j in goals.task_backfill_jobs(
                include_finished=True)}[key, name]

        def step():
            return goals.continue_task_backfill(key, name)
    else:
        def job():
            return {(j.group_id, j.name): j for j in
                    goals.backfill_jobs(include_finished=True)}[key, name]

        def step():
            return goals.continue_backfill(key, name)

    current = job()
    if batch_size is not None and not current.finished and \
            batch_size != current.batch_size:
        was = current.batch_size
        left = commits.commit(lambda: job().rebatch(batch_size))
        current = job()
        print('%s%r of %s%r: %s left, of at most %d tracks (were %d)'
              % ('template ' if kind == 'task' else '', name,
                 'task ' if kind == 'task' else '', key,
                 count(left, 'batch', 'batches'), batch_size, was))
    done, total = current.done, current.total
    progress = Progress('backfill %s %s' % (key, name), total,
                        unit=' tracks', plain=True)
    manager.abort()
    try:
        while True:
            commits.stop()
            current = job()
            done = current.done
            if current.finished:
                break
            if budget == 0:
                break
            commits.commit(step)
            current = job()
            done = current.done
            progress.update(done, '%d of %d tracks, %d evaluated'
                            % (done, total, current.evaluated))
            manager.abort()
            if budget is not None:
                budget -= 1
    except KeyboardInterrupt:
        # Between transactions (see _Interrupts): the storage is open,
        # and what the job says is what was committed.
        manager.abort()
        progress.close()
        try:
            done = job().done
        except KeyboardInterrupt:
            pass                        # a second Ctrl-C: the last known
        finally:
            manager.abort()
        raise CommandError('interrupted after %d of %d tracks; "%s" goes '
                           'on from there' % (done, total, resume),
                           EXIT_INTERRUPTED) from None
    finally:
        progress.close()
    state = 'finished' if current.finished else 'stopped'
    if kind == 'task':
        print('%s template %r of task %r: %d of %d tracks read, %d '
              'evaluated by the copies of %s'
              % (state, name, key, current.done, current.total,
                 current.evaluated, count(current.users, 'user')))
    else:
        print('%s %r of %r: %d of %d tracks read, %d evaluated; tracker %r'
              % (state, name, key, current.done, current.total,
                 current.evaluated, current.tracker))
    manager.abort()
    return budget

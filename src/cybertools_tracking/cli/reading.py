"""The commands that read: ``query``, ``runs``, ``stats`` and ``check``.

They read in a transaction that is aborted, and refuse to create a
missing database.
"""

import contextlib
import itertools
import sys

from ZODB.FileStorage import FileStorage

from cybertools_tracking.cli.common import EXIT_DATA, EXIT_OK, EXIT_USAGE
from cybertools_tracking.cli.common import GC_EVERY, CommandError
from cybertools_tracking.cli.common import connection, db_arg, error
from cybertools_tracking.cli.common import existing_storage, non_negative_int
from cybertools_tracking.cli.common import one_or_list, positive_int
from cybertools_tracking.cli.common import storage_name, time_from, time_to
from cybertools_tracking.cli.common import TIME_HELP, check_pattern
from cybertools_tracking.cli.common import count as counted
from cybertools_tracking.cli.formatting import RUN_COLUMNS, TRACK_COLUMNS
from cybertools_tracking.cli.formatting import CSV_TRACK_COLUMNS
from cybertools_tracking.cli.formatting import run_dict, run_rows, size
from cybertools_tracking.cli.formatting import table, track_row, write_json
from cybertools_tracking.cli.formatting import CSV_RUN_COLUMNS, csv_writer
from cybertools_tracking.cli.formatting import csv_track_row, track_dict
from cybertools_tracking.cli.formatting import csv_run_row, local_time
from cybertools_tracking.cli.formatting import write_csv
from cybertools_tracking.cli.formatting import stream_table
from cybertools_tracking.cli.streaming import newest_first
from cybertools_tracking.jsoncodec import dumps
from cybertools_tracking.query import with_current_runs


def add_commands(command):
    """Add the reading commands; ``command(name, run, help, example)``
    makes a subparser."""
    query = command(
        'query', run_query, 'list the tracks that meet every criterion (a '
        'value ending in * is a prefix; without criteria every track), '
        'newest first, printed as they are read',
        "cybertools-tracking query --user 'ann*' --from 2026-01-01 "
        "--format jsonl")
    add_criteria(query)
    query.add_argument('--limit', metavar='N', type=non_negative_int,
                       help='show at most N tracks (the newest N; with '
                            '--id-order the first N ids)')
    query.add_argument('--newest-first', action='store_true',
                       help='order by time, newest first: the default '
                            '(results are printed as they are read)')
    query.add_argument('--id-order', action='store_true',
                       help='order by track id, as TrackingStorage.query '
                            'does (every match is read before the first '
                            'is printed)')
    query.add_argument('--format', choices=('table', 'json', 'jsonl',
                                            'csv'),
                       default='table',
                       help='a table (default), a JSON list, JSON Lines or '
                            'CSV (data as JSON in the last column)')
    query.add_argument('--count', action='store_true',
                       help='print only the number of tracks found (without '
                            'criteria: every track)')

    export = command(
        'export', run_export, 'write tracks and their runs, all or those '
        'that meet the criteria, as JSON Lines (runs first, then tracks in '
        'id order; strict JSON, data encoded as jsoncodec documents) or as '
        'a CSV table of the tracks (or, with --runs, of the runs); '
        '"import" reads back each of them',
        "cybertools-tracking export --task 'python/*' -o python.jsonl\n"
        "  cybertools-tracking export --format csv -o tracks.csv\n"
        "  cybertools-tracking export --format csv --runs -o runs.csv")
    add_criteria(export)
    export.add_argument('-o', '--output', metavar='FILE',
                        help='the file to write (default stdout)')
    export.add_argument('--format', choices=('jsonl', 'csv'),
                        default='jsonl',
                        help='JSON Lines (default) or CSV, one table a file: '
                             'the tracks (columns %s, data as JSON), or the '
                             'runs with --runs' % ','.join(CSV_TRACK_COLUMNS))
    export.add_argument('--runs', action='store_true',
                        help='write only the runs (of the tracks that meet '
                             'the criteria): columns %s'
                             % ','.join(CSV_RUN_COLUMNS))

    runs = command('runs', run_runs, 'list the runs; * marks a task\'s '
                   'current run', 'cybertools-tracking runs --task quiz')
    runs.add_argument('--task', metavar='TASK_ID',
                      help='only the runs of this task (a trailing * is a '
                           'prefix, as in query)')
    runs.add_argument('--format', choices=('table', 'json'), default='table')

    check = command('check', run_check, 'check that every index agrees '
                    'with the tracks; exit 1 if not',
                    'cybertools-tracking --db var/tracking.fs check')
    check.add_argument('--limit', type=positive_int, default=100,
                       help='report at most this many problems (100)')

    stats = command('stats', run_stats, 'count tracks, tasks, users and '
                    'runs', 'cybertools-tracking stats --format json')
    stats.add_argument('--format', choices=('table', 'json'),
                       default='table')


def add_criteria(parser, verb='show'):
    """The criteria of ``TrackingStorage.query`` as options."""
    parser.add_argument('--task', action='append', metavar='TASK_ID',
                        help='task id; repeat for any of several')
    parser.add_argument('--run', action='append', metavar='RUN_ID',
                        type=non_negative_int,
                        help='run number, 0 for the current run of each '
                             'task; repeat for any of several')
    parser.add_argument('--user', action='append', metavar='USER',
                        help='user name; repeat for any of several')
    parser.add_argument('--from', dest='time_from', metavar='TIME',
                        type=time_from, help='earliest time: ' + TIME_HELP)
    parser.add_argument('--to', dest='time_to', metavar='TIME',
                        type=time_to,
                        help='latest time, inclusive: a date means the end '
                             'of that day, HH:MM the end of that minute')


def criteria_of(args, command='query', required=True):
    """The query criteria of ``args``; a CommandError without any if
    they are ``required``."""
    criteria = {}
    for option, values in (('--task', args.task), ('--user', args.user)):
        for value in values or ():
            check_pattern(option, value)
    if args.time_from is not None and args.time_to is not None \
            and args.time_from > args.time_to:
        raise CommandError('--from %s is after --to %s (local times): no '
                           'time is in that range; give the earlier time to '
                           '--from' % (local_time(args.time_from),
                                       local_time(args.time_to)), EXIT_USAGE)
    if args.task:
        criteria['taskId'] = one_or_list(args.task)
    if args.run:
        criteria['runId'] = one_or_list(args.run)
    if args.user:
        criteria['userName'] = one_or_list(args.user)
    if not required:
        # Every track has a task and a user: a lone '*' is no criterion
        # (and asks for no walk over every combination).
        for name in ('taskId', 'userName'):
            if criteria.get(name) == '*':
                del criteria[name]
    if args.time_from is not None:
        criteria['timeFrom'] = args.time_from
    if args.time_to is not None:
        criteria['timeTo'] = args.time_to
    if not criteria and required:
        raise CommandError('%s needs at least one criterion: --task, '
                           '--run, --user, --from or --to (use \'*\' for '
                           'every value, e.g. --task \'*\')' % command,
                           EXIT_USAGE)
    return criteria


def run_query(args):
    if args.id_order and args.newest_first:
        raise CommandError('--id-order and --newest-first are two orders: '
                           'give one', EXIT_USAGE)
    criteria = criteria_of(args, required=False)
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)
        criteria = with_current_runs(storage, criteria)
        if args.count:
            print(0 if criteria is None else
                  _count(storage, criteria, args.limit))
            return EXIT_OK
        if criteria is None:
            tracks = []
        elif args.id_order:
            if not criteria:
                tracks = storage.values()       # lazily, in id order
            else:
                if args.limit is not None:
                    criteria['limit'] = args.limit
                tracks = storage.query(**criteria)
            if args.limit is not None:
                tracks = itertools.islice(tracks, args.limit)
        else:
            tracks = newest_first(storage, criteria, args.limit)
        tracks = _letting_go(tracks, conn)
        if args.format == 'csv':
            write_csv(tracks, conn, storage=storage)
        elif args.format == 'table':
            stream_table(TRACK_COLUMNS, map(track_row, tracks))
        else:
            write_json(tracks, conn, lines=args.format == 'jsonl',
                       storage=storage)
    return EXIT_OK


def _count(storage, criteria, limit):
    """How many tracks meet ``criteria``, at most ``limit``: the
    storage's count for every track."""
    if not criteria:
        found = len(storage)
    else:
        # The storage has no count by criteria; one query makes views of
        # the tracks found (index reads, no track loads): windows, for a
        # count, took twice as long on a prefix of 1,000 users.
        found = len(storage.query(**criteria) if limit is None
                    else storage.query(limit=limit, **criteria))
    return found if limit is None else min(found, limit)


def _letting_go(tracks, conn):
    """``tracks``, letting go of the loaded ones every ``GC_EVERY``."""
    for count, track in enumerate(tracks, 1):
        yield track
        if count % GC_EVERY == 0:
            conn.cacheGC()


def run_runs(args):
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)
        task = args.task
        if task is not None:
            check_pattern('--task', task)
        if task is not None and task.endswith('*'):
            # A prefix, as query takes it ('*' alone: every run).
            runs = [run for run in storage.getRuns()
                    if (task == '*' or run.taskId is not None
                        and run.taskId.startswith(task[:-1]))]
        else:
            runs = storage.getRuns(task)
        current = storage.getCurrentRuns()
        if args.format == 'table':
            table(RUN_COLUMNS, run_rows(runs, current))
        else:
            print(dumps([run_dict(run, current) for run in runs], indent=2))
    return EXIT_OK


def run_check(args):
    from cybertools_tracking.check import check_storage
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)
        problems = check_storage(storage, limit=args.limit)
        for problem in problems:
            print(problem)
        if problems:
            error('%d problem%s found' % (len(problems),
                                          's' if len(problems) > 1 else ''))
            return EXIT_DATA
        print('consistent: %s, %s' % (counted(len(storage), 'track'),
                                      counted(len(storage.getRuns()),
                                              'run')))
        return EXIT_OK


def run_stats(args):
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)
        tasks = storage.getTaskIds()
        users = set()
        perTask = {}
        for task in tasks:
            users.update(storage.getUserNames(task))
            # The storage has no count by criteria; query() makes ghosts
            # of the tracks, which costs index reads but no track loads.
            perTask[task] = len(storage.query(taskId=task))
            conn.cacheGC()
        runs = storage.getRuns()
        stats = {
            'database': db_arg(args),
            'storage': storage_name(args),
            'tracks': len(storage),
            'tasks': len(tasks),
            'users': len(users),
            'runs': len(runs),
            'currentRuns': len(storage.getCurrentRuns()),
            'finishedRuns': sum(1 for run in runs if run.finished),
            'tracksPerTask': perTask,
            # A stored setting (events --track-events, serve).
            'trackEvents': storage.events in storage.trackObservers(),
        }
        db_storage = conn.db().storage
        if isinstance(db_storage, FileStorage):
            stats['fileSize'] = db_storage.getSize()
        if args.format == 'json':
            print(dumps(stats, indent=2))
            return EXIT_OK
        print('database:   %s' % stats['database'])
        if 'fileSize' in stats:
            print('file size:  %s (%d bytes)' % (size(stats['fileSize']),
                                                  stats['fileSize']))
        print('storage:    %s' % stats['storage'])
        print('tracks:     %d' % stats['tracks'])
        print('tasks:      %d' % stats['tasks'])
        print('users:      %d' % stats['users'])
        print('runs:       %d (%d current, %d finished)'
              % (stats['runs'], stats['currentRuns'], stats['finishedRuns']))
        print('track events: %s' % ('on' if stats['trackEvents'] else 'off'))
        if perTask:
            print('tracks per task:')
            table(('  taskId', 'tracks'),
                  [('  ' + task, str(n)) for task, n in perTask.items()])
    return EXIT_OK


def run_export(args):
    # No criteria: everything (every run too). A bad one is refused.
    given = (args.task or args.run or args.user or args.time_from is not None
             or args.time_to is not None)
    criteria = criteria_of(args, 'export') if given else None
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)
        if criteria is not None:
            criteria = with_current_runs(storage, criteria)
            tracks = [] if criteria is None else storage.query(**criteria)
            runIds = sorted({track.runId for track in tracks})
            runs = [run for run in map(storage.getRun, runIds)
                    if run is not None]
        else:
            tracks = storage.values()
            runs = storage.getRuns()
        try:
            out = (open(args.output, 'w', encoding='utf-8', newline='')
                   if args.output else contextlib.nullcontext(sys.stdout))
        except OSError as problem:
            raise CommandError('cannot write %s: %s' % (
                args.output, problem.strerror or problem)) from None
        with out as stream:
            count = export(storage, conn, runs,
                           [] if args.runs else tracks, stream, args.format,
                           runs_only=args.runs)
    if args.output:
        print('exported %s to %s'
              % (counted(len(runs), 'run') if args.runs else
                 counted(count, 'track') if args.format == 'csv' else
                 '%s and %s' % (counted(len(runs), 'run'),
                                counted(count, 'track')), args.output),
              file=sys.stderr)
    return EXIT_OK


def export(storage, conn, runs, tracks, out, format='jsonl',
           runs_only=False):
    """Write to ``out`` as JSON Lines ``runs``, then ``tracks`` with their
    event ids; as CSV one table: ``tracks``, or with ``runs_only`` the
    ``runs``. Returns the number of tracks written."""
    current = storage.getCurrentRuns()
    if format == 'csv':
        writer = csv_writer(out)
        if runs_only:
            writer.writerow(CSV_RUN_COLUMNS)
            for run in runs:
                writer.writerow(csv_run_row(run_dict(run, current)))
            return 0
        writer.writerow(CSV_TRACK_COLUMNS)
    else:
        for run in runs:
            out.write(dumps(dict(kind='run', **run_dict(run, current)))
                      + '\n')
        if runs_only:
            return 0
    count = 0
    for count, track in enumerate(tracks, 1):
        eventId = storage.getEventId(track)
        if format == 'csv':
            writer.writerow(csv_track_row(track, eventId))
        else:
            out.write(dumps(track_dict(track, eventId)) + '\n')
        if count % GC_EVERY == 0:
            conn.cacheGC()
    return count

"""The goal commands: ``goals history`` and ``goals tick``.

::

    cybertools-tracking goals history [--group G] [--tracker NAME] ...
    cybertools-tracking goals tick [--at TIME] [--group G]

``history`` lists the recorded outcomes (``goals/history.py``), newest
first; ``tick`` lets time act on the goals without a new track (expired
trackers removed, deadlines failed, calendar periods closed), for a
periodic job.
"""

import argparse
import time

from cybertools_tracking.cli.common import EXIT_OK, EXIT_USAGE
from cybertools_tracking.cli.common import CommandError, connection
from cybertools_tracking.cli.common import existing_storage, non_negative_int
from cybertools_tracking.cli.common import time_from, time_to, TIME_HELP
from cybertools_tracking.cli.formatting import local_time, table
from cybertools_tracking.cli.jsoncodec import dumps
from cybertools_tracking.db import retry_transaction

__all__ = ['add_commands']

HISTORY_COLUMNS = ('time', 'group', 'tracker', 'kind', 'stage', 'progress',
                   'track', 'grantor', 'reason')


def add_commands(command):
    goals = command(
        'goals', run_history, 'goals: "history" lists completions, stages, '
        'resets, limits, expiries, grants and revokes, newest first; "tick" '
        'lets time act without a new track (expired trackers removed, '
        'deadlines failed, calendar periods closed), for a periodic job. '
        '"goals ACTION --help" says more',
        'cybertools-tracking goals history --group alice --kind completed\n'
        '  cybertools-tracking goals tick --at 2024-02-01T00:00Z')
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
                      help='tick only this group (a user); repeatable')
    # history's options, hidden: tick acts at one moment (--at) on whole
    # groups, so a range, a tracker or kind filter, a limit or a format
    # would be silently meaningless; each is refused with what to use.
    for option, nargs in (('--from', 1), ('--to', 1), ('--tracker', 1),
                          ('--kind', 1), ('--limit', 1), ('--format', 1)):
        tick.add_argument(option, nargs=nargs, action=_NotForTick,
                          help=argparse.SUPPRESS)


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
        try:
            result = retry_transaction(
                lambda: storage.goals.tick(now_ts=now, group_ids=args.group),
                manager)
        except (TypeError, ValueError) as problem:
            raise CommandError(str(problem), EXIT_USAGE) from None
        for kind in ('closed', 'failed', 'expired'):
            for tracker in getattr(result, kind):
                print('%s\t%s\t%s' % (kind, tracker.group_id, tracker.name))
        print('ticked at %s: %d closed, %d failed, %d expired, %d changed'
              % (local_time(now), len(result.closed), len(result.failed),
                 len(result.expired), len(result.changed)))
    return EXIT_OK

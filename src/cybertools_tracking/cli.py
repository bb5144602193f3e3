"""The ``cybertools-tracking`` command line.

::

    cybertools-tracking [--db URI_OR_PATH] [--storage NAME] COMMAND ...

    demo     fill a fresh storage with a sample and show what it holds
    import   load tracks from JSON Lines (a file or - for stdin)
    query    list tracks by task, run, user and time
    runs     list runs
    stats    count tracks, tasks, users and runs

The database defaults to ``$CYBERTOOLS_TRACKING_DB`` or else
``var/tracking.fs`` below the current directory; a path is taken literally,
never read as a URI. ``--db``, ``--storage`` and ``--wait`` (how long to
wait for a ZEO server that does not answer) may be given before or after
the command.

``main(argv)`` returns the exit code instead of exiting, so that it can be
called in-process: 0 for success, 1 for a problem with the data or the
database, 2 for a usage error. Problems are reported on stderr as one line.

Only ``demo`` and ``import`` write. ``query``, ``runs`` and ``stats`` read
in a transaction that is aborted, and refuse to create a missing database.
"""

import argparse
import contextlib
import datetime
import json
import logging
import os
import random
import re
import sys
import time

import transaction
from transaction.interfaces import TransactionError
from ZODB.FileStorage import FileStorage
from ZODB.POSException import POSError

from cybertools_tracking.db import DEFAULT_NAME, DEFAULT_URI
from cybertools_tracking.db import DatabaseLockedError
from cybertools_tracking.db import DatabaseUnavailableError, file_path
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.db import retry_transaction, wait_for_server
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.timestamps import as_timestamp
from cybertools_tracking.validation import ValidationError

__all__ = ['main']

PROG = 'cybertools-tracking'
ENV_DB = 'CYBERTOOLS_TRACKING_DB'

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2

# Read-only commands let go of loaded tracks every so many rows, so that
# printing a large result does not keep every track's state in memory.
GC_EVERY = 10_000

# Commit retries (ZEO, RelStorage): capped exponential backoff with jitter,
# slept between attempts.
COMMIT_ATTEMPTS = 5

# Seconds to wait for a ZEO server that does not answer (--wait).
DEFAULT_WAIT = 60

try:
    from ZEO.Exceptions import ClientDisconnected
except ImportError:         # without ZEO nothing raises it
    class ClientDisconnected(Exception):
        pass


class CommandError(Exception):
    """A problem to report as one line on stderr, with an exit code."""

    def __init__(self, message, code=EXIT_DATA):
        super().__init__(message)
        self.code = code


def main(argv=None):
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return
    the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:      # --help, or a usage error already shown
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    try:
        with _quiet_client_logs():
            return args.command(args)
    except CommandError as error:
        _error(str(error))
        return error.code
    except (DatabaseLockedError, DatabaseUnavailableError) as error:
        _error(str(error))
        return EXIT_DATA
    except KeyboardInterrupt:
        _error('interrupted')
        return 130
    except BrokenPipeError:
        # The reader went away (``... | head``): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_DATA
    except (POSError, OSError) as error:
        # The database or the disk failed (a conflict that retries did
        # not resolve, a full disk ...): say so; a bug still shows its
        # traceback.
        _error('%s: %s' % (type(error).__name__, error))
        return EXIT_DATA


def _error(message):
    print('%s: %s' % (PROG, message), file=sys.stderr)


@contextlib.contextmanager
def _quiet_client_logs():
    """Keep ZEO's and asyncio's reports of a lost connection (a warning
    per failed write, errors for calls that reached the new server) off
    stderr: the command says itself that it waits and what came of it.
    Critical ones still show, and a program that configured logging gets
    everything."""
    if logging.getLogger().handlers:
        yield
        return
    loggers = [logging.getLogger(name) for name in ('ZEO', 'asyncio')]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


# the command line

def _parser():
    # --db and --storage are accepted before and after the command. The
    # copies default to SUPPRESS so that one given before the command is
    # not overwritten by the subcommand's default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        '--db', metavar='URI_OR_PATH', default=argparse.SUPPRESS,
        help='the database: a FileStorage path (taken literally, never '
             'as a URI) or a URI (file://, memory://, zeo://, ...); '
             'default $%s or %s'
             % (ENV_DB, DEFAULT_URI))
    common.add_argument(
        '--storage', metavar='NAME', default=argparse.SUPPRESS,
        help='the name of the tracking storage in the database root '
             '(default %r)' % DEFAULT_NAME)
    common.add_argument(
        '--wait', metavar='SECONDS', type=_seconds,
        default=argparse.SUPPRESS,
        help='how long to wait for a ZEO server that does not answer, '
             'when opening or after it went away, before giving up '
             '(default %d)' % DEFAULT_WAIT)

    parser = argparse.ArgumentParser(
        prog=PROG, parents=[common],
        description='Record and inspect user and device activity '
                    '(tracks and runs) in a ZODB database.')
    commands = parser.add_subparsers(title='commands', metavar='COMMAND')
    commands.required = True

    def command(name, run, help):
        sub = commands.add_parser(name, parents=[common], help=help,
                                  description=help)
        sub.set_defaults(command=run)
        return sub

    demo = command('demo', _demo, 'fill a fresh storage with a sample '
                   '(an e-learning scenario) and show what it holds')
    demo.add_argument('--force', action='store_true',
                      help='delete an existing storage of that name first')

    load = command('import', _import, 'import tracks from JSON Lines: one '
                   'object per line with taskId, userName, data and '
                   'optionally runId and timeStamp. If a ZEO server goes '
                   'away, it is waited for (--wait) and the batch in '
                   'progress is saved again; if it does not come back, the '
                   'import stops and says from which line to resume')
    load.add_argument('file', metavar='FILE',
                      help='the file to read, - for stdin')
    load.add_argument('--batch', metavar='N', type=_positive_int,
                      default=1000,
                      help='commit every N tracks (default 1000)')
    load.add_argument('--on-error', choices=('skip', 'abort'),
                      default='skip',
                      help='on a bad line: report and skip it (default), '
                           'or abort, discarding the uncommitted batch')

    query = command('query', _query, 'list the tracks that meet every '
                    'criterion; a value ending in * is a prefix')
    query.add_argument('--task', action='append', metavar='TASK_ID',
                       help='task id; repeat for any of several')
    query.add_argument('--run', action='append', metavar='RUN_ID',
                       type=_positive_int,
                       help='run number; repeat for any of several')
    query.add_argument('--user', action='append', metavar='USER',
                       help='user name; repeat for any of several')
    query.add_argument('--from', dest='time_from', metavar='TIME',
                       type=_time_from,
                       help='earliest time: seconds since the epoch or local '
                            'YYYY-MM-DD[THH:MM[:SS]]')
    query.add_argument('--to', dest='time_to', metavar='TIME',
                       type=_time_to,
                       help='latest time, inclusive: a date means the end '
                            'of that day, HH:MM the end of that minute')
    query.add_argument('--limit', metavar='N', type=_non_negative_int,
                       help='show at most N tracks')
    query.add_argument('--newest-first', action='store_true',
                       help='order by time, newest first (with --limit: '
                            'the newest N)')
    query.add_argument('--format', choices=('table', 'json', 'jsonl'),
                       default='table')

    runs = command('runs', _runs, 'list the runs; * marks a task\'s '
                   'current run')
    runs.add_argument('--task', metavar='TASK_ID',
                      help='only the runs of this task')
    runs.add_argument('--format', choices=('table', 'json'), default='table')

    zeo = command('zeo', _zeo, 'serve a FileStorage with ZEO, so that '
                  'several processes can use it (zeo://HOST:PORT)')
    zeo.add_argument('path', metavar='PATH', nargs='?',
                     default=os.path.join('var', 'tracking.fs'),
                     help='the FileStorage file (default var/tracking.fs)')
    zeo.add_argument('--host', default='127.0.0.1',
                     help='the address to listen on (default 127.0.0.1: '
                          'ZEO has no authentication)')
    zeo.add_argument('--port', type=_non_negative_int, default=8100,
                     help='the port (default 8100; 0 picks a free one)')

    check = command('check', _check, 'check that every index agrees with '
                    'the tracks; exit 1 if not')
    check.add_argument('--limit', type=_positive_int, default=100,
                       help='report at most this many problems (100)')

    upgrade = command('upgrade', _upgrade, 'convert a storage written '
                      'before the row layout, in batches, each committed; '
                      'run it again to go on after a stop')
    upgrade.add_argument('--batch', metavar='N', type=_positive_int,
                         default=5000,
                         help='tracks per transaction (default 5000)')

    stats = command('stats', _stats, 'count tracks, tasks, users and runs')
    stats.add_argument('--format', choices=('table', 'json'),
                       default='table')
    return parser


def _positive_int(text):
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError('expected a positive number, got %r'
                                         % text)
    return value


def _non_negative_int(text):
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError('expected a number >= 0, got %r'
                                         % text)
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value >= 0 or value == float('inf'):
        raise argparse.ArgumentTypeError('expected a number of seconds >= 0, '
                                         'got %r' % text)
    return value


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected a whole number, got %r'
                                         % text) from None


_TIME_FORMATS = (  # (format, the unit it names: what --to extends to)
    ('%Y-%m-%d', datetime.timedelta(days=1)),
    ('%Y-%m-%dT%H:%M', datetime.timedelta(minutes=1)),
    ('%Y-%m-%dT%H:%M:%S', datetime.timedelta(seconds=1)),
)


def parse_time(text, end=False):
    """Seconds since the epoch for an int or a local ISO date or time.

    With ``end`` a date or minute means its last second, so that
    ``--to 2024-01-16`` includes that day.
    """
    text = text.strip()
    if re.fullmatch(r'-?\d+', text):
        return int(text)
    normalized = text.replace(' ', 'T', 1)
    for format, unit in _TIME_FORMATS:
        try:
            moment = datetime.datetime.strptime(normalized, format)
        except ValueError:
            continue
        if end:
            return as_timestamp(moment + unit) - 1
        return as_timestamp(moment)
    raise ValueError('expected seconds since the epoch or '
                     'YYYY-MM-DD[THH:MM[:SS]], got %r' % text)


def _time_from(text):
    try:
        return parse_time(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _time_to(text):
    try:
        return parse_time(text, end=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# the database

def _db_arg(args):
    return (getattr(args, 'db', None) or os.environ.get(ENV_DB)
            or DEFAULT_URI)


def _storage_name(args):
    return getattr(args, 'storage', None) or DEFAULT_NAME


def _wait_seconds(args):
    wait = getattr(args, 'wait', None)
    return DEFAULT_WAIT if wait is None else wait


@contextlib.contextmanager
def _connection(args, write, on_wait=None):
    """Yield (transaction manager, connection) on the database of ``args``.

    The transaction is aborted at the end: writers commit themselves.
    Without ``write`` a missing FileStorage is an error, not created.
    A ZEO server is waited for ``--wait`` seconds; ``on_wait(message)``
    (default: print it on stderr) is told when that begins.
    """
    uri = _db_arg(args)
    path = file_path(uri)
    if not write and path is not None and not os.path.exists(path):
        raise CommandError('no database at %s (create one with "import" '
                           'or "demo", or name another with --db)' % path)
    try:
        db = open_db(uri, wait_timeout=_wait_seconds(args),
                     on_wait=on_wait or _error)
    except (DatabaseLockedError, DatabaseUnavailableError):
        raise
    except KeyError as error:       # zodburi knows no such scheme
        raise CommandError('--db %s: %s; expected a path or a file://, '
                           'memory://, zeo:// ... URI'
                           % (uri, error.args[0] if error.args else error),
                           EXIT_USAGE) from None
    except Exception as error:
        raise CommandError('cannot open the database %s: %s: %s'
                           % (path or uri, type(error).__name__, error)
                           ) from None
    try:
        manager = transaction.TransactionManager()
        connection = db.open(transaction_manager=manager)
        try:
            yield manager, connection
        finally:
            manager.abort()
            connection.close()
    finally:
        db.close()


def _existing_storage(connection, args):
    name = _storage_name(args)
    try:
        return get_storage(connection, name, create=False)
    except KeyError:
        raise CommandError('no tracking storage %r in %s (fill one with '
                           '"import" or "demo", or name another with '
                           '--storage)' % (name, _db_arg(args))) from None
    except TypeError as error:
        raise CommandError(str(error)) from None


# formatting

def _time(ts):
    return time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ts))


def _json(value, **kw):
    # Tracks saved by other programs may hold values JSON has no word for.
    return json.dumps(value, ensure_ascii=False, default=repr, **kw)


def _compact(value):
    return _json(value, separators=(',', ':'))


def _table(header, rows, out=None):
    """Print rows of strings in columns; the last column is not padded."""
    out = out or sys.stdout
    rows = [header] + list(rows)
    widths = [max(len(row[i]) for row in rows)
              for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print('  '.join(cells + [row[-1]]).rstrip(), file=out)


TRACK_COLUMNS = ('id', 'taskId', 'runId', 'userName', 'time', 'data')


def _track_row(track):
    return (track.__name__, track.taskId, str(track.runId), track.userName,
            _time(track.timeStamp), _compact(track.data))


def _track_dict(track):
    return {'id': track.__name__, 'taskId': track.taskId,
            'runId': track.runId, 'userName': track.userName,
            'timeStamp': track.timeStamp, 'data': track.data}


RUN_COLUMNS = ('id', 'taskId', 'start', 'end', 'finished', 'current')


def _run_rows(runs, current):
    return [(str(run.id), '' if run.taskId is None else run.taskId,
             _time(run.start), _time(run.end),
             'yes' if run.finished else 'no',
             '*' if current.get(run.taskId) == run.id else '')
            for run in runs]


def _size(n):
    for unit in ('bytes', 'KB', 'MB', 'GB'):
        if n < 1024 or unit == 'GB':
            return ('%d %s' % (n, unit) if unit == 'bytes'
                    else '%.1f %s' % (n, unit))
        n /= 1024


# demo

DEMO_BASE = datetime.datetime(2024, 1, 15, 8, 0)  # local time, a Monday
DEMO_DAYS = 5
DEMO_SEED = 20240115
DEMO_BATCH = 500
DEMO_TASKS = {  # task id -> number of pages; learners go through in order
    'python/intro': 12,
    'python/loops': 18,
    'python/functions': 22,
    'stats/means': 15,
    'stats/regression': 20,
}
DEMO_USERS = ('alice', 'ben', 'carla', 'david', 'emma', 'felix', 'greta',
              'hannah', 'ivan', 'julia', 'karl', 'lena', 'mona', 'nils',
              'olga', 'paul', 'sam', 'sara', 'sophie', 'stefan')
# The statistics course closes on Tuesday evening: its run is finished.
# A new cohort starts the Python intro on Wednesday morning: a new run.
DEMO_STOP = ('stats/means', DEMO_BASE + datetime.timedelta(days=1, hours=10))
DEMO_START = ('python/intro', DEMO_BASE + datetime.timedelta(days=2,
                                                             hours=-1))


def _demo_events():
    """The sample as a list of (timeStamp, taskId, userName, data), in
    time order: users come on most days for a session or two, open one
    lesson and page through it, with a quiz score and reading time per
    page."""
    rng = random.Random(DEMO_SEED)
    stop = as_timestamp(DEMO_STOP[1])
    tasks = list(DEMO_TASKS)
    events = []
    for day in range(DEMO_DAYS):
        morning = as_timestamp(DEMO_BASE + datetime.timedelta(days=day))
        for user in DEMO_USERS:
            if rng.random() < 0.15:
                continue                      # a day off
            for session in range(rng.randint(2, 4)):
                ts = morning + rng.randint(0, 9 * 3600)
                open_tasks = [t for t in tasks
                              if not (t == DEMO_STOP[0] and ts > stop)]
                task = rng.choice(open_tasks)
                pages = DEMO_TASKS[task]
                first = rng.randint(1, pages - 5)
                for page in range(first, pages + 1):
                    duration = rng.randint(20, 300)
                    score = min(100, max(0, round(rng.gauss(72, 15))))
                    events.append((ts, task, user, {
                        'page': page, 'score': score, 'duration': duration}))
                    ts += duration
    events.sort(key=lambda event: event[:3])
    # A session can run past the course's close: drop those pages.
    return [e for e in events if not (e[1] == DEMO_STOP[0] and e[0] > stop)]


def _fill_demo(manager, connection, storage_name):
    """Save the sample, committing every DEMO_BATCH tracks; run the
    scenario's stop and start at their times."""
    storage = get_storage(connection, storage_name)
    changes = [
        (as_timestamp(DEMO_STOP[1]), 'stop', DEMO_STOP[0]),
        (as_timestamp(DEMO_START[1]), 'start', DEMO_START[0]),
    ]
    for count, (ts, task, user, data) in enumerate(_demo_events(), 1):
        while changes and changes[0][0] <= ts:
            at, change, changed = changes.pop(0)
            # startRun and stopRun stamp the run with the clock; the demo
            # plays at its own fixed time, so the run is set to that.
            if change == 'stop':
                run = storage.getRun(storage.stopRun(changed))
                run.end = max(at, run.start)
            else:
                run = storage.getRun(storage.startRun(changed))
                run.start = run.end = at
        storage.saveUserTrack(task, 0, user, data, timeStamp=ts)
        if count % DEMO_BATCH == 0:
            manager.commit()
            connection.cacheGC()
    manager.commit()
    return storage


def _demo(args):
    name = _storage_name(args)
    with _connection(args, write=True) as (manager, connection):
        root = connection.root()
        existing = root.get(name)
        if existing is not None:
            if not isinstance(existing, TrackingStorage):
                raise CommandError('root[%r] is a %s, not a tracking '
                                   'storage; not touching it'
                                   % (name, type(existing).__name__))
            # A storage holding just the sample of an earlier demo is
            # replaced: running the demo again shows it again.
            sample = getattr(existing, '_demoSample', None)
            if len(existing) and not args.force and sample != len(existing):
                raise CommandError(
                    'the storage %r in %s already has %d tracks; the demo '
                    'needs a fresh one (--force deletes it, or use another '
                    '--storage or --db)' % (name, _db_arg(args),
                                            len(existing)))
            # Replaced, not emptied: a fresh storage numbers tracks and
            # runs from 1 again, so the demo shows the same output.
            del root[name]
        storage = _fill_demo(manager, connection, name)
        storage._demoSample = len(storage)
        manager.commit()
        _show_demo(args, storage)
    return EXIT_OK


def _show_demo(args, storage):
    tasks = storage.getTaskIds()
    users = sorted({user for task in tasks
                    for user in storage.getUserNames(task)})
    runs = storage.getRuns()
    print('Filled the storage %r in %s with a sample: %d tracks of %d '
          'users in %d tasks, %d runs.'
          % (_storage_name(args), _db_arg(args), len(storage), len(users),
             len(tasks), len(runs)))

    print('\nTasks and their users  (getTaskIds, getUserNames):')
    _table(('taskId', 'users'),
           [(task, str(len(storage.getUserNames(task)))) for task in tasks])

    task = DEMO_START[0]
    for user in storage.getUserNames(task):
        last = storage.getLastUserTrack(task, 0, user)
        if last is not None:    # the user has tracks in the current run
            break
    print('\nThe last track of %s in %s, current run  '
          '(getLastUserTrack(%r, 0, %r)):' % (user, task, task, user))
    _table(TRACK_COLUMNS, [_track_row(last)])

    print('\nRuns; * marks a task\'s current run  (getRuns, '
          'getCurrentRuns):')
    _table(RUN_COLUMNS, _run_rows(runs, storage.getCurrentRuns()))

    start = DEMO_BASE + datetime.timedelta(days=1, hours=2)
    end = start + datetime.timedelta(minutes=5)
    found = storage.query(timeFrom=as_timestamp(start),
                          timeTo=as_timestamp(end))
    print('\nTracks from %s to %s  (query(timeFrom=..., timeTo=...)): %d, '
          'the first 3:' % (start.strftime('%Y-%m-%d %H:%M'),
                            end.strftime('%H:%M'), len(found)))
    _table(TRACK_COLUMNS, [_track_row(t) for t in found[:3]])

    found = storage.query(userName='s*')
    names = sorted({t.userName for t in found})
    print('\nTracks of users whose names start with s  '
          '(query(userName=\'s*\')): %d, of %s.'
          % (len(found), ', '.join(names)))

    db = '' if getattr(args, 'db', None) is None else ' --db ' + args.db
    print('\nTry:')
    for line in ("query --user 's*' --task 'python/*' --newest-first "
                 "--limit 5",
                 'query --from 2024-01-17T09:00 --to 2024-01-17T09:10 '
                 '--format jsonl',
                 'runs --task python/intro',
                 'stats'):
        print('  %s%s %s' % (PROG, db, line))


# import

_FIELDS = ('taskId', 'userName', 'data', 'runId', 'timeStamp')
_REQUIRED = ('taskId', 'userName', 'data')


_JSON_TYPES = {list: 'an array', str: 'a string', bool: 'true or false',
               type(None): 'null'}


class BadLine(ValueError):
    """A line that is not a track."""


def _parse_line(line, first):
    if isinstance(line, bytes):
        try:
            line = line.decode('utf-8-sig' if first else 'utf-8')
        except UnicodeDecodeError as error:
            raise BadLine('not UTF-8 (%s)' % error.reason) from None
    elif first:
        line = line.lstrip('\ufeff')
    line = line.rstrip('\r\n')     # so that an error's column is on it
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadLine('invalid JSON: %s at column %d'
                      % (error.msg, error.colno)) from None
    except RecursionError:
        raise BadLine('invalid JSON: nested too deeply') from None
    except ValueError as error:      # a number too long to convert
        raise BadLine('invalid JSON: %s' % error) from None
    if not isinstance(record, dict):
        raise BadLine('expected a JSON object, got %s'
                      % _JSON_TYPES.get(type(record), 'a number'))
    problems = []
    missing = [f for f in _REQUIRED if f not in record]
    if missing:
        problems.append('missing %s' % _fields(missing))
    unknown = [f for f in record if f not in _FIELDS]
    if unknown:    # most likely a misspelling: say what is known
        problems.append('unknown %s (expected %s)'
                        % (_fields(unknown), ', '.join(_FIELDS)))
    if problems:
        raise BadLine('; '.join(problems))
    return record


def _fields(names):
    return '%s %s' % ('field' if len(names) == 1 else 'fields',
                      ', '.join(repr(name) for name in names))


def _save(storage, record):
    return storage.saveUserTrack(record['taskId'], record.get('runId', 0),
                                 record['userName'], record['data'],
                                 timeStamp=record.get('timeStamp'))


def _open_input(name):
    if name == '-':
        stdin = sys.stdin
        return contextlib.nullcontext(getattr(stdin, 'buffer', stdin))
    try:
        return open(name, 'rb')
    except OSError as error:
        raise CommandError('cannot read %s: %s'
                           % (name, error.strerror or error)) from None


def _import(args):
    source = 'stdin' if args.file == '-' else args.file
    progress = _Progress()

    def on_wait(message):
        progress.clear()
        _error(message)

    # Open the input first: a wrong file name must not create a database.
    with _open_input(args.file) as lines, \
            _connection(args, write=True, on_wait=on_wait) as (manager,
                                                               connection):
        return _Import(args, manager, connection, source, progress).run(lines)


class _Import:
    """One ``import``: tracks are saved as their lines are read (so that a
    bad line is reported by its number) and committed every ``--batch``
    tracks.

    A batch that cannot be committed is saved again from its records in a
    new transaction: after a conflict (the pause and attempts of
    ``retry_transaction``) and after its ZEO server went away and came
    back (waited for up to ``--wait`` seconds, counted from when it went
    away). The last tries to commit may even have reached the server just
    before it went away: the batch's first track tells (its number is never
    given out again), and such a batch is not saved twice.
    """

    def __init__(self, args, manager, connection, source, progress):
        self.manager = manager
        self.connection = connection
        self.name = _storage_name(args)
        self.size = args.batch
        self.wait = _wait_seconds(args)
        self.abort_on_error = args.on_error == 'abort'
        self.source = source
        self.progress = progress
        self.storage = get_storage(connection, self.name)
        self.batch = []         # the records saved since the last commit
        self.first = None       # the id of the batch's first track, as saved
        self.imported = self.skipped = 0
        self.resume = 1         # the first line after the last commit
        self.reconnected = False

    def run(self, lines):
        number = 0
        aborted_at = None
        try:
            for number, line in enumerate(lines, 1):
                try:
                    record = _parse_line(line, number == 1)
                    if record is None:
                        continue
                    self.save(record)
                except (BadLine, ValidationError) as error:
                    # Refused before anything was written (the storage's
                    # promise): the batch is as it was.
                    reason = str(error)
                except (POSError, TransactionError, DatabaseUnavailableError):
                    raise
                except Exception as error:
                    # Any other error may have left the line half saved.
                    # A skipped line must not be committed: go back to the
                    # last commit and save the batch again without it.
                    self.manager.abort()
                    self.manager.begin()
                    try:
                        self.redo()
                    except ClientDisconnected:
                        self.recover()
                    reason = 'cannot be saved: %s: %s' % (
                        type(error).__name__, error)
                else:
                    if len(self.batch) >= self.size:
                        self.commit(number)
                    continue
                self.progress.clear()
                _error('%s line %d: %s' % (self.source, number, reason))
                if self.abort_on_error:
                    self.manager.abort()
                    aborted_at = number
                    break
                self.skipped += 1
            if aborted_at is None and self.batch:
                self.commit(number)
        except KeyboardInterrupt:
            self.manager.abort()
            self.progress.clear()
            print(self.summary('interrupted', number))
            return 130
        except (DatabaseUnavailableError, POSError) as error:
            # The server did not come back, or a conflict outlasted the
            # retries: say what is stored and where to go on from.
            self.manager.abort()
            self.progress.clear()
            _error(str(error) if isinstance(error, DatabaseUnavailableError)
                   else '%s: %s' % (type(error).__name__, error))
            print(self.summary('stopped', number))
            return EXIT_DATA
        self.progress.clear()
        print(self.summary('aborted', aborted_at, resume=False))
        return EXIT_DATA if self.skipped or aborted_at is not None else EXIT_OK

    def save(self, record):
        while True:
            try:
                # Known to be away: wait now, rather than in the first
                # call that needs the server.
                if self.server_gone():
                    raise ClientDisconnected('the server went away')
                track = self._save(self.storage, record)
                break
            except ClientDisconnected:
                self.recover()
        if not self.batch:
            self.first = track
        self.batch.append(record)

    def commit(self, number):
        retry_transaction(self.redo, self.manager, attempts=COMMIT_ATTEMPTS,
                          started=True, on_retry=self.retrying)
        self.imported += len(self.batch)
        self.batch.clear()
        self.resume = number + 1
        self.connection.cacheGC()
        self.progress.show('%s: %d tracks imported, %d lines skipped'
                           % (self.source, self.imported, self.skipped))

    def retrying(self, attempt, error):
        # Called by retry_transaction after the abort, before the redo.
        if isinstance(error, ClientDisconnected):
            self.await_server()

    def recover(self):
        """The server went away while a line was saved: wait for it, then
        save the batch again in a new transaction."""
        for attempt in range(COMMIT_ATTEMPTS):
            self.manager.abort()
            self.await_server()
            self.manager.begin()
            try:
                self.redo()
                return
            except ClientDisconnected as error:
                lost = error
        raise lost

    def await_server(self):
        # DatabaseUnavailableError if it does not come back in time.
        wait_for_server(self.connection.db(), self.wait)
        self.reconnected = True

    def redo(self):
        """Save the batch again, in the current (new) transaction, unless
        its commit got through after all."""
        # A storage this import created was made again by the first call.
        self.storage = storage = get_storage(self.connection, self.name)
        committed = self.first is not None and self.first in storage
        if self.reconnected:
            self.reconnected = False
            self.progress.clear()
            _error('the batch in progress was committed before the server '
                   'went away' if committed else
                   'saving again the %d tracks read since the last commit'
                   % len(self.batch))
        if committed:
            return
        self.first = None
        for record in self.batch:
            track = self._save(storage, record)
            if self.first is None:
                self.first = track

    def _save(self, storage, record):
        try:
            return _save(storage, record)
        except ClientDisconnected:
            raise
        except Exception as error:
            # Whatever fails while the server is away (reserving a block of
            # track numbers ends in a RuntimeError) fails for that reason:
            # wait and try again, rather than call the line bad.
            if self.server_gone():
                raise ClientDisconnected(str(error)) from error
            raise

    def server_gone(self):
        is_connected = getattr(self.connection.db().storage, 'is_connected',
                               None)
        return is_connected is not None and not is_connected()

    def summary(self, stop, line, resume=True):
        summary = ('imported %d tracks, skipped %d lines'
                   % (self.imported, self.skipped))
        if line is not None:
            summary += '; %s at line %d' % (stop, line)
            if self.batch:
                summary += (', the %d tracks read since the last commit were '
                            'not stored' % len(self.batch))
            if resume:
                summary += '; resume from line %d' % self.resume
        return summary


class _Progress:
    """A line on stderr that each batch overwrites, shown only to a
    person watching (stderr is a terminal)."""

    def __init__(self):
        self.stream = sys.stderr
        self.active = self.stream.isatty()
        self.shown = False

    def show(self, text):
        if self.active:
            self.stream.write('\r\x1b[K' + text)
            self.stream.flush()
            self.shown = True

    def clear(self):
        if self.shown:
            self.stream.write('\r\x1b[K')
            self.stream.flush()
            self.shown = False


# query, runs, stats

def _query(args):
    criteria = {}
    if args.task:
        criteria['taskId'] = _one_or_list(args.task)
    if args.run:
        criteria['runId'] = _one_or_list(args.run)
    if args.user:
        criteria['userName'] = _one_or_list(args.user)
    if args.time_from is not None:
        criteria['timeFrom'] = args.time_from
    if args.time_to is not None:
        criteria['timeTo'] = args.time_to
    if not criteria:
        raise CommandError('query needs at least one criterion: --task, '
                           '--run, --user, --from or --to (use \'*\' for '
                           'every value, e.g. --task \'*\')', EXIT_USAGE)
    if args.limit is not None:
        criteria['limit'] = args.limit
    if args.newest_first:
        criteria['newestFirst'] = True
    with _connection(args, write=False) as (manager, connection):
        storage = _existing_storage(connection, args)
        tracks = storage.query(**criteria)
        if args.format == 'table':
            rows = []
            for count, track in enumerate(tracks, 1):
                rows.append(_track_row(track))
                if count % GC_EVERY == 0:
                    connection.cacheGC()
            _table(TRACK_COLUMNS, rows)
        else:
            _write_json(tracks, connection, lines=args.format == 'jsonl')
    return EXIT_OK


def _one_or_list(values):
    return values[0] if len(values) == 1 else values


def _write_json(tracks, connection, lines):
    out = sys.stdout
    if not lines:
        out.write('[')
    for count, track in enumerate(tracks, 1):
        text = _json(_track_dict(track))
        if lines:
            out.write(text + '\n')
        else:
            out.write(('\n  ' if count == 1 else ',\n  ') + text)
        if count % GC_EVERY == 0:
            connection.cacheGC()
    if not lines:
        out.write('\n]\n' if tracks else ']\n')


def _runs(args):
    with _connection(args, write=False) as (manager, connection):
        storage = _existing_storage(connection, args)
        runs = storage.getRuns(args.task)
        current = storage.getCurrentRuns()
        if args.format == 'table':
            _table(RUN_COLUMNS, _run_rows(runs, current))
        else:
            print(_json([{'id': run.id, 'taskId': run.taskId,
                          'start': run.start, 'end': run.end,
                          'finished': run.finished,
                          'current': current.get(run.taskId) == run.id}
                         for run in runs], indent=2))
    return EXIT_OK


def _check(args):
    from cybertools_tracking.check import check_storage
    with _connection(args, write=False) as (manager, connection):
        storage = _existing_storage(connection, args)
        problems = check_storage(storage, limit=args.limit)
        for problem in problems:
            print(problem)
        if problems:
            _error('%d problem%s found' % (len(problems),
                                           's' if len(problems) > 1 else ''))
            return EXIT_DATA
        print('consistent: %d tracks, %d runs' % (len(storage),
                                                  len(storage.getRuns())))
        return EXIT_OK


def _upgrade(args):
    # tqdm: a progress bar for a conversion that takes minutes on millions
    # of tracks (see upgrade); it writes to stderr, only on a terminal.
    from tqdm import tqdm

    from cybertools_tracking.upgrade import needs_upgrade, upgrade
    name = _storage_name(args)
    with _connection(args, write=False) as (manager, connection):
        storage = connection.root().get(name)
        if storage is None:
            _existing_storage(connection, args)      # says what is wrong
        if not needs_upgrade(storage):
            print('storage %r has the row layout already: nothing to do'
                  % name)
            return EXIT_OK
        new = storage.__dict__.get('_store')        # a stopped upgrade's
        done = 0 if new is None else sum(1 for _ in new.numbers())
        with tqdm(total=len(storage), initial=done, unit=' tracks',
                  file=sys.stderr, disable=None) as bar:
            count = upgrade(connection.db(), name, args.batch, bar.update)
        print('converted %d tracks of storage %r to the row layout'
              % (done + count, name))
    return EXIT_OK


def _zeo(args):
    from cybertools_tracking.zeoserver import serve
    serve(args.path, args.host, args.port,
          announce=lambda line: print(line, flush=True))
    return EXIT_OK


def _stats(args):
    with _connection(args, write=False) as (manager, connection):
        storage = _existing_storage(connection, args)
        tasks = storage.getTaskIds()
        users = set()
        perTask = {}
        for task in tasks:
            users.update(storage.getUserNames(task))
            # The storage has no count by criteria; query() makes ghosts
            # of the tracks, which costs index reads but no track loads.
            perTask[task] = len(storage.query(taskId=task))
            connection.cacheGC()
        runs = storage.getRuns()
        stats = {
            'database': _db_arg(args),
            'storage': _storage_name(args),
            'tracks': len(storage),
            'tasks': len(tasks),
            'users': len(users),
            'runs': len(runs),
            'currentRuns': len(storage.getCurrentRuns()),
            'finishedRuns': sum(1 for run in runs if run.finished),
            'tracksPerTask': perTask,
        }
        db_storage = connection.db().storage
        if isinstance(db_storage, FileStorage):
            stats['fileSize'] = db_storage.getSize()
        if args.format == 'json':
            print(_json(stats, indent=2))
            return EXIT_OK
        print('database:   %s' % stats['database'])
        if 'fileSize' in stats:
            print('file size:  %s (%d bytes)' % (_size(stats['fileSize']),
                                                  stats['fileSize']))
        print('storage:    %s' % stats['storage'])
        print('tracks:     %d' % stats['tracks'])
        print('tasks:      %d' % stats['tasks'])
        print('users:      %d' % stats['users'])
        print('runs:       %d (%d current, %d finished)'
              % (stats['runs'], stats['currentRuns'], stats['finishedRuns']))
        if perTask:
            print('tracks per task:')
            _table(('  taskId', 'tracks'),
                   [('  ' + task, str(n)) for task, n in perTask.items()])
    return EXIT_OK

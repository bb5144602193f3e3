"""The ``import`` command: tracks from JSON Lines, in batches.

Tracks are saved as their lines are read (so that a bad line is reported
by its number) and committed every ``--batch`` tracks.
"""

import contextlib
import json
import sys

from transaction.interfaces import TransactionError
from ZODB.POSException import POSError

from cybertools_tracking.cli.common import COMMIT_ATTEMPTS, EXIT_DATA
from cybertools_tracking.cli.common import EXIT_INTERRUPTED, EXIT_OK
from cybertools_tracking.cli.common import ClientDisconnected, CommandError
from cybertools_tracking.cli.common import connection as _connection
from cybertools_tracking.cli.common import error as _error
from cybertools_tracking.cli.common import positive_int
from cybertools_tracking.cli.common import storage_name as _storage_name
from cybertools_tracking.cli.common import wait_seconds as _wait_seconds
from cybertools_tracking.db import DatabaseUnavailableError, get_storage
from cybertools_tracking.db import retry_transaction, wait_for_server
from cybertools_tracking.validation import ValidationError


def add_commands(command):
    load = command(
        'import', run_import, 'import tracks from JSON Lines: one object per '
        'line with taskId, userName, data and optionally runId and '
        'timeStamp. If a ZEO server goes away, it is waited for (--wait) '
        'and the batch in progress is saved again; if it does not come '
        'back, the import stops and says from which line to resume',
        'cybertools-tracking import tracks.jsonl --batch 5000')
    load.add_argument('file', metavar='FILE',
                      help='the file to read, - for stdin')
    load.add_argument('--batch', metavar='N', type=positive_int,
                      default=1000,
                      help='commit every N tracks (default 1000)')
    load.add_argument('--on-error', choices=('skip', 'abort'),
                      default='skip',
                      help='on a bad line: report and skip it (default), '
                           'or abort, discarding the uncommitted batch')


# import

_FIELDS = ('taskId', 'userName', 'data', 'runId', 'timeStamp', 'eventId')
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
                                 timeStamp=record.get('timeStamp'),
                                 eventId=record.get('eventId'))


def _open_input(name):
    if name == '-':
        stdin = sys.stdin
        return contextlib.nullcontext(getattr(stdin, 'buffer', stdin))
    try:
        return open(name, 'rb')
    except OSError as error:
        raise CommandError('cannot read %s: %s'
                           % (name, error.strerror or error)) from None


def run_import(args):
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
            return EXIT_INTERRUPTED
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



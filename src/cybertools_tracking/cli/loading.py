"""The ``import`` command: tracks (and runs) from JSON Lines, in batches
that can be interrupted and resumed.

Tracks are saved as their lines are read (so that a bad line is reported
by its number) and committed every ``--batch`` tracks, each batch with a
record of how far the import got (``imports.ImportProgress``: source,
size, line, byte offset and a digest of the bytes before it), in the same
transaction. Whatever stops the import (Ctrl-C, SIGTERM, SIGKILL, a lost
server), ``import --resume FILE`` goes on after the last committed batch:
no line is stored twice or lost. A file that only grew (an append-only
log) goes on too, even after a complete import; a file whose bytes
before the offset reached changed, or that shrank, is refused.

A line is a track: ``taskId``, ``userName``, ``data`` and optionally
``runId`` (0: the task's current run), ``timeStamp`` (seconds, or ISO 8601
as ``query --from`` takes it), ``eventId`` (see ``eventids``) and ``id``
(what ``export`` writes; not kept, tracks are numbered anew in file
order). Or a run, as ``export`` writes them before the tracks: ``{"kind":
"run", "id", "taskId", "start", "end", "finished", "current"}``; the run
is made anew and the tracks of the file that name its ``id`` go into it.
A run marked current becomes its task's current run only where the task
has none (``--replace-current``: also where it has one); see
``_make_run``. A run line that ends before it starts, is marked current
without a task, or gives an id an earlier run line of the file gave, is
refused (``importformats._check_run``, ``_Import.check_runs``), and so
are the tracks that name a refused run.
Data is read as ``jsoncodec`` writes it.

The first line says how the rest is read (``importformats._layout``): ``[`` alone, a
JSON array with one element a line (what ``query --format json``
writes); a CSV header (columns of a track or of a run, in any order,
separated by ``,``, ``;``, a tab or ``|``), a CSV table; else JSON Lines.

A file whose import stored nothing (no track, no run: every line was
refused) may be imported again without ``--again``: the retry after a
fix stores nothing twice. The same error on many lines is shown for the
first ``REPEATS_SHOWN`` and then counted.

What a line may be is in ``importformats``, how the file is read in
``importinput``, and what an import does about an earlier import of the
same file (resume, refuse, write its rejects) in ``importrepeats``.
"""

import contextlib
import os
import re
import secrets
import signal
import threading
import time

from transaction.interfaces import TransactionError
from ZODB.POSException import POSError

from cybertools_tracking.cli.common import COMMIT_ATTEMPTS, EXIT_DATA
from cybertools_tracking.cli.common import EXIT_INTERRUPTED, EXIT_OK
from cybertools_tracking.cli.common import Progress, count, plural
from cybertools_tracking.cli.common import ClientDisconnected, CommandError
from cybertools_tracking.cli.common import connection as _connection
from cybertools_tracking.cli.common import error as _error
from cybertools_tracking.cli.common import positive_int
from cybertools_tracking.cli.common import storage_name as _storage_name
from cybertools_tracking.cli.common import wait_seconds as _wait_seconds
from cybertools_tracking.db import DatabaseUnavailableError, get_storage
from cybertools_tracking.db import retry_transaction, wait_for_server
from cybertools_tracking.eventids import EventIdConflictError
from cybertools_tracking.eventids import conflict_message
from cybertools_tracking.imports import forget_progress, import_progress
from cybertools_tracking.imports import record_rejected
from cybertools_tracking.validation import ValidationError
# The input formats and the input, each a module of its own; their names
# stay importable from here, as they were (tests and benchmarks use them).
from cybertools_tracking.cli.importformats import ARRAY, CSV_HELP  # noqa
from cybertools_tracking.cli.importformats import BadLine, _Table  # noqa
from cybertools_tracking.cli.importformats import _layout, _parse_line
from cybertools_tracking.cli.importformats import _reject_json, _text
from cybertools_tracking.cli.importinput import DamagedInput, _Input
from cybertools_tracking.cli.importinput import _GZIP_ERRORS  # noqa
from cybertools_tracking.cli.importrepeats import EarlierImports
from cybertools_tracking.jsoncodec import dumps

def add_commands(command):
    load = command(
        'import', run_import, 'import tracks from JSON Lines (a file, a .gz '
        'file, or - for stdin): one object per line with taskId, userName, '
        'data and optionally runId, timeStamp (seconds or ISO 8601) and '
        'eventId; the runs and tracks "export" writes; the JSON list '
        '"query --format json" writes; or a CSV table (by its header, or a '
        '.csv name): ' + CSV_HELP + '. A runId names a run of the database '
        'imported into: "query" output names runs the new database may not '
        'have, "export" carries them. Each batch is '
        'committed with a record of how far the import got: after Ctrl-C, '
        'SIGTERM or even SIGKILL, "import --resume FILE" goes on after the '
        'last committed batch. If a ZEO server goes away, it is waited for '
        '(--wait) and the batch in progress is saved again',
        'cybertools-tracking import tracks.jsonl.gz --rejects bad.jsonl\n'
        '  cybertools-tracking import --resume tracks.jsonl.gz\n'
        '  printf \'taskId,userName,data\\nquiz,ann,"{""score"": 3}"\\n\' '
        '> min.csv && cybertools-tracking import min.csv')
    load.add_argument('file', metavar='FILE',
                      help='the file to read, - for stdin')
    load.add_argument('--resume', action='store_true',
                      help='go on after the last batch an earlier import of '
                           'FILE committed; a FILE that grew since goes on '
                           'with the new lines (refused if bytes imported '
                           'before changed)')
    load.add_argument('--again', '--restart', dest='again',
                      action='store_true',
                      help='import FILE from its first line although an '
                           'earlier import of it is recorded, as complete '
                           '(--again) or stopped (--restart): the tracks it '
                           'stored are stored again, but for lines with '
                           'event ids')
    load.add_argument('--batch', metavar='N', type=positive_int,
                      default=IMPORT_BATCH,
                      help='commit every N tracks (default %d)'
                           % IMPORT_BATCH)
    load.add_argument('--on-error', choices=('skip', 'abort'),
                      default='skip',
                      help='on a bad line: report and skip it (default), '
                           'or abort, discarding the uncommitted batch')
    load.add_argument('--replace-current', action='store_true',
                      help='make each run the file marks "current" its '
                           'task\'s current run even where the task has one '
                           '(by default such a run is imported as not '
                           'current: a task\'s current run changes only '
                           'where it has none)')
    load.add_argument('--rejects', metavar='FILE',
                      help='also write each bad line to FILE as JSON: '
                           '{"line": N, "reason": ..., "text": the line} '
                           '(and "header": the first line of a CSV table '
                           'or JSON array). FILE can be imported once its '
                           '"text"s are fixed. Given with a FILE imported '
                           'before, it writes the lines that import '
                           'skipped and stores nothing (exit code 1, as '
                           'those lines are not stored yet)')
    load.add_argument('--progress', action='store_true',
                      help='print a progress line now and then even when '
                           'stderr is not a terminal (on a terminal a '
                           'progress bar shows anyway)')


# Tracks a transaction of ``import`` (--batch). Each commit pickles again
# every index bucket the batch touched: 5,000 took a third less CPU than
# 1,000 per line imported, memory alike (benchmarks/RESULTS.md,
# import_bench.py); more gained little and loses more work to a crash.
IMPORT_BATCH = 5000

# A bad line's error is shown for so many lines; more lines with the
# same error are counted and said once, at the end.
REPEATS_SHOWN = 3

# An import that stored more tracks than this suggests "pack".
PACK_HINT = 10_000

class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


# The longest value a refusal quotes, in characters of JSON.
QUOTE_LIMIT = 200


def _as_json(value):
    """``value`` as the JSON of a line (``jsoncodec``), cut to
    ``QUOTE_LIMIT`` characters with "..."."""
    text = dumps(value, separators=(', ', ': '))
    return text if len(text) <= QUOTE_LIMIT else \
        text[:QUOTE_LIMIT - 3] + '...'


def _reason(error):
    """Why a line was refused: an event id's conflict with its values
    as JSON, the file's language (the wording HTTP uses too)."""
    if isinstance(error, EventIdConflictError):
        return conflict_message(error, _as_json)
    return str(error)


def _save(storage, record, runs, replace_current=False, passed_over=None):
    """Save one record; ``runs`` maps the file's run ids to the storage's.
    Returns the track id, or None for a run. ``replace_current`` and
    ``passed_over``: see ``_make_run``."""
    if record.get('kind') == 'run':
        runs[record['id']] = _make_run(storage, record, replace_current,
                                       passed_over)
        return None
    runId = record.get('runId', 0)
    return storage.saveUserTrack(record['taskId'], runs.get(runId, runId),
                                 record['userName'], record['data'],
                                 timeStamp=record.get('timeStamp'),
                                 eventId=record.get('eventId'))


def _make_run(storage, record, replace_current=False, passed_over=None):
    """A new run like the exported one ``record``; returns its id.

    Which run is a task's current one is the storage's own state, which
    an import does not overturn unasked: a run marked ``current`` becomes
    its task's current run only if the task has none (an export imported
    into an empty storage comes back as it was), or with
    ``replace_current`` (``import --replace-current``). A run marked
    current that did not become so is put in ``passed_over`` (a dict: the
    file's run id -> its task), for the summary to say. A run not marked
    current never changes the task's current run."""
    taskId = record['taskId']
    current = record['current'] and taskId is not None and (
        replace_current or storage.getRun(taskId) is None)
    runId = storage.startRun(taskId, current=current)
    if record['current'] and taskId is not None and not current \
            and passed_over is not None:
        passed_over[record['id']] = taskId
    run = storage.getRun(runId)
    # Checked by importformats._run_record: start <= end.
    run.start, run.end = record['start'], record['end']
    run.finished = record['finished']
    return runId


def run_import(args):
    if args.resume and args.file == '-':
        raise CommandError('--resume needs a file: what stdin sent before '
                           'cannot be read again', 2)
    _check_rejects(args)
    # Open the input first: a wrong file name must not create a database.
    source = _Input(args.file)
    progress = Progress(source.source, source.size, 'B', args.progress)

    def on_wait(message):
        progress.clear()
        _error(message)

    try:
        with _connection(args, write=True, on_wait=on_wait) as (manager,
                                                                 conn):
            load = _Import(args, manager, conn, source, progress)
            try:
                with load.signals():
                    return load.run()
            finally:
                load.close()
    finally:
        progress.close()
        source.close()


def _same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file: the same inode when
    both exist (hard links, symbolic links), the same real path if not."""
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def _check_rejects(args):
    """Refuse ``--rejects`` naming the input (it would be overwritten),
    before anything is opened."""
    if args.rejects and args.file != '-' and _same_file(args.file,
                                                        args.rejects):
        raise CommandError('--rejects %s is the file to import (%s): it '
                           'would be overwritten; name another file'
                           % (args.rejects, args.file), 2)


class _Import(EarlierImports):
    """One ``import``.

    A batch that cannot be committed is saved again from its records in a
    new transaction: after a conflict (the pause and attempts of
    ``retry_transaction``) and after its ZEO server went away and came
    back (waited for up to ``--wait`` seconds, counted from when it went
    away). The last tries to commit may even have reached the server just
    before it went away: the progress record tells (it names this import
    and its number of commits), and such a batch is not saved twice.
    """

    def __init__(self, args, manager, connection, input, progress):
        self.manager = manager
        self.connection = connection
        self.name = _storage_name(args)
        self.size = args.batch
        self.wait = _wait_seconds(args)
        self.abort_on_error = args.on_error == 'abort'
        self.replace_current = args.replace_current
        self.passed_over = {}   # runs marked current, kept not current
        self.passed_over_done = {}  # the same, committed
        self.input = input
        self.source = input.source
        self.key = input.path or 'stdin:' + secrets.token_hex(8)
        self.token = secrets.token_hex(8)
        self.progress = progress
        self.storage = get_storage(connection, self.name)
        self.batch = []         # the records saved since the last commit
        self.runs = {}          # the file's run ids -> the storage's
        self.run_lines = {}     # the file's run ids -> their lines
        self.refused_runs = {}  # ids of refused runs -> their lines
        self.imported = self.skipped = self.commits = 0
        self.tracks = 0         # new tracks in the batch
        self.known = 0          # lines whose event id was stored already
        self.resume = 1         # the first line after the last commit
        self.reconnected = False
        self.rejected = []      # rejects of the batch, written at commit
        self.rejects = None
        self.header = None      # the first line of a CSV table or array
        self.rejects_only = None    # an import recorded: write its rejects
        self.pending = None     # the progress the next commit records
        self.committing = False
        self.signal = None      # a signal that came during a commit
        self.first_line = 1
        self.layout = None      # a CSV _Table, ARRAY, None: JSON Lines
        self.said = {}          # kind of reason -> [lines, first, ...]
        self.base = 0           # tracks imported before a resume
        self.base_skipped = 0   # and lines skipped
        self.made_runs = 0      # runs committed (in all, after a resume)
        self.base_runs = 0      # runs made before a resume
        if args.resume:
            self.restart()
        elif not args.again and input.path is not None:
            self.refuse_repeat(args.rejects)
        if args.rejects:
            try:
                self.rejects = open(args.rejects, 'a' if args.resume
                                    else 'w', encoding='utf-8')
            except OSError as error:
                raise CommandError('cannot write %s: %s' % (
                    args.rejects, error.strerror or error)) from None

    def close(self):
        if self.rejects is not None:
            self.rejects.close()
            self.rejects = None

    @contextlib.contextmanager
    def signals(self):
        """SIGINT and SIGTERM end the import like Ctrl-C, but never in the
        middle of a commit: one that comes then waits until it is done."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.committing:
                self.signal = signum
            else:
                raise Interrupted(signum)
        old = {signum: signal.signal(signum, handler)
               for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, previous in old.items():
                signal.signal(signum, previous)

    def run(self):
        if self.rejects_only is not None:
            return self.write_rejects(self.rejects_only)
        number = self.first_line - 1
        aborted_at = None
        try:
            for number, line in enumerate(self.input.lines(),
                                          self.first_line):
                try:
                    if number == 1:
                        first = _text(line, True)
                        self.layout = _layout(first, self.source)
                        if self.layout is not None:
                            self.header = first
                            continue    # a CSV table's header, or [
                    record = _parse_line(line, number == 1, self.layout)
                    if record is None:
                        continue
                    self.check_runs(record, number)
                    self.save(record)
                except (BadLine, ValidationError) as error:
                    # Refused before anything was written (the storage's
                    # promise): the batch is as it was.
                    reason = _reason(error)
                    if 'no such run' in reason:
                        reason += self.run_hint()
                    refused_run = getattr(error, 'run_id', None)
                    if refused_run is not None and \
                            refused_run not in self.runs:
                        self.refused_runs[refused_run] = number
                except (POSError, TransactionError, DatabaseUnavailableError,
                        CommandError):
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
                self.refused(number, reason)
                if self.abort_on_error:
                    self.manager.abort()
                    aborted_at = number
                    break
                self.skipped += 1
                self.rejected.append((number, reason, line))
            if aborted_at is None:
                self.commit(number, done=True)
                if self.input.path is None:
                    # stdin cannot be read again: keep no record of it.
                    retry_transaction(lambda: forget_progress(
                        self.connection, self.name, self.key), self.manager,
                        attempts=COMMIT_ATTEMPTS)
        except KeyboardInterrupt as interrupt:
            self.manager.abort()
            self.progress.clear()
            signum = getattr(interrupt, 'signum', signal.SIGINT)
            print(self.summary('interrupted by %s'
                               % signal.Signals(signum).name, number))
            return 128 + signum if signum != signal.SIGINT \
                else EXIT_INTERRUPTED
        except DamagedInput as error:
            # What was committed stays: a complete file resumes.
            self.manager.abort()
            self.progress.clear()
            _error('%s (at line %d)' % (error, number + 1))
            print(self.summary('stopped', number))
            return EXIT_DATA
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

    def run_hint(self):
        """Why a track may name a run the storage does not have."""
        if isinstance(self.layout, _Table):
            return (' (a CSV table of tracks names runs by number: import '
                    'the table of runs, "export --format csv --runs", '
                    'first)')
        return (' (the file names runs it does not carry, as "query" '
                'writes them: write it with "export", which carries the '
                'runs, or drop runId so that each track goes into its '
                'task\'s current run)')

    def refused(self, number, reason):
        """Say that line ``number`` was refused for ``reason``: the first
        ``REPEATS_SHOWN`` times for each kind of reason (the same words,
        numbers aside: "runId 1: there is no such run" and "runId 2: ..."
        are one kind); the rest are counted, and said by ``repeated``."""
        kind = re.sub(r'\d+', '#', reason)
        said = self.said.setdefault(kind, [0, reason, False])
        said[0] += 1
        if said[0] <= REPEATS_SHOWN:
            self.progress.clear()
            _error('%s line %d: %s' % (self.source, number, reason))
        elif reason != said[1]:
            said[2] = True          # the numbers differ

    def repeated(self):
        """Say how many more lines were refused for a kind of reason
        shown."""
        for lines, reason, numbers_differ in self.said.values():
            if lines > REPEATS_SHOWN:
                self.progress.clear()
                _error('%s: ... and %s with the same error%s: %s'
                       % (self.source, count(lines - REPEATS_SHOWN,
                                             'more line'),
                          ' (but for its numbers)' if numbers_differ
                          else '', reason))
        self.said.clear()

    def check_runs(self, record, number):
        """Refuse a run whose id the file gave an earlier run (both would
        be made, and its tracks go into the later one), and a track that
        names a run of the file that was refused (it would go into
        whatever run of the storage has that number)."""
        if record.get('kind') == 'run':
            old = record['id']
            if old in self.runs:
                raise BadLine(
                    'run id %d is the id of an earlier run of this file '
                    '(%sstored as run %d): a file names each run once; give '
                    'this run another id, and its tracks with it'
                    % (old, 'line %d, ' % self.run_lines[old]
                       if old in self.run_lines else '', self.runs[old]))
            self.refused_runs.pop(old, None)
            self.run_lines[old] = number
        else:
            runId = record.get('runId', 0)
            if runId and runId in self.refused_runs:
                raise BadLine(
                    'runId %d names the run of line %d of this file, which '
                    'was refused; fix that line and import both again'
                    % (runId, self.refused_runs[runId]))

    def save(self, record):
        while True:
            try:
                # Known to be away: wait now, rather than in the first
                # call that needs the server.
                if self.server_gone():
                    raise ClientDisconnected('the server went away')
                eventId = record.get('eventId')
                known = eventId is not None and \
                    self.storage.getTrackByEventId(eventId) is not None
                track = self._save(self.storage, record)
                break
            except ClientDisconnected:
                self.recover()
        self.batch.append(record)
        if known:
            self.known += 1
        elif track is not None:
            self.tracks += 1

    def commit(self, number, done=False):
        self.pending = (number, self.input.offset,
                        self.input.digest.hexdigest(), done)
        self.record()
        self.committing = True
        try:
            retry_transaction(self.redo, self.manager,
                              attempts=COMMIT_ATTEMPTS, started=True,
                              on_retry=self.retrying)
        finally:
            self.committing = False
        self.imported += self.tracks
        self.made_runs = len(self.runs)
        self.passed_over_done.update(self.passed_over)
        self.passed_over.clear()
        self.commits += 1
        self.batch.clear()
        self.tracks = 0
        self.resume = number + 1
        if self.rejects is not None and self.rejected:
            for line, reason, text in self.rejected:
                self.rejects.write(_reject_json(line, reason, text,
                                                self.header))
            self.rejects.flush()
        self.rejected.clear()
        self.connection.cacheGC()
        position = self.input.position()
        rate = (self.imported - self.base) / self.progress.seconds()
        self.progress.update(position, 'line %d%s, %s imported, %s '
                             'skipped, %.0f tracks/s'
                             % (number, self.progress.share(position),
                                count(self.imported, 'track'),
                                count(self.skipped, 'line'), rate),
                             '%d tracks' % self.imported)
        if self.signal is not None:
            raise Interrupted(self.signal)

    def record(self):
        """Write the progress the commit under way makes true."""
        number, offset, digest, done = self.pending
        progress = import_progress(self.connection, self.name, self.key,
                                   create=True)
        progress.size = self.input.size or 0
        progress.line, progress.offset, progress.digest = (number, offset,
                                                           digest)
        progress.token, progress.commits = self.token, self.commits + 1
        progress.imported = self.imported + self.tracks
        progress.skipped = self.skipped
        progress.done = done
        record_rejected(progress, [(line, reason) for line, reason, _
                                   in self.rejected],
                        fresh=self.first_line == 1 and not self.commits)
        if progress.runs != self.runs:
            progress.runs = dict(self.runs)
        progress.updated = int(time.time())

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

    def committed(self):
        """Whether the commit under way got through after all."""
        stored = import_progress(self.connection, self.name, self.key)
        return (self.pending is not None and stored is not None
                and stored.token == self.token
                and stored.commits == self.commits + 1)

    def redo(self):
        """Save the batch again, in the current (new) transaction, unless
        its commit got through after all."""
        # A storage this import created was made again by the first call.
        self.storage = storage = get_storage(self.connection, self.name)
        committed = self.committed()
        if self.reconnected:
            self.reconnected = False
            self.progress.clear()
            _error('the batch in progress was committed before the server '
                   'went away' if committed else
                   'saving again the %s read since the last commit'
                   % count(self.tracks, 'track'))
        if committed:
            return
        for record in self.batch:
            self._save(storage, record)
        if self.pending is not None and self.committing:
            self.record()

    def _save(self, storage, record):
        try:
            return _save(storage, record, self.runs, self.replace_current,
                         self.passed_over)
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
        self.repeated()
        if self.first_line > 1:
            # Resumed: this run's counts, and the totals of the file.
            runs = self.made_runs - self.base_runs
            summary = ('imported %s (%d in all)%s, skipped %s (%d in all)'
                       % (count(self.imported - self.base, 'track'),
                          self.imported,
                          ' and %s' % count(runs, 'run') if runs else '',
                          count(self.skipped - self.base_skipped, 'line'),
                          self.skipped))
        else:
            summary = ('imported %s%s, skipped %s'
                       % (count(self.imported, 'track'),
                          ' and %s' % count(self.made_runs, 'run')
                          if self.made_runs else '',
                          count(self.skipped, 'line')))
        if self.known:
            summary += (', %s with event ids stored before'
                        % count(self.known, 'line'))
        moved = sorted((old, new) for old, new in self.runs.items()
                       if old != new and isinstance(self.layout, _Table)
                       and self.layout.runs)
        if moved:
            # A table of runs (CSV) is imported apart from its tracks: the
            # track table names the runs by their exported numbers.
            summary += ('; runs were numbered anew (%s%s): tracks '
                        'imported apart from their runs (a CSV table of '
                        'tracks) name the old numbers'
                        % (', '.join('%d is now %d' % pair
                                     for pair in moved[:3]),
                           ', ...' if len(moved) > 3 else ''))
        if self.passed_over_done:
            tasks = sorted(set(self.passed_over_done.values()))
            summary += ('; %s marked current did not become current, as '
                        '%s %s a current run already (%s%s): '
                        '--replace-current makes %s current'
                        % (count(len(self.passed_over_done), 'run'),
                           plural(len(tasks), 'its task', 'their tasks'),
                           plural(len(tasks), 'has', 'have'),
                           ', '.join(tasks[:3]),
                           ', ...' if len(tasks) > 3 else '',
                           plural(len(self.passed_over_done), 'it',
                                  'them')))
        if line is None and self.skipped > self.base_skipped \
                and self.rejects is None and self.input.path is not None:
            # The import recorded the lines it skipped: say how to get
            # them, as a repeated import would (stdin keeps no record).
            # A resume that skipped none says nothing of those before.
            # An import that stored nothing is not held against the file
            # (importrepeats): the same command imports it again.
            summary += ('; "import %s --rejects FILE" writes %s to FILE, %s'
                        % (self.input.name, plural(self.skipped, 'it',
                                                   'them'),
                           'storing nothing' if self.imported
                           or self.made_runs else 'importing the file '
                           'again (nothing was stored)'))
        if line is None and self.imported - self.base > PACK_HINT:
            summary += ('. Run "pack" to make the file smaller: each batch '
                        'left old versions of records in it')
        if line is not None:
            summary += '; %s at line %d' % (stop, line)
            if self.tracks:
                summary += (', the %s read since the last commit %s '
                            'not stored' % (count(self.tracks, 'track'),
                                            plural(self.tracks, 'was',
                                                   'were')))
            if resume:
                summary += '; resume from line %d' % self.resume
                if self.input.path is not None:
                    summary += (' with "import --resume %s"'
                                % self.input.name)
        return summary

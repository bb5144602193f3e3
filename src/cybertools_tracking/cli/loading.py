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
``_make_run``.
Data is read as ``jsoncodec`` writes it.

The first line says how the rest is read (``_layout``): ``[`` alone, a
JSON array with one element a line (what ``query --format json``
writes); a CSV header (columns of a track or of a run, in any order,
separated by ``,``, ``;``, a tab or ``|``), a CSV table; else JSON Lines.

A file whose import stored nothing (no track, no run: every line was
refused) may be imported again without ``--again``: the retry after a
fix stores nothing twice. The same error on many lines is shown for the
first ``REPEATS_SHOWN`` and then counted.
"""

import contextlib
import csv
import gzip
import hashlib
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import zlib

from transaction.interfaces import TransactionError
from ZODB.POSException import POSError

from cybertools_tracking.cli.common import COMMIT_ATTEMPTS, EXIT_DATA
from cybertools_tracking.cli.common import EXIT_INTERRUPTED, EXIT_OK
from cybertools_tracking.cli.common import Progress, count, plural
from cybertools_tracking.cli.common import ClientDisconnected, CommandError
from cybertools_tracking.cli.common import connection as _connection
from cybertools_tracking.cli.common import error as _error
from cybertools_tracking.cli.common import parse_time, positive_int
from cybertools_tracking.cli.common import storage_name as _storage_name
from cybertools_tracking.cli.common import wait_seconds as _wait_seconds
from cybertools_tracking.cli.formatting import CSV_RUN_COLUMNS
from cybertools_tracking.cli.formatting import CSV_TRACK_COLUMNS
from cybertools_tracking.cli.jsoncodec import loads
from cybertools_tracking.db import DatabaseUnavailableError, get_storage
from cybertools_tracking.db import retry_transaction, wait_for_server
from cybertools_tracking.imports import forget_progress, import_progress
from cybertools_tracking.imports import record_rejected
from cybertools_tracking.validation import InvalidTypeError
from cybertools_tracking.validation import ValidationError, check_run_id
from cybertools_tracking.validation import check_optional_name
from cybertools_tracking.validation import check_timestamp

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
                           'skipped and stores nothing')
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

_FIELDS = ('taskId', 'userName', 'data', 'runId', 'timeStamp', 'eventId')
_REQUIRED = ('taskId', 'userName', 'data')
_OPTIONAL = ('id',)            # read and not kept: what export writes
_RUN_FIELDS = ('kind', 'id', 'taskId', 'start', 'end', 'finished',
               'current')


_JSON_TYPES = {list: 'an array', str: 'a string', bool: 'true or false',
               type(None): 'null'}


class BadLine(ValueError):
    """A line that is not a track."""


class DamagedInput(Exception):
    """The input cannot be read on: a ``.gz`` file cut short or damaged."""


# What gzip raises for a file cut short (EOFError) or damaged.
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _text(line, first):
    """A line as text without its line end; BadLine if not UTF-8."""
    if isinstance(line, bytes):
        try:
            line = line.decode('utf-8-sig' if first else 'utf-8')
        except UnicodeDecodeError as error:
            raise BadLine('not UTF-8 (%s)' % error.reason) from None
    elif first:
        line = line.lstrip('\ufeff')
    return line.rstrip('\r\n')     # so that an error's column is on it


class _Table:
    """The header of a CSV table: its ``columns`` (in the file's order),
    its ``delimiter``, and whether its rows are ``runs`` (else tracks)."""

    def __init__(self, columns, delimiter):
        self.columns = columns
        self.delimiter = delimiter
        self.runs = set(columns) == set(CSV_RUN_COLUMNS)


# A file whose first line is ``[`` alone: a JSON array with one element a
# line, as ``query --format json`` writes it.
ARRAY = 'array'

# The delimiters a CSV header is tried with, in this order.
_DELIMITERS = (',', ';', '\t', '|')

# The columns a hand-written table of tracks may have, in any order.
_CSV_REQUIRED = ('taskId', 'userName', 'data')

_CSV_SUFFIXES = ('.csv', '.tsv', '.csv.gz', '.tsv.gz')

CSV_HELP = ('a CSV table of tracks has a header naming its columns, in any '
            'order, separated by , ; or a tab: taskId,userName,data (data '
            'as a JSON object: {"score": 3}) and optionally runId, '
            'timeStamp, eventId, id (not kept); or the columns %s of '
            '"export --format csv --runs"' % ','.join(CSV_RUN_COLUMNS))


def _layout(line, name=''):
    """How a file whose first line (as text) is ``line`` is read: a
    ``_Table`` for a CSV table (by its header: columns of a track or of a
    run, separated by one of ``_DELIMITERS``), ``ARRAY`` for a JSON array,
    None for JSON Lines. A file ``name``d ``*.csv`` whose header is not
    understood, or a header of known names that lacks some, is a
    CommandError saying which columns are expected."""
    text = line.strip()
    if text == '[':
        return ARRAY
    if text.startswith('['):
        raise CommandError(
            '%s line 1: a JSON array is read with one element a line, as '
            '"query --format json" writes it; this one is not (convert it '
            'to JSON Lines, e.g. with jq -c ".[]" FILE)' % name)
    if text.startswith('{'):
        return None
    known = set(CSV_TRACK_COLUMNS) | set(CSV_RUN_COLUMNS)
    looks_like_csv = name.lower().endswith(_CSV_SUFFIXES)
    widest = []
    for delimiter in _DELIMITERS:
        cells = [cell.strip() for cell in
                 next(csv.reader([text], delimiter=delimiter))]
        widest = max(widest, cells, key=len)
        if len(cells) < 2 or not set(cells) <= known:
            continue
        looks_like_csv = True
        if len(set(cells)) != len(cells):
            continue
        if set(cells) == set(CSV_RUN_COLUMNS) or \
                set(_CSV_REQUIRED) <= set(cells) <= set(CSV_TRACK_COLUMNS):
            return _Table(tuple(cells), delimiter)
    if looks_like_csv:
        unknown = [cell for cell in widest if cell not in known]
        missing = [column for column in _CSV_REQUIRED
                   if column not in widest]
        raise CommandError('%s line 1: a CSV header that import does not '
                           'read (%s): %s' % (name, '; '.join(filter(None, [
                               unknown and 'unknown %s' % _fields(unknown),
                               missing and 'no %s' % _fields(missing),
                               len(set(widest)) < len(widest)
                               and 'a column named twice'])), CSV_HELP))
    return None


def _parse_line(line, first, layout=None):
    """The record of one line: a track or a run (a dict, checked as far
    as can be without the storage), or None for an empty line. A line of
    JSON Lines, an element of a JSON array (``ARRAY``), or a row of the
    CSV table ``layout``. Raises BadLine saying what is wrong."""
    line = _text(line, first)
    if not line.strip():
        return None
    if isinstance(layout, _Table):
        return _csv_record(line, layout)
    if layout is ARRAY:
        line = line.strip()
        if line == ']':
            return None
        line = line[:-1] if line.endswith(',') else line
    try:
        record = loads(line)
    except json.JSONDecodeError as error:
        raise BadLine('invalid JSON: %s at column %d%s'
                      % (error.msg, error.colno, _ARRAY_HINT
                         if layout is ARRAY else '')) from None
    except RecursionError:
        raise BadLine('invalid JSON: nested too deeply') from None
    except ValueError as error:      # a number too long, a bad $ value
        raise BadLine('invalid JSON: %s' % error) from None
    if not isinstance(record, dict):
        raise BadLine('expected a JSON object, got %s'
                      % _JSON_TYPES.get(type(record), 'a number'))
    if _is_reject(record):
        return _parse_line(*_reject_text(record))
    if record.get('kind') == 'run':
        return _run_record(record)
    return _track_record(record)


# The fields of a line of a rejects file (``--rejects``): the bad line's
# number, why it was refused, its text, and for a line of a CSV table or
# a JSON array the file's first line, which says how the text is read.
_REJECT_FIELDS = ('line', 'reason', 'text')
_REJECT_OPTIONAL = ('header',)


def _is_reject(record):
    """Whether the JSON object ``record`` is a line of a rejects file:
    its fields are those ``--rejects`` writes (no track or run has them:
    its fields would be refused as unknown)."""
    return set(_REJECT_FIELDS) <= set(record) <= set(
        _REJECT_FIELDS + _REJECT_OPTIONAL)


def _reject_text(record):
    """(text, False, layout): how a line of a rejects file is read, as
    the line it stands for (its ``text``; the number and the reason are
    not data)."""
    text, header = record['text'], record.get('header')
    if not isinstance(text, str) or not isinstance(header, (str,
                                                           type(None))):
        raise BadLine('a line of a rejects file has "text" (and "header") '
                      'as strings, got %s' % _JSON_TYPES.get(
                          type(text if not isinstance(text, str)
                               else header), 'a number'))
    layout = None
    if header is not None:
        try:
            # Read as the header of a table (by its name) unless "[".
            layout = _layout(header, '.csv')
        except CommandError as error:
            layout = str(error).split(' line 1: ', 1)[-1]
        if not isinstance(layout, _Table) and layout is not ARRAY:
            raise BadLine('"header" of a line of a rejects file: %s'
                          % (layout or 'expected the first line of a CSV '
                             'table or a JSON array ("[")'))
    return text, False, layout


def _rejected_as(line, header):
    """(text, header) a refused ``line`` of a file with ``header`` (None
    for JSON Lines) is written to the rejects with: a line of a rejects
    file (imported, fixed or not) as the line it stands for, so that
    rejects of rejects are rejects of the first file."""
    if isinstance(line, bytes):
        line = line.decode('utf-8', 'backslashreplace')
    line = line.rstrip('\r\n')
    if header is None and line.lstrip().startswith('{'):
        try:
            record = loads(line)
        except (ValueError, RecursionError):
            return line, header
        if isinstance(record, dict) and _is_reject(record) and isinstance(
                record['text'], str) and isinstance(record.get('header'),
                                                    (str, type(None))):
            return _rejected_as(record['text'], record.get('header'))
    return line, header


def _reject_json(number, reason, line, header):
    """The line of a rejects file for line ``number``."""
    text, header = _rejected_as(line, header)
    reject = {'line': number, 'reason': reason, 'text': text}
    if header is not None:
        reject['header'] = header
    return json.dumps(reject, ensure_ascii=False) + '\n'


_ARRAY_HINT = (' (a JSON array is read with one element a line, as "query '
               '--format json" writes it; convert others to JSON Lines, '
               'e.g. with jq -c ".[]" FILE)')


def _csv_record(line, table):
    """A row of the CSV ``table`` of tracks or runs (as ``export --format
    csv`` writes them, or by hand) as the record its JSON line would be."""
    columns = table.columns
    try:
        cells = next(csv.reader([line], delimiter=table.delimiter,
                                strict=True))
    except csv.Error as error:
        raise BadLine('invalid CSV: %s (a row must be on one line)'
                      % error) from None
    if len(cells) != len(columns):
        raise BadLine('expected %d CSV cells (%s), got %d'
                      % (len(columns), table.delimiter.join(columns),
                         len(cells)))
    row = dict(zip(columns, cells))
    if table.runs:
        record = {'kind': 'run', 'id': _csv_int(row, 'id'),
                  'taskId': row['taskId'] or None,
                  'start': _csv_int(row, 'start'),
                  'end': _csv_int(row, 'end'),
                  'finished': _csv_bool(row, 'finished'),
                  'current': _csv_bool(row, 'current')}
        return _run_record(record)
    try:
        data = loads(row['data'])
    except (ValueError, RecursionError) as error:
        raise BadLine('data: invalid JSON: %s (data is a JSON object: '
                      '{"score": 3})' % error) from None
    record = {'taskId': row['taskId'], 'userName': row['userName'],
              'data': data}
    if row.get('runId'):
        record['runId'] = _csv_int(row, 'runId')
    if row.get('timeStamp'):
        stamp = row['timeStamp']
        record['timeStamp'] = (int(stamp) if stamp.lstrip('-').isdigit()
                               else stamp)
    if row.get('eventId'):
        record['eventId'] = row['eventId']
    return _track_record(record)


def _csv_int(row, name):
    try:
        return int(row[name])
    except ValueError:
        raise BadLine('%s: expected a whole number, got %r'
                      % (name, row[name])) from None


def _csv_bool(row, name):
    value = row[name].lower()
    if value not in ('true', 'false'):
        raise BadLine('%s: expected true or false, got %r'
                      % (name, row[name]))
    return value == 'true'


def _track_record(record):
    """A track's record, checked for its fields and its time."""
    problems = []
    missing = [f for f in _REQUIRED if f not in record]
    if missing:
        problems.append('missing %s' % _fields(missing))
    unknown = [f for f in record if f not in _FIELDS + _OPTIONAL]
    if unknown:    # most likely a misspelling: say what is known
        problems.append('unknown %s (expected %s)'
                        % (_fields(unknown), ', '.join(_FIELDS)))
    if problems:
        raise BadLine('; '.join(problems))
    ts = record.get('timeStamp')
    if isinstance(ts, str):
        try:
            record['timeStamp'] = parse_time(ts)
        except ValueError as error:
            raise BadLine('timeStamp: %s' % error) from None
    return record


def _run_record(record):
    """A run line, checked: the storage's checks run before any write."""
    missing = [f for f in _RUN_FIELDS if f not in record]
    unknown = [f for f in record if f not in _RUN_FIELDS]
    if missing or unknown:
        raise BadLine('a run line has %s (expected %s)' % (
            '; '.join(filter(None, [
                missing and 'no %s' % _fields(missing),
                unknown and 'unknown %s' % _fields(unknown)])),
            ', '.join(_RUN_FIELDS)))
    record['id'] = check_run_id(record['id'], 'id')
    check_optional_name('taskId', record['taskId'])
    for name in ('start', 'end'):
        record[name] = check_timestamp(record[name], name)
    for name in ('finished', 'current'):
        if type(record[name]) is not bool:
            raise InvalidTypeError('%s must be true or false, got %r'
                                   % (name, record[name]))
    return record


def _fields(names):
    return '%s %s' % ('field' if len(names) == 1 else 'fields',
                      ', '.join(repr(name) for name in names))


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
    run.start, run.end = record['start'], max(record['start'], record['end'])
    run.finished = record['finished']
    return runId


class _Input:
    """The lines to import, with the byte offset and a running digest of
    what was read. A gzip file (by its first bytes) is read decompressed;
    offsets count decompressed bytes, ``position`` the file's."""

    def __init__(self, name):
        self.name = name
        self.digest = hashlib.sha256()
        self.offset = 0
        if name == '-':
            self.source = 'stdin'
            self.path = None
            self.raw = None
            self.size = None
            stdin = sys.stdin
            self.stream = getattr(stdin, 'buffer', stdin)
            return
        self.source = name
        self.path = os.path.abspath(name)
        try:
            self.raw = open(name, 'rb')
        except OSError as error:
            raise CommandError('cannot read %s: %s'
                               % (name, error.strerror or error)) from None
        self.size = os.fstat(self.raw.fileno()).st_size
        magic = self.raw.read(2)
        self.raw.seek(0)
        self.stream = (gzip.GzipFile(fileobj=self.raw, mode='rb')
                       if magic == b'\x1f\x8b' else self.raw)

    def close(self):
        if self.raw is not None:
            self.stream.close()
            self.raw.close()

    def first_line(self):
        """The file's first line (decompressed), read on the side: what
        the format is when an import resumes after it."""
        with open(self.path, 'rb') as raw:
            magic = raw.read(2)
            raw.seek(0)
            stream = (gzip.GzipFile(fileobj=raw, mode='rb')
                      if magic == b'\x1f\x8b' else raw)
            try:
                return stream.readline()
            except _GZIP_ERRORS:
                return b''

    def same_as(self, progress):
        """How the file differs from the one of ``progress`` (a phrase),
        or None if its first ``progress.offset`` bytes are the ones
        imported (it may have grown). Read on the side, as
        ``first_line``."""
        if self.size < progress.size:
            return 'it had %d bytes, it has %d' % (progress.size, self.size)
        digest, left = hashlib.sha256(), progress.offset
        with open(self.path, 'rb') as raw:
            magic = raw.read(2)
            raw.seek(0)
            stream = (gzip.GzipFile(fileobj=raw, mode='rb')
                      if magic == b'\x1f\x8b' else raw)
            try:
                while left:
                    chunk = stream.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    digest.update(chunk)
                    left -= len(chunk)
            except _GZIP_ERRORS:
                pass
        if digest.hexdigest() != progress.digest:
            return ('its first %d bytes are not the ones imported'
                    % progress.offset)
        return None

    def position(self):
        """Bytes of the file read so far, for a progress bar."""
        return None if self.raw is None else self.raw.tell()

    def lines(self):
        lines = iter(self.stream)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except _GZIP_ERRORS as error:
                raise self.damaged(error) from None
            if isinstance(line, bytes):
                self.offset += len(line)
                self.digest.update(line)
            yield line

    def damaged(self, error):
        return DamagedInput('%s cannot be read after byte %d of its '
                            'content: the compressed data is cut short or '
                            'damaged (%s: %s)'
                            % (self.source, self.offset,
                               type(error).__name__, error))

    def skip(self, progress):
        """Read up to where ``progress`` says the last import stopped,
        checking that those bytes are the ones imported (the file may have
        grown since: lines appended are read on)."""
        if self.size < progress.size:
            self.changed(progress, 'it had %d bytes, it has %d'
                         % (progress.size, self.size))
        left = progress.offset
        while left:
            try:
                chunk = self.stream.read(min(left, 1 << 20))
            except _GZIP_ERRORS as error:
                raise CommandError(str(self.damaged(error))) from None
            if not chunk:
                break
            self.digest.update(chunk)
            self.offset += len(chunk)
            left -= len(chunk)
        if self.digest.hexdigest() != progress.digest:
            self.changed(progress, 'its first %d bytes are not the ones '
                         'imported' % progress.offset)

    def changed(self, progress, how):
        raise CommandError(
            '%s changed since the import stopped at line %d: %s. Importing '
            'it again without --resume would store every line again, but '
            'for those with event ids (%s imported from it); '
            'restore the file to resume, or import only the lines after '
            'line %d (tail -n +%d %s | cybertools-tracking import -)'
            % (self.source, progress.line, how,
               count(progress.imported, 'track'),
               progress.line, progress.line + 1, self.name))


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


class _Import:
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

    def restart(self):
        done = import_progress(self.connection, self.name, self.key)
        if done is None:
            raise CommandError(
                'no import of %s into the storage %r was recorded; start it '
                'without --resume' % (self.source, self.name))
        if done.done and self.input.size <= done.size:
            raise CommandError(
                'the import of %s into the storage %r is complete (%s, %s '
                'skipped); nothing to resume'
                % (self.source, self.name, count(done.imported, 'track'),
                   count(done.skipped, 'line')),
                EXIT_OK)
        self.input.skip(done)       # or a complete import of a file that grew
        self.runs = dict(done.runs)
        self.imported, self.skipped = done.imported, done.skipped
        self.first_line = self.resume = done.line + 1
        try:
            first = _text(self.input.first_line(), True)
            self.layout = _layout(first, self.source)
        except (BadLine, CommandError):
            self.layout = None
        if self.layout is not None:
            self.header = first
        self.base, self.base_skipped = done.imported, done.skipped
        self.made_runs = self.base_runs = len(done.runs)
        self.progress.update(self.input.position(), 'resuming at line %d'
                             % self.resume)

    def refuse_repeat(self, rejects=None):
        """An import of a file recorded, complete or stopped, stores its
        lines again (but for those with event ids): refused, unless
        ``--again`` (alias ``--restart``). With ``rejects`` (``--rejects
        FILE``) and skipped lines recorded, the import only writes those
        (``rejects_only``, see ``write_rejects``)."""
        done = import_progress(self.connection, self.name, self.key)
        if done is None or (not done.imported and not done.runs):
            # Nothing was stored (every line refused): nothing would be
            # stored twice, and the corrected retry must not be blocked.
            return
        when = time.strftime('%Y-%m-%d %H:%M', time.gmtime(done.updated))
        if rejects and done.skipped:
            # What a user asks for after a partly failed import: its bad
            # lines, to fix. They are recorded by number (the reasons
            # too: some depend on the storage, as a run it lacks), and
            # the file must be the one imported, as for --resume.
            changed = self.input.same_as(done)
            if changed is not None:
                raise CommandError(
                    '%s changed since it was imported into the storage %r '
                    '(%s): the numbers of the %s it skipped may name other '
                    'lines now; nothing was written to %s'
                    % (self.source, self.name, changed,
                       count(done.skipped, 'line'), rejects))
            if done.rejected is None:
                raise CommandError(
                    'the import of %s into the storage %r on %s UTC did '
                    'not record which lines it skipped (a version before '
                    'it did); an import into a throwaway database writes '
                    'them: %s' % (self.source, self.name, when,
                                  self.rehearsal(rejects)))
            self.rejects_only = done
            return
        if not done.done:
            raise CommandError(
                'an import of %s into the storage %r stopped at line %d on '
                '%s UTC (%s stored, %s skipped): "import --resume %s" goes '
                'on from line %d. Importing it from the first line stores '
                'those tracks twice (but for lines with event ids); use '
                '--restart to do that anyway'
                % (self.source, self.name, done.line, when,
                   count(done.imported, 'track'), count(done.skipped, 'line'),
                   self.input.name, done.line + 1))
        changed = self.input.same_as(done)
        if changed is not None:
            since = 'It changed since (%s). ' % changed
        elif self.input.size > done.size:
            since = ('It has grown since: "import --resume %s" imports the '
                     'new lines. ' % self.input.name)
        else:
            since = ''
        if done.skipped:
            # A partly failed import is finished by importing its bad
            # lines alone, fixed: the others are stored.
            since += ('To finish it, fix the %s it skipped and import %s '
                      'alone, as a new file: %s. '
                      % (count(done.skipped, 'line'),
                         plural(done.skipped, 'it', 'them'),
                         self.rejects_advice(done)))
        stored = [count(done.imported, 'track')]
        if done.runs:
            stored.append(count(len(done.runs), 'run'))
        what = [what for what, number in (
            ('runs are made anew, not matched by id', done.runs),
            ('but a line with an eventId is stored once', done.imported))
            if number]
        raise CommandError(
            '%s was imported into the storage %r already, completely, on %s '
            'UTC (%d %s: %s, %s skipped); importing it again stores its %s '
            'twice (%s). %sUse --again to import it anyway'
            % (self.source, self.name, when,
               done.line, plural(done.line, 'line'), ', '.join(stored),
               count(done.skipped, 'line'),
               ' and '.join(stored if done.imported else stored[1:]),
               '; '.join(what), since))

    def rejects_advice(self, done):
        """How to get the lines the import ``done`` skipped."""
        if done.rejected is None:      # recorded before they were kept
            return ('an import into a throwaway database writes them to '
                    'FILE (%s)' % self.rehearsal('FILE'))
        return ('"import %s --rejects FILE" writes %s to FILE, storing '
                'nothing; fix %s "text" there and import FILE'
                % (self.input.name, plural(done.skipped, 'it', 'them'),
                   plural(done.skipped, 'its', 'their')))

    def rehearsal(self, rejects):
        """The command that writes the rejects of the file into a
        database in memory: the lines refused for their own sake (those
        refused for what the storage held, as runs it lacked, may
        differ)."""
        return ('cybertools-tracking --db memory:// import %s --rejects %s'
                % (self.input.name, rejects))

    def write_rejects(self, done):
        """Write the lines the recorded import ``done`` skipped (numbers
        and reasons from its record, texts from the file) to the rejects
        file; store nothing."""
        wanted = done.rejected
        last = number = 0
        written = 0
        if len(wanted):
            last = wanted.maxKey()
        try:
            for number, line in enumerate(self.input.lines(), 1):
                if number > last:
                    break
                if number == 1:
                    try:
                        first = _text(line, True)
                        if _layout(first, self.source) is not None:
                            self.header = first
                    except (BadLine, CommandError):
                        pass
                reason = wanted.get(number)
                if reason is not None:
                    self.rejects.write(_reject_json(number, reason, line,
                                                    self.header))
                    written += 1
        except DamagedInput as error:
            self.progress.clear()
            _error('%s (at line %d)' % (error, number + 1))
        self.rejects.flush()
        self.manager.abort()
        self.progress.clear()
        when = time.strftime('%Y-%m-%d %H:%M', time.gmtime(done.updated))
        summary = ('%s was imported into the storage %r already, on %s UTC '
                   '(%s, %s skipped): wrote the %s it skipped to %s, '
                   'storing nothing'
                   % (self.source, self.name, when,
                      count(done.imported, 'track'),
                      count(done.skipped, 'line'),
                      count(written, 'line') if written == done.skipped
                      else '%d of the %s' % (written, count(done.skipped,
                                                            'line')),
                      self.rejects.name))
        if written:
            summary += ('. Fix %s "text" there and import %s'
                        % (plural(written, 'its', 'their'),
                           self.rejects.name))
        if not done.done:
            summary += ('; the import stopped at line %d: "import --resume '
                        '%s" goes on' % (done.line, self.input.name))
        print(summary)
        return EXIT_OK if written == done.skipped else EXIT_DATA

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
                    self.save(record)
                except (BadLine, ValidationError) as error:
                    # Refused before anything was written (the storage's
                    # promise): the batch is as it was.
                    reason = str(error)
                    if 'no such run' in reason:
                        reason += self.run_hint()
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

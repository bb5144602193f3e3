"""What ``import`` reads: how a line of its input becomes a record.

A line is a track or a run (``_parse_line``), in one of the layouts the
first line of the file says (``_layout``): JSON Lines, a JSON array with
one element a line (what ``query --format json`` writes), or a CSV table
of tracks or of runs (by its header, in any order of columns). A line of
a rejects file (what ``import --rejects`` writes) is read as the line it
holds: its number and reason are not data, and its ``header`` says how
its text is read. Everything here is checked without the storage; what
only the storage can check, it checks when the record is saved.

A file is held to a little more than the Python API: a ``timeStamp`` (a
run's ``start`` and ``end``) is whole seconds, since the storage keeps
no fraction and the API's rounding down (for ``time.time()``) would
change a file's value unsaid; a number too large for a float is refused
by ``jsoncodec.loads``; and a run line keeps the rules the API's runs
keep (``_check_run``): it ends at or after its start, and only a run of
a task can be current.
"""

import csv
import json

from cybertools_tracking.cli.common import CommandError
from cybertools_tracking.cli.formatting import CSV_RUN_COLUMNS
from cybertools_tracking.cli.formatting import CSV_TRACK_COLUMNS
from cybertools_tracking.jsoncodec import loads
from cybertools_tracking.timestamps import whole_seconds
from cybertools_tracking.validation import InvalidTypeError
from cybertools_tracking.validation import ValidationError
from cybertools_tracking.validation import check_new_name
from cybertools_tracking.validation import check_run_id
from cybertools_tracking.validation import check_timestamp

__all__ = ['BadLine', 'ARRAY', 'CSV_HELP']

_FIELDS = ('taskId', 'userName', 'data', 'runId', 'timeStamp', 'eventId')
_REQUIRED = ('taskId', 'userName', 'data')
_OPTIONAL = ('id',)            # read and not kept: what export writes
_RUN_FIELDS = ('kind', 'id', 'taskId', 'start', 'end', 'finished',
               'current')


_JSON_TYPES = {list: 'an array', str: 'a string', bool: 'true or false',
               type(None): 'null'}


class BadLine(ValueError):
    """A line that is not a track."""


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
    if ts is not None:
        record['timeStamp'] = _whole_seconds(ts, 'timeStamp')
    return record


def _whole_seconds(value, name):
    """``timestamps.whole_seconds`` of a field of a line: a fraction of a
    second is refused (BadLine), text parsed."""
    try:
        return whole_seconds(value)
    except ValueError as error:
        raise BadLine('%s: %s' % (name, error)) from None


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
    if not record['id']:
        # runId 0 of a track means its task's current run.
        raise BadLine('id 0 names no run (a track\'s runId 0 means its '
                      'task\'s current run): run ids start at 1')
    try:
        _check_run(record)
    except (BadLine, ValidationError) as error:
        error.run_id = record['id']     # its tracks are refused too
        raise
    return record


def _check_run(record):
    """The values of a run line but its id."""
    if record['taskId'] == '':
        raise BadLine('taskId: "" names no task; a run of no task has '
                      'taskId null (an empty cell in CSV)')
    if record['taskId'] is not None:
        check_new_name('taskId', record['taskId'])
    for name in ('start', 'end'):
        record[name] = check_timestamp(_whole_seconds(record[name], name),
                                       name)
    for name in ('finished', 'current'):
        if type(record[name]) is not bool:
            raise InvalidTypeError('%s must be true or false, got %r'
                                   % (name, record[name]))
    # The rules of runs the storage's API keeps: a run starts with end =
    # start and its end only moves later (Run.extendTo, stopRun), and a
    # run of no task is no task's current run (startRun(None)).
    if record['end'] < record['start']:
        raise BadLine('end %d is before start %d (seconds): a run ends at '
                      'or after its start' % (record['end'],
                                               record['start']))
    if record['current'] and record['taskId'] is None:
        raise BadLine('a run of no task (taskId null, or an empty cell in '
                      'CSV) cannot be current: a current run is that of '
                      'its task; give its taskId, or mark it not current')


def _fields(names):
    return '%s %s' % ('field' if len(names) == 1 else 'fields',
                      ', '.join(repr(name) for name in names))

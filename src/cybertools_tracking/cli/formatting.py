"""How the commands show tracks and runs: tables for people, JSON and
CSV for programs (strict JSON, see ``jsoncodec``)."""

import csv
import sys
import time

from cybertools_tracking.jsoncodec import dumps
from cybertools_tracking.events import track_json

TRACK_COLUMNS = ('id', 'taskId', 'runId', 'userName', 'time', 'data')
RUN_COLUMNS = ('id', 'taskId', 'start', 'end', 'finished', 'current')
# The columns of ``--format csv``: a track's fields, data as JSON.
CSV_TRACK_COLUMNS = ('id', 'taskId', 'runId', 'userName', 'timeStamp',
                     'eventId', 'data')
# ``export --format csv --runs``: a row per run (a table of its own).
CSV_RUN_COLUMNS = ('id', 'taskId', 'start', 'end', 'finished', 'current')


def local_time(ts):
    """``YYYY-MM-DD HH:MM:SS`` in local time for seconds since the epoch."""
    return time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ts))


def compact(value):
    return dumps(value, separators=(',', ':'))


def table(header, rows, out=None):
    """Print rows of strings in columns; the last column is not padded."""
    out = out or sys.stdout
    rows = [header] + list(rows)
    widths = [max(len(row[i]) for row in rows)
              for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print('  '.join(cells + [row[-1]]).rstrip(), file=out)


# A streamed table's columns are as wide as its first TABLE_SAMPLE rows
# need; a wider cell further down pushes the rest of its row along.
TABLE_SAMPLE = 100


def stream_table(header, rows, out=None):
    """Print rows of strings in columns as they come (an iterable of any
    length): the widths are taken from the first ``TABLE_SAMPLE``."""
    out = out or sys.stdout
    rows = iter(rows)
    sample = [header]
    for row in rows:
        sample.append(row)
        if len(sample) > TABLE_SAMPLE:
            break
    widths = [max(len(row[i]) for row in sample)
              for i in range(len(header) - 1)]
    for chunk in (sample, rows):
        for row in chunk:
            cells = [cell.ljust(width) for cell, width in zip(row, widths)]
            print('  '.join(cells + [row[-1]]).rstrip(), file=out)


def track_row(track):
    return (track.__name__, track.taskId, str(track.runId), track.userName,
            local_time(track.timeStamp), compact(track.data))


# A track as the JSON object ``query`` and ``export`` write and ``import``
# reads: the one the HTTP API and the outbox use too.
track_dict = track_json


def run_dict(run, current):
    """A run as a JSON object; ``current`` is the storage's map of current
    runs (taskId -> run id)."""
    return {'id': run.id, 'taskId': run.taskId, 'start': run.start,
            'end': run.end, 'finished': run.finished,
            'current': run.taskId is not None
            and current.get(run.taskId) == run.id}


def run_rows(runs, current):
    return [(str(run.id), '' if run.taskId is None else run.taskId,
             local_time(run.start), local_time(run.end),
             'yes' if run.finished else 'no',
             '*' if current.get(run.taskId) == run.id else '')
            for run in runs]


def size(n):
    """A number of bytes for people: ``512 bytes``, ``1.5 MB``."""
    for unit in ('bytes', 'KB', 'MB', 'GB'):
        if n < 1024 or unit == 'GB':
            return ('%d %s' % (n, unit) if unit == 'bytes'
                    else '%.1f %s' % (n, unit))
        n /= 1024


def write_json(tracks, connection, lines, out=None, storage=None):
    """Write tracks as one JSON list or as JSON Lines, with their event
    ids when ``storage`` is given, letting go of loaded tracks every
    ``GC_EVERY``."""
    from cybertools_tracking.cli.common import GC_EVERY
    out = out or sys.stdout
    if not lines:
        out.write('[')
    count = 0
    for count, track in enumerate(tracks, 1):
        text = dumps(track_dict(track, _event_id(storage, track)))
        if lines:
            out.write(text + '\n')
        else:
            out.write(('\n  ' if count == 1 else ',\n  ') + text)
        if count % GC_EVERY == 0:
            connection.cacheGC()
    if not lines:
        out.write('\n]\n' if count else ']\n')


def csv_writer(out=None):
    """A csv writer with Unix line ends (RFC 4180 quoting)."""
    return csv.writer(out or sys.stdout, lineterminator='\n')


def csv_track_row(track, eventId=None):
    return (track.__name__, track.taskId, track.runId, track.userName,
            track.timeStamp, '' if eventId is None else eventId,
            compact(track.data))


def csv_run_row(record):
    """The CSV row of a run's ``run_dict``: no task is an empty cell,
    flags are true or false (as in JSON)."""
    return tuple('' if record[name] is None else
                 ('true' if record[name] else 'false')
                 if isinstance(record[name], bool) else record[name]
                 for name in CSV_RUN_COLUMNS)


def _event_id(storage, track):
    return None if storage is None else storage.getEventId(track)


def write_csv(tracks, connection, out=None, storage=None):
    from cybertools_tracking.cli.common import GC_EVERY
    writer = csv_writer(out)
    writer.writerow(CSV_TRACK_COLUMNS)
    for count, track in enumerate(tracks, 1):
        writer.writerow(csv_track_row(track, _event_id(storage, track)))
        if count % GC_EVERY == 0:
            connection.cacheGC()

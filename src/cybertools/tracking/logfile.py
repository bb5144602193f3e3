"""Tracks written to a log file first, loaded into a storage later
(loops' ``cybertools.tracking.logfile``).

Writing a line to a file costs far less than a ZODB commit and never
conflicts, so a busy site can log what users do and load it into a
tracking storage now and then (loops loads its access log this way, then
rolls the file over). A ``Logger`` writes one line per record,
``<time>;<message>``, the time in UTC; the file starts afresh at
midnight UTC (the old one is kept as ``<file>.YYYY-MM-DD``, at most
``backupCount`` of them) or when ``doRollover()`` is called.

``logTrack`` writes a record that ``loadLog`` turns back into a track;
``log`` writes any message (loops writes its own ``;``-separated fields
and parses them itself, see ``loadLog``'s ``parse``).
"""

import calendar
import json
import logging
import logging.handlers
import os
import time
from collections import namedtuple

from cybertools_tracking.timestamps import getTimeStamp
from cybertools_tracking.validation import ValidationError, check_name
from cybertools_tracking.validation import check_run_id, check_timestamp
from cybertools_tracking.validation import copy_data

__all__ = ['Logger', 'loggers', 'loadLog', 'parseTrackRecord', 'LoadResult',
           'TRACK_RECORD']

# The first field of a line written by logTrack.
TRACK_RECORD = 'track'

# loops keeps its Logger objects here, by log file name, so that each
# file has one handler per process.
loggers = {}


class _DailyFileHandler(logging.handlers.TimedRotatingFileHandler):
    """Rolls over at midnight UTC. A second rollover on the same day keeps
    the first day's file (``.1``, ``.2`` appended) instead of replacing
    it, as the standard handler would."""

    def rotation_filename(self, default_name):
        name = super().rotation_filename(default_name)
        candidate, n = name, 0
        while os.path.exists(candidate):
            n += 1
            candidate = '%s.%d' % (name, n)
        return candidate


class Logger:
    """Writes lines to ``logfile`` (its folder is made if missing).

    ``logname`` names the logger (the ``logging`` logger
    ``cybertools.tracking.logfile.<logname>``, which does not pass its
    records on to the root logger). ``logformat`` is a ``logging`` format;
    keyword ``backupCount`` (default 5) is the number of old files kept.
    """

    handler = None

    def __init__(self, logname, logfile, logformat='%(asctime)s;%(message)s',
                 **kw):
        self.logname = logname
        self.logfile = logfile
        self.logformat = logformat
        self.params = kw
        self.setup()

    @property
    def logger(self):
        return logging.getLogger('cybertools.tracking.logfile.'
                                 + self.logname)

    def setup(self):
        directory = os.path.dirname(os.path.abspath(self.logfile))
        os.makedirs(directory, exist_ok=True)
        handler = _DailyFileHandler(
            self.logfile, when='midnight', utc=True, encoding='utf-8',
            backupCount=self.params.get('backupCount', 5))
        formatter = logging.Formatter(self.logformat)
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        logger = self.logger
        for old in list(logger.handlers):    # a Logger made again
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        self.handler = handler

    def log(self, message):
        """Write ``message`` (a string without line breaks) as a line."""
        self.logger.info(message)

    def logTrack(self, taskId, userName, data, runId=0, timeStamp=None):
        """Write a track record that ``loadLog`` saves as
        ``saveUserTrack(taskId, runId, userName, data, timeStamp=...)``.

        ``data`` must be JSON: dicts with string keys, lists, strings,
        numbers, bools and None. ``timeStamp`` defaults to now (seconds).
        Checked before writing: a ValidationError (a TypeError or
        ValueError) for a bad argument, and no line is written.
        """
        record = [check_name('taskId', taskId), check_run_id(runId),
                  check_name('userName', userName), copy_data(data),
                  getTimeStamp() if timeStamp is None
                  else check_timestamp(timeStamp)]
        try:
            text = json.dumps(record, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise TypeError('data must be JSON to be logged: %s' % error) \
                from None
        self.log('%s;%s' % (TRACK_RECORD, text))

    def doRollover(self):
        """Start a new file now, keeping the old one."""
        if self.handler is not None:
            self.handler.doRollover()

    def close(self):
        if self.handler is not None:
            self.logger.removeHandler(self.handler)
            self.handler.close()
            self.handler = None


LoadResult = namedtuple('LoadResult', 'loaded skipped bad')
LoadResult.__doc__ = """What ``loadLog`` did: the number of tracks saved,
the number of records skipped (other messages, tracks stored already) and
the bad lines as (line number, reason) pairs."""


def parseTrackRecord(message, timeStamp):
    """The arguments of ``saveUserTrack`` for a line written by
    ``logTrack``: ``(taskId, runId, userName, data, timeStamp)``; None for
    another message. ``timeStamp`` (the line's time) is used for records
    without one. A malformed record is a ValueError."""
    kind, sep, text = message.partition(';')
    if kind != TRACK_RECORD or not sep:
        return None
    try:
        record = json.loads(text)
    except ValueError as error:
        raise ValueError('invalid JSON: %s' % error) from None
    if not isinstance(record, list) or len(record) not in (4, 5):
        raise ValueError('a track record is [taskId, runId, userName, data'
                         '(, timeStamp)], got %.60r' % (text,))
    if len(record) == 4:
        record.append(timeStamp)
    return tuple(record)


def _lineTime(text):
    """Seconds (UTC) of a line's time, 'YYYY-MM-DD HH:MM:SS[,mmm]'."""
    return calendar.timegm(time.strptime(text.split(',')[0],
                                         '%Y-%m-%d %H:%M:%S'))


def _checkRun(storage, taskId, runId):
    """Refuse, as saveUserTrack would, a run that is not there or belongs
    to another task (run 0, the task's current run, is always fine)."""
    if runId:
        run = storage.getRun(runId=runId)
        if run is None:
            raise ValueError('runId %r: there is no such run' % (runId,))
        if run.taskId is not None and run.taskId != taskId:
            raise ValueError('runId %r belongs to task %r, not to %r'
                             % (runId, run.taskId, taskId))


def loadLog(storage, path, parse=parseTrackRecord):
    """Save the track records of the log file ``path`` in ``storage``.

    Each line is ``<time>;<message>``; ``parse(message, timeStamp)``
    returns ``(taskId, runId, userName, data, timeStamp)`` or None for a
    line that is no track (``parseTrackRecord`` reads ``logTrack``'s
    lines; pass another to read lines of your own). A record stored
    already (same task, user, time and data) is skipped, so loading a file
    twice saves its tracks once.

    Every line is read and checked before the first track is saved; bad
    lines (unparsable, or arguments the storage would refuse) are
    reported in the result by number and not saved. Returns a
    ``LoadResult``. The caller commits.
    """
    records, skipped, bad = [], 0, []
    with open(path, encoding='utf-8') as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip('\n')
            if not line:
                continue
            stamp, sep, message = line.partition(';')
            try:
                if not sep:
                    raise ValueError('no ";" after the time')
                record = parse(message, _lineTime(stamp))
                if record is None:
                    skipped += 1
                    continue
                taskId, runId, userName, data, timeStamp = record
                record = (check_name('taskId', taskId), check_run_id(runId),
                          check_name('userName', userName), copy_data(data),
                          check_timestamp(timeStamp))
                _checkRun(storage, taskId, record[1])
                records.append(record)
            except (ValueError, TypeError, ValidationError) as error:
                bad.append((number, str(error)))
    loaded = 0
    for taskId, runId, userName, data, timeStamp in records:
        if any(t.data == data for t in storage.query(
                taskId=taskId, userName=userName, timeStamp=timeStamp)):
            skipped += 1
            continue
        storage.saveUserTrack(taskId, runId, userName, data,
                              timeStamp=timeStamp)
        loaded += 1
    return LoadResult(loaded, skipped, bad)

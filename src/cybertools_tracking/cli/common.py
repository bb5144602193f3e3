"""What every command shares: exit codes, errors, argument types, times,
and the connection to the database named on the command line."""

import argparse
import contextlib
import logging
import os
import sys
import time

import transaction

from cybertools_tracking.db import DEFAULT_NAME, DEFAULT_URI
from cybertools_tracking.db import DatabaseLockedError
from cybertools_tracking.db import DatabaseUnavailableError, file_path
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.timestamps import parse_time
from cybertools_tracking.validation import close_names

PROG = 'cybertools-tracking'
ENV_DB = 'CYBERTOOLS_TRACKING_DB'

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130

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


def error(message):
    """Say ``message`` on stderr as one line, after the program's name."""
    print('%s: %s' % (PROG, message), file=sys.stderr)


@contextlib.contextmanager
def quiet_client_logs():
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


# argument types

def _at_least(minimum, expected):
    def whole_number(text):
        value = _int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError('expected %s, got %r'
                                             % (expected, text))
        return value
    return whole_number


positive_int = _at_least(1, 'a positive number')
non_negative_int = _at_least(0, 'a number >= 0')


def seconds(text):
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


def plural(number, word, many=None):
    """``word`` for 1 (and -1), else ``many`` (default ``word + 's'``):
    "1 track", "2 tracks", "1 entry", "0 entries"."""
    if abs(number) == 1:
        return word
    return word + 's' if many is None else many


def count(number, word, many=None):
    """``'%d %s'`` with the form of ``word`` that ``number`` takes."""
    return '%d %s' % (number, plural(number, word, many))


def did_you_mean(name, names):
    """``"; did you mean 'a' or 'b'?"`` for the *names* closest to *name*
    (``validation.close_names``: the same but for case first, then
    difflib's closest, three at most); ``''`` if none is close."""
    close = close_names(name, names)
    if not close:
        return ''
    return '; did you mean %s?' % ' or '.join(map(repr, close[:3]))


def check_pattern(option, value):
    """``query.check_pattern`` (only a trailing ``*`` makes a prefix; the
    rule HTTP shares) as a usage error."""
    from cybertools_tracking.query import check_pattern as rule
    try:
        rule(option, value)
    except ValueError as problem:
        raise CommandError(str(problem), EXIT_USAGE) from None


# times

TIME_HELP = ('seconds since the epoch, local YYYY-MM-DD[THH:MM[:SS]], or '
             'ISO 8601 with Z or an offset (2024-01-15T08:00:00+01:00)')


def time_from(text):
    try:
        return parse_time(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


def time_to(text):
    try:
        return parse_time(text, end=True)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


# the database

def db_arg(args):
    return (getattr(args, 'db', None) or os.environ.get(ENV_DB)
            or DEFAULT_URI)


def storage_name(args):
    return getattr(args, 'storage', None) or DEFAULT_NAME


def wait_seconds(args):
    wait = getattr(args, 'wait', None)
    return DEFAULT_WAIT if wait is None else wait


@contextlib.contextmanager
def connection(args, write, on_wait=None):
    """Yield (transaction manager, connection) on the database of ``args``.

    The transaction is aborted at the end: writers commit themselves.
    Without ``write`` a missing FileStorage is an error, not created.
    A ZEO server is waited for ``--wait`` seconds; ``on_wait(message)``
    (default: print it on stderr) is told when that begins.
    """
    uri = db_arg(args)
    path = file_path(uri)
    if not write and path is not None and not os.path.exists(path):
        raise CommandError('no database at %s (create one with "import" '
                           'or "demo", or name another with --db)' % path)
    try:
        db = open_db(uri, wait_timeout=wait_seconds(args),
                     on_wait=on_wait or error)
    except (DatabaseLockedError, DatabaseUnavailableError):
        raise
    except KeyError as problem:       # zodburi knows no such scheme
        raise CommandError('--db %s: %s; expected a path or a file://, '
                           'memory://, zeo:// ... URI'
                           % (uri, problem.args[0] if problem.args
                              else problem), EXIT_USAGE) from None
    except Exception as problem:
        raise CommandError('cannot open the database %s: %s: %s'
                           % (path or uri, type(problem).__name__, problem)
                           ) from None
    try:
        manager = transaction.TransactionManager()
        conn = db.open(transaction_manager=manager)
        try:
            yield manager, conn
        finally:
            manager.abort()
            conn.close()
    finally:
        db.close()


def existing_storage(conn, args):
    """The storage named by ``args``, which must exist (CommandError)."""
    name = storage_name(args)
    try:
        return get_storage(conn, name, create=False)
    except KeyError:
        raise CommandError('no tracking storage %r in %s (fill one with '
                           '"import" or "demo", or name another with '
                           '--storage)' % (name, db_arg(args))) from None
    except TypeError as problem:
        raise CommandError(str(problem)) from None


def one_or_list(values):
    return values[0] if len(values) == 1 else values


# progress

# Plain progress lines (--progress, not a terminal): at most one per so
# many seconds.
PROGRESS_EVERY = 5.0


class Progress:
    """How far a long command got, on stderr.

    On a terminal a tqdm bar (percent of ``total``, rate, time left):
    tqdm is a small pure-Python package that handles terminal widths,
    rate smoothing and redrawing around other output, which a
    hand-written ``\\r`` line does badly. Elsewhere (a log, a container),
    with ``plain``, a line at most every PROGRESS_EVERY seconds (the
    first at once); else nothing.
    """

    def __init__(self, desc, total, unit='it', plain=False):
        self.stream = sys.stderr
        self.desc = desc
        self.total = total
        self.bar = None
        self.plain = plain and not self.stream.isatty()
        self.started = time.monotonic()
        self.last = None
        if self.stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit=unit, desc=desc,
                            unit_scale=unit == 'B', unit_divisor=1024,
                            file=self.stream, leave=False,
                            dynamic_ncols=True, mininterval=0.5)

    def share(self, done):
        """`` (12.3%)`` of the total, or '' without one."""
        if not self.total or done is None:
            return ''
        return ' (%.1f%%)' % (100.0 * done / self.total)

    def seconds(self):
        return max(time.monotonic() - self.started, 1e-6)

    def update(self, done, text, short=None):
        """``done`` of the total; ``text`` for a plain line, ``short``
        (default ``text``) after the bar."""
        if self.bar is not None:
            if done is not None:
                self.bar.update(done - self.bar.n)
            self.bar.set_postfix_str(short or text, refresh=True)
            return
        now = time.monotonic()
        if not self.plain or (self.last is not None
                              and now - self.last < PROGRESS_EVERY):
            return
        self.last = now
        print('%s: %s' % (self.desc, text), file=self.stream, flush=True)

    def clear(self):
        """Make room for a message (the bar redraws itself later)."""
        if self.bar is not None:
            self.bar.clear()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

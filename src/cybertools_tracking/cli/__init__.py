"""The ``cybertools-tracking`` command line.

::

    cybertools-tracking [--db URI_OR_PATH] [--storage NAME] COMMAND ...

One module per group of commands: ``loading`` (import, resumable; what
it reads in ``importformats`` and ``importinput``, earlier imports of a
file in ``importrepeats``), ``reading`` (query, export, runs, stats,
check), ``maintenance`` (prune, forget-user, pack, zeo), ``demo``,
``goals`` (history, tick, backfill), ``serving`` (events, forward,
serve); the output formats are in
``formatting`` and ``jsoncodec`` (strict JSON for any track data),
results read a window of time at a time in ``streaming``, what they all
share in ``common``. Each module's ``add_commands(command)`` adds its
subcommands to the parser made here.

The database defaults to ``$CYBERTOOLS_TRACKING_DB`` or else
``var/tracking.fs`` below the current directory; a path is taken literally,
never read as a URI. ``--db``, ``--storage`` and ``--wait`` (how long to
wait for a ZEO server that does not answer) may be given before or after
the command.

``main(argv)`` returns the exit code instead of exiting, so that it can be
called in-process: 0 for success, 1 for a problem with the data or the
database, 2 for a usage error, 130 when interrupted. Problems are reported
on stderr as one line.
"""

import argparse
import contextlib
import os
import sys

from ZODB.POSException import POSError

from cybertools_tracking.cli import demo, loading, maintenance, reading
from cybertools_tracking.cli import goals, serving
from cybertools_tracking.cli.common import DEFAULT_WAIT, ENV_DB, EXIT_DATA
from cybertools_tracking.cli.common import EXIT_INTERRUPTED, EXIT_USAGE
from cybertools_tracking.cli.common import PROG, CommandError, error
from cybertools_tracking.cli.common import parse_time, quiet_client_logs
from cybertools_tracking.cli.common import seconds
from cybertools_tracking.db import DEFAULT_NAME, DEFAULT_URI
from cybertools_tracking.db import DatabaseLockedError
from cybertools_tracking.db import DatabaseUnavailableError

__all__ = ['main', 'parse_time']

# The groups of commands, in the order --help lists them.
GROUPS = (demo, loading, reading, maintenance, goals, serving)


def main(argv=None):
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return
    the exit code."""
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:      # --help, or a usage error already shown
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    try:
        with quiet_client_logs():
            return args.command(args)
    except CommandError as problem:
        error(str(problem))
        return problem.code
    except (DatabaseLockedError, DatabaseUnavailableError) as problem:
        error(str(problem))
        return EXIT_DATA
    except KeyboardInterrupt:
        error('interrupted')
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``... | head``): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_DATA
    except (POSError, OSError) as problem:
        # The database or the disk failed (a conflict that retries did
        # not resolve, a full disk ...): say so; a bug still shows its
        # traceback.
        error('%s: %s' % (type(problem).__name__, problem))
        return EXIT_DATA


def make_parser():
    """The argument parser of every command."""
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
        '--wait', metavar='SECONDS', type=seconds,
        default=argparse.SUPPRESS,
        help='how long to wait for a ZEO server that does not answer, '
             'when opening or after it went away, before giving up '
             '(default %d)' % DEFAULT_WAIT)

    parser = argparse.ArgumentParser(
        prog=PROG, parents=[common],
        description='Record and inspect user and device activity '
                    '(tracks and runs) in a ZODB database.',
        epilog='"%s COMMAND --help" says what a command does, with an '
               'example.' % PROG)
    commands = parser.add_subparsers(title='commands', metavar='COMMAND')
    commands.required = True

    def adder(subparsers):
        def add(name, run, help, example):
            sub = subparsers.add_parser(
                name, parents=[common], help=help, description=help,
                epilog='example:\n  ' + example,
                formatter_class=_Formatter)
            sub.set_defaults(command=run)
            return sub
        return add

    command = adder(commands)

    def actions(parser):
        """Sub-actions of a command (``goals history``), each added as
        ``command`` adds a command, with its own help and example."""
        subparsers = parser.add_subparsers(title='actions', metavar='ACTION',
                                           dest='action')
        subparsers.required = True
        return adder(subparsers)
    command.actions = actions

    for group in GROUPS:
        group.add_commands(command)
    return parser


class _Formatter(argparse.HelpFormatter):
    """Wraps the description and options, keeps the example's lines."""

    def _fill_text(self, text, width, indent):
        if text.startswith('example:'):
            return ''.join(indent + line for line in
                           text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

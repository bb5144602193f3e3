"""The commands of the app server: ``events``, ``forward`` and ``serve``.

::

    cybertools-tracking events [--since N] [--follow] [--limit N]
    cybertools-tracking events --prune [--max-age SECONDS]
    cybertools-tracking events --track-events on|off
    cybertools-tracking forward (--webhook URL | --redis URL) [--once]
    cybertools-tracking serve [--host 127.0.0.1] [--port 8080] [--workers N]
                              [--token-file FILE] [--open-reads]
                              [--http auto|h11|httptools]
                              [--loop auto|asyncio|uvloop]

``events`` prints the outbox (``events.py``) as JSON Lines, one event per
line, oldest first; with ``--follow`` it keeps printing new events as they
are committed, from any process. ``serve`` runs the HTTP API and the
dashboard (``web/``, the ``web`` extra) with uvicorn.

Whether new tracks become events is a setting stored with the storage
(the outbox is one of its track observers), not an option of a process:
``serve --track-events`` or ``events --track-events on`` turn it on for
every writer (imports, other servers, programs using the library) until
``events --track-events off`` or ``serve --no-track-events`` turn it off.

Registered by the command line's parser with ``add_commands``, like
every group of commands.
"""

import argparse
import os
import sys
import time

from cybertools_tracking.cli import common as cli

__all__ = ['add_commands']

FOLLOW_INTERVAL = 0.5       # seconds between looks for new events
PAGE = 1000


EXAMPLES = {
    'events': 'cybertools-tracking --db zeo://127.0.0.1:8100 events '
              '--follow --since 0',
    'forward': 'cybertools-tracking --db zeo://127.0.0.1:8100 forward '
               '--webhook http://127.0.0.1:9000/hook',
    'serve': 'cybertools-tracking serve --token-file tokens.txt '
             '--open-reads',
}


def add_commands(command):
    """Add ``events``, ``forward`` and ``serve``; ``command(name, run,
    help[, example])`` makes a subparser (see the command line's parser).
    """
    events = command('events', _events, 'print the event feed (goal events, '
                     'and new tracks if the storage records them) as JSON '
                     'Lines, oldest first',
                     EXAMPLES['events'])
    events.add_argument('--since', metavar='N', type=cli.non_negative_int,
                        default=0, help='only events after position N '
                        '(the "position" of the last event seen; default 0, '
                        'all)')
    events.add_argument('--follow', action='store_true',
                        help='keep printing new events as they are '
                             'committed, until interrupted; another process '
                             'writing needs a shared database (zeo://, '
                             'postgres://)')
    events.add_argument('--interval', metavar='SECONDS', type=cli.seconds,
                        default=FOLLOW_INTERVAL,
                        help='with --follow, how often to look for new '
                             'events (default %s)' % FOLLOW_INTERVAL)
    events.add_argument('--limit', metavar='N', type=cli.positive_int,
                        help='print at most N events, then stop')
    events.add_argument('--prune', action='store_true',
                        help='instead of printing: drop the events older '
                             'than --max-age')
    events.add_argument('--max-age', metavar='SECONDS', type=cli.seconds,
                        help='with --prune: the age (default the storage\'s '
                             'setting, 7 days unless changed)')
    events.add_argument('--track-events', choices=('on', 'off'),
                        help='instead of printing: turn recording every new '
                             'track as an event on or off. A setting stored '
                             'with the storage: it applies to every writer '
                             '(import, serve, the library) until changed')

    forward = command('forward', _forward, 'deliver the event feed to a '
                      'webhook or a Redis stream, at least once and in '
                      'order, remembering the position in the database',
                     EXAMPLES['forward'])
    target = forward.add_mutually_exclusive_group(required=True)
    target.add_argument('--webhook', metavar='URL',
                        help='POST each event (JSON) to this URL')
    target.add_argument('--redis', metavar='URL',
                        help='XADD each event to a stream of this Redis '
                             'server, e.g. redis://127.0.0.1:6379/0 (the '
                             '"redis" extra)')
    forward.add_argument('--stream', default='cybertools-tracking-events',
                         help='the Redis stream (default '
                              'cybertools-tracking-events)')
    forward.add_argument('--name', default=None,
                         help='the name the position is stored under '
                              '(default: the target\'s URL)')
    forward.add_argument('--once', action='store_true',
                         help='deliver what there is, then stop')

    serve = command('serve', _serve, 'serve the HTTP API and the dashboard '
                    '(needs the "web" extra)',
                     EXAMPLES['serve'])
    serve.add_argument('--host', default='127.0.0.1',
                       help='the address to listen on (default 127.0.0.1)')
    serve.add_argument('--port', type=cli.non_negative_int, default=8080,
                       help='the port (default 8080)')
    serve.add_argument('--workers', type=cli.positive_int, default=1,
                       help='worker processes (default 1); more than one '
                            'needs a shared database (zeo://, postgres://)')
    serve.add_argument('--token-file', metavar='FILE',
                       help='a file whose lines are the bearer tokens that '
                            'may write (default $CYBERTOOLS_TRACKING_TOKENS, '
                            'tokens separated by commas or spaces)')
    serve.add_argument('--open-reads', action='store_true',
                       help='let reads (GET) through without a token; '
                            'writes always need one')
    serve.add_argument('--log-level', default='info',
                       choices=('critical', 'error', 'warning', 'info',
                                'debug'),
                       help='uvicorn\'s log level (default info, which logs '
                            'every request)')
    serve.add_argument('--http', choices=('auto', 'h11', 'httptools'),
                       default='auto',
                       help='uvicorn\'s HTTP implementation (default auto: '
                            'httptools where installed, as the "web" extra '
                            'does, else h11)')
    serve.add_argument('--loop', choices=('auto', 'asyncio', 'uvloop'),
                       default='auto',
                       help='the event loop (default auto: uvloop where '
                            'installed, as the "web" extra does on Linux '
                            'and macOS, else asyncio)')
    serve.add_argument('--track-events', action=argparse.BooleanOptionalAction,
                       default=None,
                       help='turn recording every new track in the event '
                            'feed on (or, --no-track-events, off) before '
                            'serving. A setting stored with the storage: it '
                            'stays, and applies to every writer (imports '
                            'too), until turned off; without either the '
                            'stored setting is kept. "events --track-events '
                            'on|off" changes it without serving')


def _events(args):
    import json
    if args.track_events is not None:
        return _track_events(args, args.track_events == 'on')
    if args.prune:
        return _prune_events(args)
    position, left = args.since, args.limit
    out = sys.stdout
    with cli.connection(args, write=False) as (manager, connection):
        while True:
            manager.abort()             # a new view: what committed since
            outbox = cli.existing_storage(connection, args).events
            events = outbox.since(position, min(PAGE, left or PAGE))
            for event in events:
                out.write(json.dumps(event.as_json(), ensure_ascii=False,
                                     default=repr) + '\n')
            if events:
                position = events[-1].position
                out.flush()
            if left is not None:
                left -= len(events)
                if not left:
                    break
            if len(events) == PAGE:
                continue
            if not args.follow:
                break
            connection.cacheGC()
            time.sleep(args.interval)
    return cli.EXIT_OK


def _track_events(args, on, say=True):
    """Store whether new tracks become events (the outbox observes the
    storage's tracks, or not); create the storage if there is none."""
    from cybertools_tracking.db import get_storage, retry_transaction

    def work():
        storage = get_storage(connection, cli.storage_name(args))
        observing = storage.events in storage.trackObservers()
        if on and not observing:
            storage.addTrackObserver(storage.events)
        elif observing and not on:
            storage.removeTrackObserver(storage.events)
    with cli.connection(args, write=True) as (manager, connection):
        retry_transaction(work, manager)
    if say:
        print('track events: %s' % ('on (new tracks of every writer become '
                                    'events)' if on else 'off (new tracks '
                                    'are not events; goal events still are)'))
    return cli.EXIT_OK


def _prune_events(args):
    from cybertools_tracking.db import retry_transaction
    with cli.connection(args, write=True) as (manager, connection):
        cli.existing_storage(connection, args)
        dropped = retry_transaction(
            lambda: cli.existing_storage(connection, args).events.prune(
                args.max_age), manager)
    print('dropped %d events' % dropped, file=sys.stderr)
    return cli.EXIT_OK


def _forward(args):
    from cybertools_tracking.forwarders import Forwarder, RedisStreamTarget
    from cybertools_tracking.forwarders import WebhookTarget
    try:
        if args.webhook:
            target = WebhookTarget(args.webhook)
        else:
            target = RedisStreamTarget(args.redis, args.stream)
    except ImportError as error:
        raise cli.CommandError('--redis needs the "redis" extra (pip install '
                           '\'cybertools-tracking[redis]\'): %s' % error,
                               cli.EXIT_USAGE) from None
    except ValueError as error:
        raise cli.CommandError(str(error), cli.EXIT_USAGE) from None
    name = args.name or args.webhook or '%s %s' % (args.redis, args.stream)
    with cli.connection(args, write=True) as (manager, connection):
        cli.existing_storage(connection, args)
        forwarder = Forwarder(connection.db(), target, name,
                              storage_name=cli.storage_name(args))
        try:
            if args.once:
                count = forwarder.forward()
                print('delivered %d events' % count, file=sys.stderr)
            else:
                forwarder.run()
        finally:
            target.close()
    return cli.EXIT_OK


def _serve(args):
    from cybertools_tracking.db import file_path
    try:
        from cybertools_tracking.web.server import serve
    except ImportError as error:
        raise cli.CommandError('serve needs the "web" extra (pip install '
                           '\'cybertools-tracking[web]\'): %s' % error,
                               cli.EXIT_USAGE) from None
    uri = cli.db_arg(args)
    if args.workers > 1 and file_path(uri) is not None:
        raise cli.CommandError(
            '--workers %d: a FileStorage serves one process; serve it with '
            '"cybertools-tracking zeo" and give --db zeo://HOST:PORT'
            % args.workers, cli.EXIT_USAGE)
    if args.token_file is not None and not os.path.exists(args.token_file):
        raise cli.CommandError('--token-file %s: no such file'
                               % args.token_file, cli.EXIT_USAGE)
    if args.track_events is False:
        # Turned off here: the app only ever turns it on.
        _track_events(args, False, say=False)
    try:
        serve(uri, storage_name=cli.storage_name(args), host=args.host,
              port=args.port, workers=args.workers,
              token_file=args.token_file, open_reads=args.open_reads,
              track_events=bool(args.track_events), log_level=args.log_level,
              http=args.http, loop=args.loop)
    except ValueError as error:
        raise cli.CommandError('serve: %s' % error, cli.EXIT_USAGE) from None
    return cli.EXIT_OK


"""The commands that look after a database: ``zeo`` serves it."""

import os

from cybertools_tracking.cli.common import EXIT_OK, non_negative_int


def add_commands(command):
    zeo = command('zeo', run_zeo, 'serve a FileStorage with ZEO, so that '
                  'several processes can use it (zeo://HOST:PORT)',
                  'cybertools-tracking zeo var/tracking.fs --port 8100 &')
    zeo.add_argument('path', metavar='PATH', nargs='?',
                     default=os.path.join('var', 'tracking.fs'),
                     help='the FileStorage file (default var/tracking.fs)')
    zeo.add_argument('--host', default='127.0.0.1',
                     help='the address to listen on (default 127.0.0.1: '
                          'ZEO has no authentication)')
    zeo.add_argument('--port', type=non_negative_int, default=8100,
                     help='the port (default 8100; 0 picks a free one)')


def run_zeo(args):
    from cybertools_tracking.zeoserver import serve
    serve(args.path, args.host, args.port,
          announce=lambda line: print(line, flush=True))
    return EXIT_OK

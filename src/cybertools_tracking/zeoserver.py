"""Serve a FileStorage with ZEO, so that several processes can share it.

``cybertools-tracking zeo var/tracking.fs --port 8100`` runs in the
foreground until stopped (SIGTERM or Ctrl-C); clients open
``zeo://127.0.0.1:8100``. It listens on the loopback interface unless told
otherwise: ZEO has no authentication of its own.

The server resolves conflicts with the classes of this package (Run,
BTrees), so it must run where ``cybertools_tracking`` is installed, as it
does when started through the command line.
"""

import os

__all__ = ['serve']


def serve(path, host='127.0.0.1', port=8100, announce=print):
    """Serve the FileStorage at ``path`` on ``host:port`` until stopped.

    ``port`` 0 picks a free port; ``announce`` is called with a line that
    names the address actually bound, once the server accepts clients.
    """
    from ZEO.runzeo import ZEOOptions, ZEOServer

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    options = ZEOOptions()
    options.realize(['-a', '%s:%d' % (host, port), '-f', path])

    class Server(ZEOServer):

        def create_server(self):
            super().create_server()
            bound = self.server.acceptor.addr
            announce('ZEO server for %s listening on %s:%d'
                     % (path, bound[0], bound[1]))

    Server(options).main()

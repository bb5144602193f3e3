"""The ZEO client storage ``open_db`` opens for ``zeo://`` URIs.

It is ZEO's ClientStorage with two differences.

It forgets the object ids it fetched in advance when it connects again.
The client asks its server for new oids a hundred at a time and hands them
out as new objects are stored. A server that was restarted knows only the
oids committed before it stopped, and hands out again every oid above the
highest of them, among them the ones this client still holds. Two new
objects would get the same oid: within one transaction the connection
cache refuses the second (``ValueError: A different object already has the
same oid``); in two transactions, or in two clients, the second object
would silently replace the first. Oids the client held but never stored
are simply never used, which is harmless.

And it says when it starts waiting for its server, and when the wait is
over, so that the people watching know what is happening: on opening after
a second without an answer, at once when an established connection is
lost. It remembers since when it waits, so that a caller can bound the
whole wait (ZEO's ``wait_timeout`` bounds each call on its own).
"""

import logging
import time

from ZEO.ClientStorage import ClientStorage

__all__ = ['ZEOClient', 'format_address', 'format_seconds']

logger = logging.getLogger(__name__)

# ZEO's own default for wait_timeout.
DEFAULT_WAIT_TIMEOUT = 30
# Seconds without an answer on opening before on_wait is told.
NOTICE_AFTER = 1.0
POLL = 0.05


def format_address(address):
    """``HOST:PORT`` (``[HOST]:PORT`` for IPv6) or a Unix socket's path."""
    if isinstance(address, list):
        return ', '.join(format_address(one) for one in address)
    if isinstance(address, tuple):
        host, port = address
        return ('[%s]:%d' if ':' in host else '%s:%d') % (host, port)
    return str(address)


def format_seconds(value):
    """``1 second``, ``2.5 seconds``."""
    return '%g second%s' % (value, '' if value == 1 else 's')


class ZEOClient(ClientStorage):
    """A ClientStorage that forgets prefetched oids when it reconnects and
    reports waiting for its server (see the module's docstring)."""

    _closing = False
    _announced = False      # on_wait was told about the current outage

    def __init__(self, addr, on_wait=None, **options):
        self.server_address = format_address(addr)
        self.wait_seconds = (options.get('wait_timeout')
                             or DEFAULT_WAIT_TIMEOUT)
        self.on_wait = on_wait
        # Not connected yet: waiting since now. Set before ZEO's thread
        # starts, which may call notify_connected at once.
        self.lost_since = time.monotonic()
        super().__init__(addr, **options)

    def notify_connected(self, conn, info):
        # Called in ZEO's I/O thread before anyone can use the new
        # connection, so no new_oid() can come between this and the
        # server's first answer.
        del self._oids[:]
        super().notify_connected(conn, info)
        self.lost_since = None
        if self._announced:
            self._announced = False
            self._tell('connected to the ZEO server at %s'
                       % self.server_address)

    def notify_disconnected(self):
        super().notify_disconnected()
        if not self._closing:
            self.lost_since = time.monotonic()
            self.announce('the ZEO server at %s went away; waiting for it '
                          '(up to %s) ...'
                          % (self.server_address,
                             format_seconds(self.wait_seconds)))

    def close(self):
        self._closing = True    # losing the connection now is no news
        super().close()

    def announce(self, message):
        """Tell ``on_wait`` (or the log) once per outage that we wait; when it ends, it is told so too."""
        if not self._announced:
            self._announced = True
            self._tell(message)

    def _tell(self, message):
        if self.on_wait is None:
            logger.warning('%s', message)
            return
        try:
            self.on_wait(message)
        except Exception:       # we may be in ZEO's thread: keep it alive
            logger.exception('on_wait failed')

    def wait_for_server(self, timeout=None):
        """Wait until connected; False if the server has not answered for
        ``timeout`` seconds (default ``wait_timeout``), counted from when it
        stopped answering (or from opening)."""
        if timeout is None:
            timeout = self.wait_seconds
        while not self.is_connected():
            since = self.lost_since
            waited = 0 if since is None else time.monotonic() - since
            if waited >= timeout:
                return False
            if waited >= NOTICE_AFTER:
                self.announce('waiting for the ZEO server at %s (up to %s) '
                              '...' % (self.server_address,
                                       format_seconds(timeout)))
            time.sleep(min(POLL, timeout - waited))
        return True

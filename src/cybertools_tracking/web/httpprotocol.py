"""uvicorn's HTTP protocols, with TCP_NODELAY on every connection.

asyncio turns Nagle's algorithm off on the TCP connections it makes, but
only for sockets whose ``proto`` is ``IPPROTO_TCP``. With ``--workers``,
uvicorn binds the listening socket as ``socket.socket(family=...)``,
whose ``proto`` is 0; the connections the workers accept inherit it, so
asyncio leaves Nagle on. A response written in two pieces (headers, then
body) then waits for the client's delayed ACK of the first piece: about
40 ms on Linux, on every request (benchmarks/RESULTS.md, "2026-11-30 —
ZEO request latency"). These protocols set TCP_NODELAY themselves when a
connection is made, whatever the socket's ``proto`` says, with either of
uvicorn's HTTP implementations (h11, or httptools where installed).
uvloop (the ``web`` extra's loop where it builds) sets TCP_NODELAY on
every TCP connection itself; these protocols cover asyncio, which
``serve --loop asyncio`` and platforms without uvloop run. Upstream: uvicorn issue 3149
(Kludex/uvicorn); once uvicorn binds with ``IPPROTO_TCP``,
tests/test_web_httpprotocol.py says so and this can go.
"""

import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ['NoDelayHTTPProtocol', 'NoDelayH11Protocol', 'PROTOCOL',
           'PROTOCOLS', 'available']

_HERE = 'cybertools_tracking.web.httpprotocol:'
# How uvicorn's ``http`` setting names them (import strings, so that
# worker processes import them themselves), by the name ``serve --http``
# takes: ``auto`` is httptools where it is installed, else h11.
PROTOCOLS = {'auto': _HERE + 'NoDelayHTTPProtocol',
             'h11': _HERE + 'NoDelayH11Protocol',
             'httptools': _HERE + 'NoDelayHttpToolsProtocol'}
PROTOCOL = PROTOCOLS['auto']


def available(http):
    """Whether uvicorn's HTTP implementation ``http`` (a key of
    ``PROTOCOLS``) can run here: httptools is a package of its own."""
    return http != 'httptools' or HttpToolsProtocol is not None


def _nodelay(transport):
    sock = transport.get_extra_info('socket')
    if sock is not None and sock.family in (socket.AF_INET,
                                            socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHTTPProtocol(AutoHTTPProtocol):
    """uvicorn's default HTTP protocol (httptools or h11) with TCP_NODELAY
    set on TCP connections (not on Unix sockets)."""

    def connection_made(self, transport):
        _nodelay(transport)
        super().connection_made(transport)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY set on TCP connections."""

    def connection_made(self, transport):
        _nodelay(transport)
        super().connection_made(transport)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:     # httptools is not installed
    HttpToolsProtocol = None
else:
    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with TCP_NODELAY set on TCP
        connections."""

        def connection_made(self, transport):
            _nodelay(transport)
            super().connection_made(transport)

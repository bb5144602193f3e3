"""uvicorn's HTTP protocol, with TCP_NODELAY on every connection.

asyncio turns Nagle's algorithm off on the TCP connections it makes, but
only for sockets whose ``proto`` is ``IPPROTO_TCP``. With ``--workers``,
uvicorn binds the listening socket as ``socket.socket(family=...)``,
whose ``proto`` is 0; the connections the workers accept inherit it, so
asyncio leaves Nagle on. A response written in two pieces (headers, then
body) then waits for the client's delayed ACK of the first piece: about
40 ms on Linux, on every request (benchmarks/RESULTS.md, "2026-11-30 —
ZEO request latency"). This protocol sets TCP_NODELAY itself when a
connection is made, whatever the socket's ``proto`` says. Upstream:
uvicorn issue 3149 (Kludex/uvicorn); once uvicorn binds with
``IPPROTO_TCP``, tests/test_web_httpprotocol.py says so and this can go.
"""

import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ['NoDelayHTTPProtocol', 'PROTOCOL']

# How uvicorn's ``http`` setting names it (an import string, so that
# worker processes import it themselves).
PROTOCOL = 'cybertools_tracking.web.httpprotocol:NoDelayHTTPProtocol'


class NoDelayHTTPProtocol(AutoHTTPProtocol):
    """uvicorn's default HTTP protocol (httptools or h11) with TCP_NODELAY
    set on TCP connections (not on Unix sockets)."""

    def connection_made(self, transport):
        sock = transport.get_extra_info('socket')
        if sock is not None and sock.family in (socket.AF_INET,
                                                socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

"""TCP_NODELAY on the app server's connections, also on a listening
socket made as uvicorn's ``--workers`` makes it (``proto`` 0), where
asyncio does not set it."""

import asyncio
import socket

import pytest

uvicorn = pytest.importorskip('uvicorn')
httpx = pytest.importorskip('httpx')

from cybertools_tracking.web.httpprotocol import PROTOCOL  # noqa: E402


async def _hello(scope, receive, send):
    if scope['type'] != 'http':
        return
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'hello'})


def _nodelay_of_served_connection(http):
    """Serve one keep-alive request on a proto-0 listening socket; the
    TCP_NODELAY option of the server's side of that connection."""
    listener = socket.socket(family=socket.AF_INET)     # proto 0
    listener.bind(('127.0.0.1', 0))
    assert listener.proto == 0
    port = listener.getsockname()[1]
    config = uvicorn.Config(_hello, http=http, log_level='warning',
                            lifespan='off')
    server = uvicorn.Server(config)

    async def main():
        serving = asyncio.ensure_future(server.serve(sockets=[listener]))
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as client:
            answer = await client.get('http://127.0.0.1:%d/' % port)
            assert answer.text == 'hello'
            (connection,) = server.server_state.connections
            sock = connection.transport.get_extra_info('socket')
            value = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        server.should_exit = True
        await serving
        return value

    try:
        return asyncio.run(main())
    finally:
        listener.close()


def test_uvicorn_default_leaves_nagle_on_for_proto_0_sockets():
    # The cause this module works around; if uvicorn or asyncio fix it,
    # this fails and the workaround can go.
    assert _nodelay_of_served_connection('auto') == 0


def test_our_protocol_sets_nodelay():
    assert _nodelay_of_served_connection(PROTOCOL) != 0


"""TCP_NODELAY on the app server's connections, also on a listening
socket made as uvicorn's ``--workers`` makes it (``proto`` 0), where
asyncio does not set it."""

import asyncio
import socket

import pytest

uvicorn = pytest.importorskip('uvicorn')
httpx = pytest.importorskip('httpx')

from cybertools_tracking.web.httpprotocol import PROTOCOL  # noqa: E402
from cybertools_tracking.web.httpprotocol import PROTOCOLS  # noqa: E402
from cybertools_tracking.web.httpprotocol import available  # noqa: E402


async def _hello(scope, receive, send):
    if scope['type'] != 'http':
        return
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'hello'})


def _nodelay_of_served_connection(http, loop='asyncio'):
    """Serve one keep-alive request on a proto-0 listening socket; the
    TCP_NODELAY option of the server's side of that connection."""
    listener = socket.socket(family=socket.AF_INET)     # proto 0
    listener.bind(('127.0.0.1', 0))
    assert listener.proto == 0
    port = listener.getsockname()[1]
    config = uvicorn.Config(_hello, http=http, loop=loop,
                            log_level='warning', lifespan='off')
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
        if loop == 'uvloop':
            import uvloop
            return uvloop.run(main())
        return asyncio.run(main())
    finally:
        listener.close()


def test_uvicorn_default_leaves_nagle_on_for_proto_0_sockets():
    # The cause this module works around; if uvicorn or asyncio fix it,
    # this fails and the workaround can go.
    assert _nodelay_of_served_connection('auto') == 0


def _loops():
    loops = ['asyncio']
    try:
        import uvloop  # noqa: F401
        loops.append('uvloop')
    except ImportError:
        pass
    return loops


def test_our_protocol_sets_nodelay():
    assert _nodelay_of_served_connection(PROTOCOL) != 0


@pytest.mark.parametrize('loop', _loops())
@pytest.mark.parametrize('http', ['h11', 'httptools'])
def test_every_protocol_and_loop_of_serve_sets_nodelay(http, loop):
    # serve --http/--loop: h11 or httptools, asyncio or uvloop (the "web"
    # extra installs both where they build); each must have it set.
    if not available(http):
        pytest.skip('httptools is not installed')
    assert _nodelay_of_served_connection(PROTOCOLS[http], loop) != 0


@pytest.mark.parametrize('loop', _loops())
@pytest.mark.parametrize('http', ['h11', 'httptools'])
def test_what_uvicorn_protocols_do_alone(http, loop):
    # On asyncio both of uvicorn's protocols leave Nagle on (why ours
    # exist); uvloop sets TCP_NODELAY on every TCP connection itself, so
    # with it (the "web" extra's default where it builds) ours only
    # repeat it. When the asyncio case fails, uvicorn or asyncio fixed it.
    if not available(http):
        pytest.skip('httptools is not installed')
    nodelay = _nodelay_of_served_connection(http, loop)
    assert (nodelay != 0) == (loop == 'uvloop')



def test_serve_refuses_unknown_choices_before_serving():
    from cybertools_tracking.web.server import serve
    for options, words in (({'http': 'h2'}, "http must be one of auto, h11, "
                                             "httptools, got 'h2'"),
                           ({'loop': 'trio'}, "loop must be one of auto, "
                                              "asyncio, uvloop, got 'trio'")):
        with pytest.raises(ValueError) as raised:
            serve('unused.fs', **options)
        assert str(raised.value) == words

"""A real uvicorn server for tests: in a thread, on a free loopback port."""

import contextlib
import socket
import threading
import time

import uvicorn


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(app, port=None):
    """Serve ``app``; yield its base URL; stop it at the end."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host='127.0.0.1', port=port,
                                           log_level='warning',
                                           lifespan='on',
                                           # open event streams end then
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError('uvicorn did not start')
        time.sleep(0.02)
    try:
        yield 'http://127.0.0.1:%d' % port
    finally:
        server.should_exit = True
        thread.join(30)

"""Running the app with uvicorn (``cybertools-tracking serve``).

Each uvicorn worker is a process that builds its app with
``app_from_environment`` and opens the database itself, so the settings
travel in environment variables (``CYBERTOOLS_TRACKING_WEB_*``), which
worker processes inherit. Several workers share one listening socket:
that is how two app processes on ZEO serve one port.
"""

import json
import os

__all__ = ['serve', 'app_from_environment', 'SETTINGS_ENV', 'HTTP_CHOICES',
           'LOOP_CHOICES']

SETTINGS_ENV = 'CYBERTOOLS_TRACKING_WEB'


def app_from_environment():
    """The app of the settings ``serve`` left in the environment."""
    from cybertools_tracking.web.app import create_app
    from cybertools_tracking.web.auth import load_tokens
    settings = json.loads(os.environ[SETTINGS_ENV])
    return create_app(settings['db'], storage_name=settings['storage_name'],
                      tokens=load_tokens(settings['token_file']),
                      open_reads=settings['open_reads'],
                      track_events=settings['track_events'])


HTTP_CHOICES = ('auto', 'h11', 'httptools')
LOOP_CHOICES = ('auto', 'asyncio', 'uvloop')


def serve(db, storage_name='tracking', host='127.0.0.1', port=8080,
          workers=1, token_file=None, open_reads=False, track_events=False,
          log_level='info', http='auto', loop='auto'):
    """Serve the database ``db`` (a URI or a path) until interrupted.

    ``http`` and ``loop``: uvicorn's HTTP implementation and event loop
    (``auto``: httptools and uvloop where installed, as the ``web`` extra
    does on CPython outside Windows; else h11 and asyncio). ``ValueError``
    for a name not among ``HTTP_CHOICES``/``LOOP_CHOICES`` or one whose
    package is not installed, before anything is served."""
    import uvicorn
    from cybertools_tracking.web.httpprotocol import PROTOCOLS, available
    if http not in HTTP_CHOICES:
        raise ValueError('http must be one of %s, got %r'
                         % (', '.join(HTTP_CHOICES), http))
    if loop not in LOOP_CHOICES:
        raise ValueError('loop must be one of %s, got %r'
                         % (', '.join(LOOP_CHOICES), loop))
    if not available(http):
        raise ValueError('http %r needs the httptools package (pip install '
                         'httptools)' % http)
    if loop == 'uvloop':
        try:
            import uvloop   # noqa: F401
        except ImportError:
            raise ValueError('loop \'uvloop\' needs the uvloop package '
                             '(pip install uvloop; not on Windows)') from None
    os.environ[SETTINGS_ENV] = json.dumps({
        'db': db, 'storage_name': storage_name,
        'token_file': token_file and os.path.abspath(token_file),
        'open_reads': open_reads, 'track_events': track_events})
    uvicorn.run('cybertools_tracking.web.server:app_from_environment',
                factory=True, host=host, port=port, workers=workers,
                http=PROTOCOLS[http], loop=loop, log_level=log_level)

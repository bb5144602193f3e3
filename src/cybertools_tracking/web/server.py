"""Running the app with uvicorn (``cybertools-tracking serve``).

Each uvicorn worker is a process that builds its app with
``app_from_environment`` and opens the database itself, so the settings
travel in environment variables (``CYBERTOOLS_TRACKING_WEB_*``), which
worker processes inherit. Several workers share one listening socket:
that is how two app processes on ZEO serve one port.
"""

import json
import os

__all__ = ['serve', 'app_from_environment', 'SETTINGS_ENV']

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


def serve(db, storage_name='tracking', host='127.0.0.1', port=8080,
          workers=1, token_file=None, open_reads=False, track_events=False,
          log_level='info'):
    """Serve the database ``db`` (a URI or a path) until interrupted."""
    import uvicorn
    from cybertools_tracking.web.httpprotocol import PROTOCOL
    os.environ[SETTINGS_ENV] = json.dumps({
        'db': db, 'storage_name': storage_name,
        'token_file': token_file and os.path.abspath(token_file),
        'open_reads': open_reads, 'track_events': track_events})
    uvicorn.run('cybertools_tracking.web.server:app_from_environment',
                factory=True, host=host, port=port, workers=workers,
                http=PROTOCOL, log_level=log_level)

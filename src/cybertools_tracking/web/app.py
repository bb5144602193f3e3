"""The application factory.

``create_app(db)`` serves an open ``ZODB.DB`` (the caller closes it);
``create_app('zeo://...')`` (a URI or a path) opens the database when the
app starts and closes it when it stops, so that every worker process of
uvicorn opens its own. The app keeps no state of the database's: every
request takes a connection from the pool (see ``units.py``).
"""

import contextlib

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cybertools_tracking.db import DEFAULT_NAME, open_db
from cybertools_tracking.db import run_in_transaction
from cybertools_tracking.web import api_events, api_goals, api_tracks
from cybertools_tracking.web import dashboard, units
from cybertools_tracking.web.auth import Tokens, load_tokens
from cybertools_tracking.web.batcher import GroupCommitter

__all__ = ['create_app']

TITLE = 'cybertools-tracking'


def create_app(db, storage_name=DEFAULT_NAME, tokens=None, open_reads=False,
               track_events=False, attempts=10, poll_seconds=None,
               group_commit=True):
    """A FastAPI app over ``db``: an open ``ZODB.DB``, or a URI or path
    to open at startup (``open_db``).

    ``tokens``: the bearer tokens that may write (a list of strings or a
    ``Tokens``; default those of ``load_tokens()``, from the environment);
    none means writes are refused. ``open_reads`` lets GET requests through
    without a token. ``track_events`` makes every new track an event of
    the feed (stored with the storage, at startup). ``attempts``: how often
    a write is tried on conflicts before a 503. ``poll_seconds``: how often
    an event stream looks for new events. ``group_commit``: single-track
    saves of concurrent requests share a transaction (see ``batcher.py``).
    """
    if tokens is None:
        tokens = load_tokens()
    elif not isinstance(tokens, Tokens):
        tokens = Tokens(tokens)
    if isinstance(attempts, bool) or not isinstance(attempts, int) \
            or attempts < 1:
        raise ValueError('attempts must be an int, 1 or more, got %r'
                         % (attempts,))
    owns_db = not hasattr(db, 'open')

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if owns_db:
            app.state.db = open_db(db)
        try:
            if track_events:
                run_in_transaction(app.state.db, _record_tracks, storage_name)
            yield
        finally:
            if app.state.committer is not None:
                app.state.committer.stop()
            if owns_db:
                app.state.db.close()

    app = FastAPI(title=TITLE, lifespan=lifespan, description=(
        'Tracks, runs and goals in ZODB, over HTTP. Writes need a bearer '
        'token; reads too unless the server opened them.'))
    app.state.db = None if owns_db else db
    app.state.storage_name = storage_name
    app.state.tokens = tokens
    app.state.open_reads = bool(open_reads)
    app.state.attempts = attempts
    app.state.poll_seconds = (api_events.POLL_SECONDS if poll_seconds is None
                              else poll_seconds)
    app.state.committer = GroupCommitter(
        app, api_tracks.saved_json) if group_commit else None
    app.include_router(api_tracks.router)
    app.include_router(api_goals.router)
    app.include_router(api_events.router)
    app.include_router(dashboard.router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, error):
        # FastAPI's answer, without echoing big inputs (units.py).
        return JSONResponse(
            {'detail': units.short_validation_errors(error.errors())},
            status_code=422)

    @app.exception_handler(units.NoStorageError)
    async def no_storage(request, error):
        return JSONResponse({'detail': error.args[0]}, status_code=404)

    return app


def _record_tracks(storage):
    if storage.events not in storage.trackObservers():
        storage.addTrackObserver(storage.events)

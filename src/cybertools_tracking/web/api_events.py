"""The event feed over HTTP: Server-Sent Events and pages of JSON.

Both read the outbox (``events.py``), so every app process of a shared
database (ZEO, RelStorage) streams every event, whichever process
committed it. A stream starts after ``since`` (default: the newest event,
so only new ones come), or after the ``Last-Event-ID`` a reconnecting
browser sends; each event's SSE id is its position, its SSE event name
its type (``goal.all_completed``, ``track.saved`` ...) and its data the
JSON of ``OutboxEvent.as_json``.

Positions exceed 2**53 (``tid << 20 | index``), so the JSON gives them as
strings of digits (``position``, ``last``), exactly as the SSE id and
``Last-Event-ID`` carry them; ``since`` takes the digits as they came.

A ``since`` or ``Last-Event-ID`` beyond the feed's last position (a
client's mistake, a position of another database) is taken as that last
position, and a page's ``last`` says so: echoed, a client would keep the
too-high position and miss every event of the positions below it. Not a
400: a browser's EventSource gives up on an error answer, and a position
just past what this process's connection saw yet (another process
committed it a moment ago) is a right one; it then costs a re-delivery
of those events, never a loss.
"""

import json
from typing import Optional

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi import Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from cybertools_tracking.web import units
from cybertools_tracking.web.api_tracks import ERRORS
from cybertools_tracking.web.deps import reader
from cybertools_tracking.web.models import EventPage

__all__ = ['router', 'POLL_SECONDS']

router = APIRouter(tags=['events'])
POLL_SECONDS = 0.2      # how often a stream looks for new events
PAGE = 500


def _page(app, since, limit):
    """The events after ``since`` (an int) and the position to go on from
    (an int, as ``last``): never beyond the feed's last position (see the
    module doc)."""
    def work(storage):
        events = storage.events.since(since, limit)
        if events:
            last = events[-1].position
        else:
            # Read in the transaction that found nothing after ``since``:
            # whatever commits later lies after it.
            last = min(since, storage.events.last_position())
        return {'events': [e.as_json() for e in events], 'last': last}
    return units.read(app, work)


def _page_or_none(app, since, limit):
    # A stream may begin before the first write made the storage: the
    # feed is empty, its last position 0.
    try:
        return _page(app, since, limit)
    except units.NoStorageError:
        return {'events': [], 'last': 0}


@router.get('/events/page', response_model=EventPage,
            dependencies=[Depends(reader)], responses=ERRORS)
def event_page(request: Request, since: int = Query(0, ge=0),
               limit: int = Query(100, ge=1, le=10_000)):
    """Up to ``limit`` events after position ``since``, oldest first;
    ``last`` is the position to ask ``since`` next (a string of digits),
    never beyond the feed's last position: a ``since`` beyond it gives
    no events and that position."""
    page = _page(request.app, since, limit)
    page['last'] = str(page['last'])
    return page


async def _start(
        request: Request,
        since: Optional[int] = Query(None, ge=0, description='start after '
                                     'this position (its digits, as an '
                                     'event\'s "position" or "id" gives '
                                     'them); default: new events only'),
        last_event_id: Optional[str] = Header(None, description='sent by '
                                              'a reconnecting EventSource')):
    """Where a stream starts; a dependency, so that a bad value is a 400
    before the stream begins."""
    if last_event_id:
        if not (last_event_id.isascii() and last_event_id.isdigit()):
            raise HTTPException(400, 'Last-Event-ID must be an event\'s '
                                'id (its position, digits), got %s'
                                % units.as_json(last_event_id))
        return int(last_event_id)
    if since is not None:
        return since
    return await run_in_threadpool(_last_position, request.app)


@router.get('/events', response_class=EventSourceResponse,
            dependencies=[Depends(reader)], responses=ERRORS)
async def event_stream(request: Request, position: int = Depends(_start)):
    """Events as Server-Sent Events, as they are committed: after
    ``since`` (default: only new ones), or after ``Last-Event-ID``; one
    beyond the feed's last position starts after that position."""
    app = request.app
    while not await request.is_disconnected():
        page = await run_in_threadpool(_page_or_none, app, position, PAGE)
        for event in page['events']:
            yield ServerSentEvent(raw_data=json.dumps(event),
                                  event=event['type'], id=event['id'])
        position = page['last']
        if len(page['events']) < PAGE:
            await anyio.sleep(app.state.poll_seconds)


def _last_position(app):
    try:
        return units.read(app, lambda storage: storage.events.last_position())
    except units.NoStorageError:
        return 0

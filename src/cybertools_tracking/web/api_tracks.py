"""Endpoints of tracks, runs, tasks, users and statistics."""

import inspect
import re
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from cybertools_tracking.eventids import EventIdConflictError
from cybertools_tracking.eventids import describe_differences
from cybertools_tracking.events import track_json
from cybertools_tracking.query import UnknownCriterionError
from cybertools_tracking.query import check_pattern, check_time_range
from cybertools_tracking.query import with_current_runs
from cybertools_tracking.timestamps import TIME_FORMATS, parse_time
from cybertools_tracking.validation import guessed, shorten
from cybertools_tracking.web import units
from cybertools_tracking.web.deps import reader, writer
from cybertools_tracking.web.jsonbody import CodecRoute, data_json
from cybertools_tracking.web.units import as_json, did_you_mean
from cybertools_tracking.web.models import BatchResult, RunOut, RunStart
from cybertools_tracking.web.models import RunStop, Stats, TrackBatch
from cybertools_tracking.web.models import TrackIn, TrackOut, TrackPage

__all__ = ['router', 'save']

# Bodies read, and data written, as the command line does (jsonbody.py).
router = APIRouter(route_class=CodecRoute)
ERRORS = {400: {'description': 'a bad value, with the library\'s message'},
          401: {'description': 'no token'},
          403: {'description': 'a wrong token, or none configured'},
          404: {'description': 'not found'},
          503: {'description': 'database unavailable, or conflicts after '
                               'every retry'}}
MAX_PAGE = 10_000
EARLIEST = -62_135_596_800      # 0001-01-01, the earliest timestamp
_CURSOR = re.compile(r'(\d+(?:\.\d+)?):(\d+)$')
# Query parameters that are not criteria.
_OPTIONS = {'limit', 'cursor', 'access_token', 'newestFirst'}
# What time query parameters take.
TIMES = ('seconds since the epoch (UTC), or a time as POST /tracks takes '
         'its timeStamp: ' + TIME_FORMATS)


def _supports_event_ids(storage):
    """Whether this storage's ``saveUserTrack`` takes ``eventId``."""
    cls = type(storage)
    known = _event_ids.get(cls)
    if known is None:
        known = _event_ids[cls] = 'eventId' in inspect.signature(
            storage.saveUserTrack).parameters
    return known


_event_ids = {}


def _json(storage, track):
    """A track's JSON, with its event id (``eventId`` null: none) and its
    data as the command line writes it (``{"$float": "inf"}``)."""
    get = getattr(storage, 'getEventId', None)
    result = track_json(track, None if get is None else get(track))
    result['data'] = data_json(result['data'])
    return result


def save(storage, track):
    """Save a ``TrackIn``; return the track id."""
    return save_replayed(storage, track)[0]


def save_replayed(storage, track):
    """Save a ``TrackIn``; return (the track id, whether it was a replay:
    its eventId named a track of the same content already, and nothing
    was stored). Another track under that eventId raises the storage's
    ``EventIdConflictError`` (a 409)."""
    options = dict(update=track.update, overwrite=track.overwrite,
                   replace=track.replace, timeStamp=track.timeStamp)
    replayed = False
    if track.eventId is not None and _supports_event_ids(storage):
        options['eventId'] = track.eventId
        # Known before the save: the save then returns that track's id,
        # or refuses other content.
        replayed = storage.getTrackByEventId(track.eventId) is not None
    return storage.saveUserTrack(track.taskId, track.runId, track.userName,
                                 track.data, **options), replayed


REPLAYED = 'Idempotent-Replayed'    # the header of a replay's answer


@router.post('/tracks', status_code=201, response_model=TrackOut,
             dependencies=[Depends(writer)], responses={
                 **ERRORS,
                 200: {'description': 'a replay: the eventId names a track '
                       'of the same content, which is returned; nothing '
                       'new is stored; the answer has the header '
                       '"%s: true"' % REPLAYED},
                 409: {'description': 'the eventId names a track with '
                       'other content'}}, tags=['tracks'])
async def save_track(track: TrackIn, request: Request,
                     response: Response):
    """Save one track (201); its goals are evaluated in the same
    transaction. Saves that arrive together may share a transaction
    (group commit); the answer comes once it committed. ``X-Attempts``
    says how many attempts the transaction took. With an ``eventId``
    saved before: the same content is a replay (200, the stored track,
    ``Idempotent-Replayed: true``), other content a 409."""
    # async: the request waits for the group committer's thread without
    # taking a worker thread of its own (a thread switch less per save).
    committer = request.app.state.committer
    if committer is None:
        (result, replayed), attempts = await run_in_threadpool(
            units.write_counted, request.app,
            lambda storage: saved_json(storage, track))
    else:
        (result, replayed), attempts = await committer.save(track)
    response.headers['X-Attempts'] = str(attempts)
    if replayed:
        response.status_code = 200
        response.headers[REPLAYED] = 'true'
    return result


def saved_json(storage, track):
    """Save a ``TrackIn``; return (the stored track's JSON, whether the
    save was a replay of its eventId)."""
    track_id, replayed = save_replayed(storage, track)
    return _json(storage, storage[track_id]), replayed


@router.post('/tracks/batch', status_code=201, response_model=BatchResult,
             dependencies=[Depends(writer)], responses={**ERRORS, 409: {
                 'description': 'an eventId names a track with other '
                                'content'}}, tags=['tracks'])
def save_batch(batch: TrackBatch, request: Request, response: Response):
    """Save up to 10,000 tracks in one transaction: all, or none and a 400
    naming the first bad one (``tracks[i]``; a 409 for an eventId saved
    with other content). ``replayed`` lists the tracks whose eventId was
    saved with the same content before (their ids are the stored ones)."""
    def work(storage):
        ids, replays = [], []
        saved_here = {}     # eventId -> the item that stored it
        for number, track in enumerate(batch.tracks):
            try:
                track_id, replayed = save_replayed(storage, track)
            except EventIdConflictError as error:
                raise _batch_conflict(error, number, saved_here) from None
            except (ValueError, TypeError) as error:
                raise type(error)('tracks[%d]: %s' % (number, error)) from None
            ids.append(track_id)
            if replayed:
                replays.append(number)
            elif track.eventId is not None:
                saved_here[track.eventId] = number
        return {'ids': ids, 'count': len(ids), 'replayed': replays}
    return units.write(request.app, work, response)


def _batch_conflict(error, number, saved_here):
    """The 409 of item ``number``: the track its eventId names may be an
    earlier item of this batch, which the refusal rolls back; then the
    items are named, not a track that will not exist."""
    first = saved_here.get(error.eventId)
    if first is None:
        return EventIdConflictError('tracks[%d]: %s' % (number, error),
                                    error.eventId, error.trackId,
                                    error.differences)
    return EventIdConflictError(
        'tracks[%d]: eventId %s is the eventId of tracks[%d] of this batch, '
        'with other content: %s; an event id stands for one content (xAPI)'
        % (number, shorten(error.eventId), first,
           describe_differences(error.differences)),
        error.eventId, None, error.differences)


@router.get('/tracks', response_model=TrackPage, dependencies=[
    Depends(reader)], responses=ERRORS, tags=['tracks'])
def query_tracks(
        request: Request,
        taskId: Optional[list[str]] = Query(None, description='exact, or '
                                            'a prefix ending in *; repeat '
                                            'for any of several'),
        runId: Optional[list[int]] = Query(None, description='a run '
                                           'number; 0: the current run of '
                                           'each task asked for (of every '
                                           'task without taskId), as the '
                                           'command line\'s --run 0'),
        userName: Optional[list[str]] = Query(None),
        timeStamp: Optional[list[str]] = Query(None, description='exact '
                                               'times: ' + TIMES),
        timeFrom: Optional[str] = Query(None, description='inclusive: ' +
                                        TIMES),
        timeTo: Optional[str] = Query(None, description='inclusive: ' +
                                      TIMES + '; a date or minute '
                                      'includes its last second'),
        limit: int = Query(100, ge=1, le=MAX_PAGE),
        cursor: Optional[str] = Query(None, description='the "next" of the '
                                      'previous page'),
        newestFirst: bool = Query(True, description='newest first '
                                  '(default), or with false oldest first')):
    """Tracks meeting every criterion, newest first (or oldest first), a
    page at a time. Other query parameters are criteria on extra indexes
    of the track class; any other name is a 400 naming it (a misspelt
    ``user`` is not read as "no tracks"), except names starting with
    ``_`` (a cache-buster such as ``_=123``), which are ignored.
    ``runId=0`` is the current run of each task of ``taskId`` (of every
    task without one), as ``query --run 0`` takes it. A ``*``
    other than at the end of a ``taskId`` or ``userName``, and a
    ``timeFrom`` after ``timeTo``, are a 400 too, as on the command line
    (they could match nothing). Without any criterion: every track."""
    for name, values in (('taskId', taskId), ('userName', userName)):
        for value in values or ():
            _checked(check_pattern, name, value)
    given = (timeFrom, timeTo)
    if timeStamp is not None:
        timeStamp = [query_time('timeStamp', text) for text in timeStamp]
    if timeFrom is not None:
        timeFrom = query_time('timeFrom', timeFrom)
    if timeTo is not None:
        timeTo = query_time('timeTo', timeTo, end=True)
    _checked(check_time_range, timeFrom, timeTo, shown=given)
    criteria = {name: value for name, value in (
        ('taskId', taskId), ('runId', runId), ('userName', userName),
        ('timeStamp', timeStamp), ('timeFrom', timeFrom), ('timeTo', timeTo))
        if value is not None}
    for name, value in request.query_params.multi_items():
        if name not in _OPTIONS and name not in criteria \
                and not name.startswith('_'):
            criteria.setdefault(name, []).append(value)
    if not criteria:
        criteria['timeFrom'] = EARLIEST
    after = None
    if cursor is not None:
        match = _CURSOR.match(cursor)
        if match is None:
            raise HTTPException(400, 'cursor must be the "next" of a page '
                                '(TIME:NUMBER), got %s' % as_json(cursor))
        after = (float(match.group(1)), int(match.group(2)))
        if newestFirst:
            criteria['timeTo'] = min(criteria.get('timeTo', after[0]),
                                     after[0])
        else:
            criteria['timeFrom'] = max(criteria.get('timeFrom', after[0]),
                                       after[0])
    def work(storage):
        # Run 0: the current runs, the command line's rule (shared).
        current = with_current_runs(storage, criteria)
        if current is None:     # run 0 alone, and no task has a run
            return {'tracks': [], 'next': None}
        try:
            return _page(storage, current, limit, after, newestFirst)
        except UnknownCriterionError as error:
            raise HTTPException(400, _unknown(error)) from None
    return units.read(request.app, work)


# The query parameters GET /tracks takes besides extra indexes.
PARAMETERS = ('taskId', 'runId', 'userName', 'timeStamp', 'timeFrom',
              'timeTo', 'limit', 'cursor', 'newestFirst')


def _checked(rule, *args, **options):
    """``rule(*args, **options)`` (a check of ``query``), its
    ValueError a 400."""
    try:
        rule(*args, **options)
    except ValueError as error:
        raise HTTPException(400, str(error)) from None


def _unknown(error):
    """The 400 of an unknown query parameter, naming what HTTP takes
    (the library's message names its Python criteria)."""
    if error.pending:
        return str(error)
    known = PARAMETERS + tuple(error.extras)
    return ('unknown query parameter %s: expected %s%s; parameters '
            'starting with _ are ignored'
            % (', '.join(guessed(name, known) for name in error.unknown),
               ', '.join(PARAMETERS),
               ' or an extra index (%s)' % ', '.join(error.extras)
               if error.extras else ' (the track class has no extra '
               'indexes)'))


_DECIMAL = re.compile(r'-?\d+\.\d*(?:[eE][-+]?\d+)?$|-?\d+[eE][-+]?\d+$')


def query_time(name, text, end=False):
    """A time query parameter as seconds: what ``parse_time`` takes (as
    a save's ``timeStamp`` and the command line's options do), and
    seconds with a fraction; ``end``: a date or minute means its last
    second (as ``--to``). A 400 naming ``name`` otherwise."""
    if _DECIMAL.match(text.strip()):
        return float(text)
    try:
        return parse_time(text, end=end)
    except ValueError as error:
        raise HTTPException(400, '%s: %s' % (name, error)) from None


def _key(track):
    return (track.timeStamp, int(track.__name__))


def _page(storage, criteria, limit, after, newestFirst=True):
    # The storage orders by (time, number), newest first (or oldest); a
    # page starts past the cursor. Tracks of the cursor's second come
    # again from the query, so ask for more until a page is full or the
    # tracks run out.
    extra = 0 if after is None else 16

    def past(track):
        return (after is None or (_key(track) < after if newestFirst
                                  else _key(track) > after))
    while True:
        found = storage.query(newestFirst=newestFirst,
                              limit=limit + extra + 1, **criteria)
        page = [t for t in found if past(t)]
        if len(page) > limit or len(found) < limit + extra + 1:
            break
        extra *= 4
    more = len(page) > limit
    page = page[:limit]
    next_cursor = None
    if more:
        ts, num = _key(page[-1])
        next_cursor = '%s:%d' % (ts, num)
    return {'tracks': [_json(storage, t) for t in page],
            'next': next_cursor}


@router.get('/tracks/last', response_model=TrackOut, dependencies=[
    Depends(reader)], responses=ERRORS, tags=['tracks'])
def last_track(request: Request, taskId: str, userName: str, runId: int = 0):
    """The user's last track in the run (0: the task's current run)."""
    def work(storage):
        track = storage.getLastUserTrack(taskId, runId, userName)
        if track is None:
            raise KeyError('no track of %s in task %s, run %s%s'
                           % (as_json(userName), as_json(taskId),
                              runId or 'current',
                              _close_user(storage, taskId, userName)))
        return _json(storage, track)
    return units.read(request.app, work)


def _close_user(storage, taskId, userName):
    """``'; did you mean "ann"?'``: the task's users close to
    ``userName``, or for a task without tracks, the close tasks."""
    users = storage.getUserNames(taskId)
    if users:
        return did_you_mean(userName, users)
    return did_you_mean(taskId, storage.getTaskIds(), 'task ')


@router.get('/tracks/{trackId}', response_model=TrackOut, dependencies=[
    Depends(reader)], responses=ERRORS, tags=['tracks'])
def get_track(trackId: str, request: Request):
    def work(storage):
        track = storage.get(trackId)
        if track is None:
            raise KeyError('no track %s' % as_json(trackId))
        return _json(storage, track)
    return units.read(request.app, work)


@router.get('/tasks', response_model=list[str], dependencies=[
    Depends(reader)], responses=ERRORS, tags=['tracks'])
def tasks(request: Request):
    """The task ids, sorted."""
    return units.read(request.app, lambda storage: storage.getTaskIds())


@router.get('/users', response_model=list[str], dependencies=[
    Depends(reader)], responses=ERRORS, tags=['tracks'])
def users(request: Request, taskId: str):
    """The users of a task, sorted."""
    return units.read(request.app,
                      lambda storage: storage.getUserNames(taskId))


def run_json(run, current):
    return {'id': run.id, 'taskId': run.taskId, 'start': run.start,
            'end': run.end, 'finished': run.finished,
            'current': current.get(run.taskId) == run.id}


@router.get('/runs', response_model=list[RunOut], dependencies=[
    Depends(reader)], responses=ERRORS, tags=['runs'])
def runs(request: Request, taskId: Optional[str] = None,
         finished: Optional[bool] = None):
    def work(storage):
        current = storage.getCurrentRuns()
        return [run_json(run, current)
                for run in storage.getRuns(taskId, finished)]
    return units.read(request.app, work)


@router.post('/runs', status_code=201, response_model=RunOut,
             dependencies=[Depends(writer)], responses=ERRORS, tags=['runs'])
def start_run(body: RunStart, request: Request):
    """Start a new run (of a task: its current run from now on)."""
    def work(storage):
        run = storage.getRun(storage.startRun(body.taskId))
        return run_json(run, storage.getCurrentRuns())
    return units.write(request.app, work)


@router.post('/runs/stop', response_model=RunOut, dependencies=[
    Depends(writer)], responses=ERRORS, tags=['runs'])
def stop_run(body: RunStop, request: Request):
    """Stop a run (0: the task's current one); 404 if there is none,
    422 for run 0 without a taskId (whose current run?), 409 for a run
    of another task than the taskId given."""
    if body.taskId is None and not body.runId:
        # A missing field, answered as pydantic answers one, with why.
        raise RequestValidationError([{
            'type': 'missing', 'loc': ('body', 'taskId'),
            'msg': 'Field required: the task whose current run to stop '
                   '(or runId, the number of the run to stop)',
            'input': body.model_dump(exclude_unset=True)}])

    def work(storage):
        named = storage.getRun(runId=body.runId) if body.runId else None
        if named is not None and body.taskId is not None \
                and named.taskId not in (None, body.taskId):
            # Python's stopRun stops it all the same (loops' rule); a
            # request naming both means that run of that task.
            raise HTTPException(409, 'run %d is a run of task %s, not of '
                                '%s; nothing was stopped' % (
                                    named.id, as_json(named.taskId),
                                    as_json(body.taskId)))
        runId = storage.stopRun(body.taskId, body.runId, body.finish)
        if not runId:
            raise KeyError('no run %s%s to stop' % (
                body.runId or 'current', '' if body.taskId is None
                else ' of task %s' % as_json(body.taskId)))
        return run_json(storage.getRun(runId), storage.getCurrentRuns())
    return units.write(request.app, work)


@router.get('/stats', response_model=Stats, dependencies=[Depends(reader)],
            responses=ERRORS, tags=['tracks'])
def stats(request: Request):
    def work(storage):
        tasks = storage.getTaskIds()
        users = set()
        for task in tasks:
            users.update(storage.getUserNames(task))
        return {'tracks': len(storage), 'tasks': len(tasks),
                'users': len(users), 'runs': len(storage.getRuns()),
                'currentRuns': len(storage.getCurrentRuns()),
                'lastEventPosition': str(storage.events.last_position())}
    return units.read(request.app, work)

"""Endpoints of goals: trackers of a group, and task templates.

Trackers travel as the JSON of ``goals/serialize.py``; a group is any
string (a user, a device, or ``task_group(taskId, userName)`` for a
user's copies of a task's templates), given as a query parameter since
it may hold any character.
"""

import time
from typing import Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi import Query, Response

from cybertools_tracking.goals.interfaces import ComponentInUseError
from cybertools_tracking.goals.interfaces import CompositeOutOfReachError
from cybertools_tracking.goals.serialize import tracker_from_json
from cybertools_tracking.goals.serialize import tracker_to_json
from cybertools_tracking.tracked_goals import group_names
from cybertools_tracking.web import units
from cybertools_tracking.web.units import as_json, did_you_mean
from cybertools_tracking.web.api_tracks import ERRORS
from cybertools_tracking.web.deps import reader, writer
from cybertools_tracking.web.models import TickIn, TickOut, TrackerIn
from cybertools_tracking.web.models import TrackerOut

__all__ = ['router']

router = APIRouter(tags=['goals'])
CONFLICT = {**ERRORS, 409: {'description': 'a goal of that name exists'}}
# Conditions and limiters come out with the fields their JSON form has,
# not with every field a condition or limiter can have.
AS_GIVEN = {'response_model_exclude_unset': True}


def _definition(tracker, storage):
    """The tracker a request's JSON defines; a composite's components are
    the trackers of those names in those groups (completed ones too)."""
    def resolve(group_id, name):
        found = storage.goals.get_trackers(group_id, name,
                                           include_completed=True)
        return found[0] if found else None
    definition = tracker.model_dump(exclude_unset=True)
    if definition['type'] == 'CompositeTracker':
        # A composite has no conditions, and no target means all of its
        # components (null, as tracker_to_json writes it).
        definition.setdefault('target', None)
    return tracker_from_json(definition, resolve=resolve)


@router.get('/goals', response_model=list[TrackerOut],
            **AS_GIVEN,
            dependencies=[Depends(reader)], responses=ERRORS)
def group_goals(request: Request, group: str,
                include_completed: bool = True):
    """The group's trackers with their progress."""
    return units.read(request.app, lambda storage: [
        tracker_to_json(t) for t in storage.goals.get_trackers(
            group, include_completed=include_completed)])


@router.post('/goals', status_code=201, response_model=TrackerOut,
             **AS_GIVEN,
             dependencies=[Depends(writer)], responses=CONFLICT)
def add_goal(tracker: TrackerIn, request: Request, group: str):
    """Add a tracker to the group."""
    def work(storage):
        made = _definition(tracker, storage)
        storage.goals.add_tracker(group, made)
        return tracker_to_json(made)
    return units.write(request.app, work)


@router.post('/goals/reset', response_model=TrackerOut,
             **AS_GIVEN,
             dependencies=[Depends(writer)], responses=ERRORS)
def reset_goal(request: Request, group: str, name: str,
               reset_policy: Optional[int] = None):
    """Reset a tracker (by its reset policy, or the one given)."""
    def work(storage):
        if not storage.goals.get_trackers(group, name,
                                          include_completed=True):
            raise KeyError(_no_goal(storage, group, name))
        storage.goals.reset_tracker(group, name, reset_policy=reset_policy)
        [tracker] = storage.goals.get_trackers(group, name,
                                               include_completed=True)
        return tracker_to_json(tracker)
    return units.write(request.app, work)


IN_USE = {**ERRORS, 409: {'description': 'the goal is a component of a '
                           'live composite (without detach=true), or '
                           'taking it out would leave a composite unable '
                           'to complete'}}


@router.delete('/goals', response_model=TrackerOut,
               **AS_GIVEN,
               dependencies=[Depends(writer)], responses=IN_USE)
def remove_goal(request: Request, group: str, name: str,
                detach: bool = Query(False, description=(
                    'also take the goal out of the live composites that '
                    'use it (an all-of then needs one fewer, a roll-up no '
                    'longer counts it); without it such a goal is a 409'))):
    """Remove a tracker from the group; 404 if it has none of that name.
    A component of a live composite is a 409 unless ``detach=true``; so
    is one whose removal would leave a composite without components or
    below its count target (remove that composite first)."""
    def work(storage):
        found = storage.goals.get_trackers(group, name,
                                           include_completed=True)
        if not found:
            raise KeyError(_no_goal(storage, group, name))
        try:
            removed = storage.goals.remove_tracker(group, name,
                                                   detach=detach)
        except ComponentInUseError as error:
            raise HTTPException(409, _in_use(error)) from None
        except CompositeOutOfReachError as error:
            raise HTTPException(409, _out_of_reach(error)) from None
        [tracker] = removed
        return tracker_to_json(tracker)   # as it is now: state "removed"
    return units.write(request.app, work)


def _no_goal(storage, group_id, name):
    """The 404 of a goal the group does not have, its names quoted as
    JSON, as every HTTP message quotes what a client sent; with the
    group's goals of names close to ``name``, or, for a group without
    goals, the groups of names close to it (goal groups, users of
    tracks), as the command line offers them."""
    names = [t.name for t in storage.goals.get_trackers(
        group_id, include_completed=True)]
    if names:
        close = did_you_mean(name, names)
    else:
        close = did_you_mean(group_id, group_names(storage), 'group ')
    return 'group %s has no goal %s%s' % (as_json(group_id), as_json(name),
                                          close)


def _composite_call(group_id, name):
    return 'DELETE /goals?%s' % urlencode({'group': group_id, 'name': name})


def _in_use(error):
    """The HTTP words for ``ComponentInUseError``: the library's name
    Python calls."""
    named = ', '.join('%s of group %s' % (as_json(c), as_json(g))
                      for g, c in error.users)
    calls = ', '.join(_composite_call(g, c) for g, c in error.users)
    several = len(error.users) > 1
    return ('goal %s of group %s is a component of the live composite%s %s; '
            'remove %s first (%s), or repeat with detach=true to take the '
            'goal out of its composites too; nothing was changed'
            % (as_json(error.name), as_json(error.group_id),
               's' if several else '', named,
               'them' if several else 'the composite', calls))


def _out_of_reach(error):
    """The HTTP words for ``CompositeOutOfReachError``."""
    return ('taking the goal out would leave the composite %s of group %s '
            'unable to complete (%d component%s left, it needs %s); remove '
            'or redefine that composite first (%s); nothing was changed'
            % (as_json(error.name), as_json(error.group_id),
               error.left, '' if error.left == 1 else 's',
               'at least one' if not error.left
               else '%d to complete' % error.target,
               _composite_call(error.group_id, error.name)))


@router.post('/goals/tick', response_model=TickOut,
             dependencies=[Depends(writer)], responses=ERRORS)
def tick(request: Request, response: Response,
         options: Optional[TickIn] = Body(None)):
    """Let time act on the goals without a new track, as ``cybertools-
    tracking goals tick`` does: expired trackers removed, passed deadlines
    failed, calendar periods closed, composites brought up to date; the
    events go to the feed. For a periodic job; it reads every group unless
    ``groups`` narrows it; ``withoutGoals`` lists the groups named there
    that have no goal (passed over: misspelt, or their last goal went).
    No body: now, every group. ``X-Attempts`` says
    how many attempts the transaction took; 404 if the database has no
    storage yet."""
    options = options or TickIn()
    now = time.time() if options.at is None else options.at

    def refs(trackers):
        return [{'group_id': t.group_id, 'name': t.name} for t in trackers]

    def work(storage):
        without = [] if options.groups is None else \
            storage.goals.groups_without_trackers(options.groups)
        try:
            result = storage.goals.tick(now_ts=now, group_ids=options.groups)
        except (TypeError, ValueError) as error:
            raise renamed(error, 'now_ts', 'at') from None
        return {'at': now, 'closed': refs(result.closed),
                'failed': refs(result.failed),
                'expired': refs(result.expired),
                'changed': len(result.changed), 'withoutGoals': without}
    return units.write(request.app, work, response, create=False)


def renamed(error, internal, public):
    """``error`` (a ValueError or TypeError of the library) with its
    message naming ``public``, what the caller gave, for ``internal``,
    the library's parameter that received it."""
    message = str(error)
    if message.startswith(internal + ' '):
        return type(error)(public + message[len(internal):])
    return error


@router.get('/templates', response_model=list[TrackerOut],
            **AS_GIVEN,
            dependencies=[Depends(reader)], responses=ERRORS)
def task_templates(request: Request, taskId: str,
                   userName: Optional[str] = None):
    """The task's goal templates; with ``userName``, that user's copies
    with their progress."""
    def work(storage):
        if userName is None:
            return [tracker_to_json(t)
                    for t in storage.goals.task_goals(taskId)]
        return [tracker_to_json(t) for t in storage.goals.user_task_goals(
            taskId, userName, include_completed=True)]
    return units.read(request.app, work)


@router.post('/templates', status_code=201, response_model=TrackerOut,
             **AS_GIVEN,
             dependencies=[Depends(writer)], responses=CONFLICT)
def add_template(tracker: TrackerIn, request: Request, taskId: str):
    """Make a tracker a template of the task: each user of the task gets a
    copy with their next track."""
    def work(storage):
        made = _definition(tracker, storage)
        if any(t.name == made.name for t in storage.goals.task_goals(taskId)):
            raise HTTPException(409, 'task %s has a goal template %s already'
                                % (as_json(taskId), as_json(made.name)))
        storage.goals.add_task_goal(taskId, made)
        return tracker_to_json(made)
    return units.write(request.app, work)


@router.delete('/templates', response_model=TrackerOut,
               **AS_GIVEN,
               dependencies=[Depends(writer)], responses=ERRORS)
def remove_template(request: Request, taskId: str, name: str):
    """Remove a template (the users' copies stay)."""
    def work(storage):
        removed = storage.goals.remove_task_goal(taskId, name)
        if removed is None:
            raise KeyError('task %s has no goal template %s%s'
                           % (as_json(taskId), as_json(name), did_you_mean(
                               name, [t.name for t in
                                      storage.goals.task_goals(taskId)])))
        return tracker_to_json(removed)
    return units.write(request.app, work)

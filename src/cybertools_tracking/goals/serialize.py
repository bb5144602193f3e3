"""JSON forms of conditions, limiters, trackers and goal events.

What an HTTP API, the outbox and the command line exchange: plain JSON
objects with a ``type`` naming the class. ``condition_from_json`` and
``tracker_from_json`` rebuild what ``condition_to_json`` and
``tracker_to_json`` wrote (a tracker's definition; its progress is state
and is shown, not restored), so a definition round-trips::

    {"type": "CountTracker", "name": "ten-pages", "target": [5, 10],
     "conditions": [{"type": "KeyValueGE", "key": "score", "value": 50}],
     "limiters": [{"type": "CountLimiter", "count": 20}]}

Numbers that JSON has no word for (Decimal, Fraction progress and
targets) are written as strings; condition values must be JSON values.
Errors: ``ValueError`` or ``TypeError`` naming the bad part and what was
expected, raised before anything is built.
"""

import decimal
import fractions

from cybertools_tracking.goals import conditions as _conditions
from cybertools_tracking.goals.events import LimitedTrackerEvent
from cybertools_tracking.goals.interfaces import ICondition
from cybertools_tracking.goals.limiters import CountLimiter, TimeLimiter
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker
from cybertools_tracking.goals.trackers import ResetPolicy

__all__ = ['condition_to_json', 'condition_from_json', 'limiter_to_json',
           'limiter_from_json', 'tracker_to_json', 'tracker_from_json',
           'event_to_json', 'EVENT_TYPES']

#: Outbox types of dictrack's event codes.
EVENT_TYPES = {1001: 'goal.tracker_added', 1002: 'goal.stage_completed',
               1003: 'goal.all_completed', 1004: 'goal.reset',
               1005: 'goal.limited', 1011: 'goal.period_closed',
               1012: 'goal.tracker_failed', 1013: 'goal.tracker_expired'}

# Conditions by what their JSON object holds besides "type".
_KEY_ONLY = ('KeyExists', 'KeyNotExists')
_KEY_VALUE = ('KeyValueEQ', 'KeyValueNE', 'KeyValueLT', 'KeyValueLE',
              'KeyValueGT', 'KeyValueGE', 'KeyValueInList',
              'KeyValueNotInList', 'KeyValueListHasItem',
              'KeyValueListHasNotItem')
_CONTAINED = ('KeyValueContained', 'KeyValueNotContained')
_COMBINED = ('All', 'Any')
_CONDITIONS = _KEY_ONLY + _KEY_VALUE + _CONTAINED + _COMBINED + (
    'KeyValueComparison', 'Not')
_TRACKERS = {'CountTracker': CountTracker,
             'AccumulationTracker': AccumulationTracker}
_LIMITERS = ('CountLimiter', 'TimeLimiter')


def _number(value):
    if isinstance(value, (decimal.Decimal, fractions.Fraction)):
        return str(value)
    return value


def condition_to_json(condition):
    """A condition as a JSON object; TypeError for a condition of a class
    this module does not know."""
    kind = type(condition).__name__
    if kind not in _CONDITIONS or not ICondition.providedBy(condition):
        raise TypeError('no JSON form for the condition %r; expected one of '
                        '%s' % (condition, ', '.join(_CONDITIONS)))
    if kind in _COMBINED:
        return {'type': kind, 'conditions': [
            condition_to_json(c) for c in condition.conditions]}
    if kind == 'Not':
        return {'type': kind,
                'condition': condition_to_json(condition.condition)}
    result = {'type': kind, 'key': condition.key}
    if kind in _KEY_ONLY:
        return result
    value = condition.value
    result['value'] = list(value) if isinstance(value, tuple) else value
    if kind == 'KeyValueComparison':
        result['op'] = condition.op
    elif kind in _CONTAINED:
        result['case_sensitive'] = condition.case_sensitive
    return result


def _object(what, obj, types):
    if not isinstance(obj, dict):
        raise TypeError('%s must be a JSON object, got %r' % (what, obj))
    kind = obj.get('type')
    if kind not in types:
        raise ValueError('%s: "type" must be one of %s, got %r'
                         % (what, ', '.join(types), kind))
    return kind


def _fields(what, obj, required, optional=()):
    unknown = set(obj) - {'type'} - set(required) - set(optional)
    if unknown:
        raise ValueError('%s %s: unknown field(s) %s; expected %s'
                         % (obj['type'], what, ', '.join(sorted(unknown)),
                            ', '.join(tuple(required) + tuple(optional))))
    missing = [name for name in required if name not in obj]
    if missing:
        raise ValueError('%s %s: missing field(s) %s'
                         % (obj['type'], what, ', '.join(missing)))


def condition_from_json(obj):
    """The condition a JSON object describes (``condition_to_json``'s
    form); ValueError or TypeError naming what is wrong."""
    kind = _object('a condition', obj, _CONDITIONS)
    cls = getattr(_conditions, kind)
    if kind in _COMBINED:
        _fields('condition', obj, ('conditions',))
        if not isinstance(obj['conditions'], list):
            raise TypeError('%s: "conditions" must be a list, got %r'
                            % (kind, obj['conditions']))
        return cls(*[condition_from_json(c) for c in obj['conditions']])
    if kind == 'Not':
        _fields('condition', obj, ('condition',))
        return cls(condition_from_json(obj['condition']))
    if kind in _KEY_ONLY:
        _fields('condition', obj, ('key',))
        return cls(obj['key'])
    if kind == 'KeyValueComparison':
        _fields('condition', obj, ('key', 'value'), ('op',))
        return cls(obj['key'], obj['value'], obj.get('op', 'eq'))
    if kind in _CONTAINED:
        _fields('condition', obj, ('key', 'value'), ('case_sensitive',))
        return cls(obj['key'], obj['value'], obj.get('case_sensitive', True))
    _fields('condition', obj, ('key', 'value'))
    return cls(obj['key'], obj['value'])


def limiter_to_json(limiter):
    """A limiter as a JSON object, with its state (``remaining``)."""
    if isinstance(limiter, CountLimiter):
        return {'type': 'CountLimiter', 'count': limiter.count,
                'remaining': limiter.remaining}
    if isinstance(limiter, TimeLimiter):
        return {'type': 'TimeLimiter', 'start': limiter.start,
                'end': limiter.end}
    # Other limiters (sliding window, deadline) have no definition form
    # here yet: named, with their repr, so an event never fails to be
    # written; limiter_from_json refuses them.
    return {'type': type(limiter).__name__, 'repr': repr(limiter)}


def limiter_from_json(obj):
    """A new limiter from its JSON object: ``{"type": "CountLimiter",
    "count": N}`` or ``{"type": "TimeLimiter", "start": TS, "end": TS}``
    (or ``"interval"`` seconds instead of ``"end"``); state is not
    restored."""
    kind = _object('a limiter', obj, _LIMITERS)
    if kind == 'CountLimiter':
        _fields('limiter', obj, ('count',), ('remaining',))
        return CountLimiter(obj['count'])
    _fields('limiter', obj, (), ('start', 'end', 'interval'))
    return TimeLimiter(start_ts=obj.get('start'), end_ts=obj.get('end'),
                       interval=obj.get('interval'))


def tracker_to_json(tracker):
    """A tracker (or its snapshot) as a JSON object: its definition
    (``type``, ``name``, ``group_id``, ``conditions``, ``target`` as the
    list of stage targets, ``key`` for accumulation, ``limiters``,
    ``reset_policy`` as an int, ``loop_forever``, ``init_progress``) and
    its state (``progress``, ``stage_target``, ``stage``, ``laps``,
    ``state``, ``completed_at``, ``expire_at``)."""
    snapshot = tracker.snapshot() if hasattr(tracker, 'snapshot') else tracker
    result = {'type': snapshot.kind, 'name': snapshot.name,
              'group_id': snapshot.group_id,
              'conditions': [condition_to_json(c)
                             for c in snapshot.conditions],
              'target': [_number(t) for t in snapshot.targets],
              'limiters': [limiter_to_json(lim) for lim in snapshot.limiters],
              'reset_policy': int(snapshot.reset_policy),
              'loop_forever': snapshot.loop_forever,
              'init_progress': _number(snapshot.init_progress),
              'progress': _number(snapshot.progress),
              'stage_target': _number(snapshot.target),
              'stage': snapshot.current_stage, 'laps': snapshot.laps,
              'state': snapshot.state,
              'completed_at': snapshot.completed_at,
              'expire_at': snapshot.expire_at}
    if snapshot.key is not None:
        result['key'] = snapshot.key
    return result


_DEFINITION = ('name', 'conditions', 'target')
_OPTIONAL = ('key', 'group_id', 'limiters', 'reset_policy', 'loop_forever',
             'init_progress')
_STATE = ('progress', 'stage_target', 'stage', 'laps', 'state',
          'completed_at', 'expire_at')


def tracker_from_json(obj):
    """A new tracker from its JSON object (the definition part of
    ``tracker_to_json``'s form; state fields are accepted and ignored).
    ``target`` is a number or a list of stage targets; ``key`` is needed
    by an AccumulationTracker and refused by a CountTracker."""
    kind = _object('a tracker', obj, tuple(_TRACKERS))
    _fields('tracker', obj, _DEFINITION, _OPTIONAL + _STATE)
    if kind == 'CountTracker' and 'key' in obj:
        raise ValueError('CountTracker tracker: "key" is for an '
                         'AccumulationTracker (a CountTracker counts items)')
    if kind == 'AccumulationTracker' and 'key' not in obj:
        raise ValueError('AccumulationTracker tracker: missing field(s) key')
    for name in ('conditions', 'limiters'):
        if not isinstance(obj.get(name, []), list):
            raise TypeError('%s tracker: "%s" must be a list, got %r'
                            % (kind, name, obj[name]))
    target = obj['target']
    if isinstance(target, list):
        target = tuple(target)
    try:
        policy = ResetPolicy(obj.get('reset_policy', int(ResetPolicy.DEFAULT)))
    except ValueError:
        raise ValueError('%s tracker: "reset_policy" must be 0 to 3 (none, '
                         'progress, limiter, all), got %r'
                         % (kind, obj['reset_policy'])) from None
    options = dict(
        conditions=[condition_from_json(c) for c in obj['conditions']],
        limiters=[limiter_from_json(lim) for lim in obj.get('limiters', [])],
        group_id=obj.get('group_id'), reset_policy=policy,
        loop_forever=obj.get('loop_forever', False),
        init_progress=obj.get('init_progress', 0))
    if kind == 'AccumulationTracker':
        options['key'] = obj['key']
    return _TRACKERS[kind](obj['name'], target=target, **options)


def event_to_json(event):
    """A goal event as a JSON object: ``code`` (dictrack's), ``type``
    (``EVENT_TYPES``), ``group_id``, ``name``, ``timestamp``, ``tracker``
    (``tracker_to_json`` of its snapshot) and, for a limited tracker,
    ``limiter``."""
    result = {'code': event.code, 'type': EVENT_TYPES[event.code],
              'group_id': event.group_id, 'name': event.name,
              'timestamp': event.timestamp,
              'tracker': tracker_to_json(event.tracker)}
    if isinstance(event, LimitedTrackerEvent) and event.limiter is not None:
        result['limiter'] = limiter_to_json(event.limiter)
    return result

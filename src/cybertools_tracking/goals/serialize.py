"""JSON forms of conditions, limiters, trackers and goal events.

What an HTTP API, the outbox and the command line exchange: plain JSON
objects with a ``type`` naming the class.  ``condition_from_json``,
``limiter_from_json`` and ``tracker_from_json`` rebuild what the matching
``*_to_json`` wrote.  A tracker's JSON holds its definition and its state
(progress, stage ...); reading takes the definition and accepts and ignores
the state, so a definition round-trips (also from a snapshot, as events
carry)::

    {"type": "CountTracker", "name": "ten-pages", "target": [5, 10],
     "conditions": [{"type": "KeyValueGE", "key": "score", "value": 50}],
     "limiters": [{"type": "CountLimiter", "count": 20}]}

Every tracker has ``type``, ``name``, ``group_id``, ``conditions``,
``target`` (the list of stage targets; a number is read as one stage),
``limiters``, ``reset_policy`` (an int: 0 none, 1 progress, 2 limiter, 3
all), ``loop_forever`` and ``init_progress``; its state is ``progress``,
``stage_target``, ``stage``, ``laps``, ``state`` (active, limited,
completed, removed), ``completed_at`` and ``expire_at`` (seconds UTC).
The kinds add (state in brackets):

``CountTracker``
    nothing.
``AccumulationTracker``
    ``key``, the dotted path of the amount.
``WindowTracker``
    ``window`` in seconds (at least ``target`` items within it);
    [``times``, ``latest``].
``PeriodTracker``, ``PeriodAccumulationTracker`` (this one with ``key``)
    ``period`` (daily, weekly, monthly), ``tz`` (an IANA name),
    ``streak_target`` (null: never completes), ``keep_history``;
    [``period_key``, ``period_start``, ``period_end``, ``met``,
    ``longest_streak``].
``SequenceTracker``
    ``steps`` (a list of conditions, met in that order), ``max_gap``
    (seconds or null), ``per`` (a dotted key or null); [``partials``, as
    ``[value, next step, time of the last step]`` triples].
``CompositeTracker`` (``all_of``, ``any_of``, ``n_of``, ``rollup``)
    ``measure`` (completed or progress), ``components`` as
    ``{"group_id": G, "name": N}`` references, ``target`` null for "all
    components"; ``conditions`` and ``limiters`` are empty and
    ``reset_policy`` is 0.  Reading one needs ``resolve(group_id, name)``,
    which returns the component tracker (or None: an error).

Trackers without ``init_progress`` (window, sequence, composite) write 0
and refuse another value; composites refuse conditions, limiters, a reset
policy and ``loop_forever``.

Limiters (state in brackets):

``CountLimiter``
    ``count``, ``weight`` (written when not 1); [``remaining``].
``TimeLimiter``
    ``start``, ``end`` (seconds UTC; reading also takes ``interval``
    seconds instead of ``end``).
``SlidingWindowLimiter``
    ``count``, ``window`` (seconds), ``weight`` (when not 1); [``hits``, as
    ``[time, weight]`` pairs].
``DeadlineLimiter``
    ``deadline`` (seconds UTC).

Writing takes any tracker or limiter, so that an event about one of a
class of one's own is still written: a subclass of a kind in that kind's
form under its own name, a limiter of an unknown class as ``{"type":
NAME, "repr": REPR}``.  Reading takes the kinds of ``TRACKER_TYPES``,
``LIMITER_TYPES`` and ``CONDITION_TYPES`` only.

Numbers that JSON has no word for (Decimal, Fraction targets and progress)
are written as strings and targets read back from them ("1/3" a Fraction,
else a Decimal); condition values must be JSON values.  Errors:
``ValueError`` or ``TypeError`` naming the bad part and what was expected,
raised before anything is built (the constructors' own checks run last, and
their message is given with the kind in front).
"""

import decimal
import fractions

from cybertools_tracking.goals import conditions as _conditions
from cybertools_tracking.goals.composite import CompositeTracker
from cybertools_tracking.goals.composite import MEASURES
from cybertools_tracking.goals.composite import SequenceTracker
from cybertools_tracking.goals.events import LimitedTrackerEvent
from cybertools_tracking.goals.events import PeriodClosedEvent
from cybertools_tracking.goals.interfaces import ICondition
from cybertools_tracking.goals.limiters import CountLimiter, TimeLimiter
from cybertools_tracking.goals.limiters import DeadlineLimiter
from cybertools_tracking.goals.limiters import SlidingWindowLimiter
from cybertools_tracking.goals.periods import PeriodAccumulationTracker
from cybertools_tracking.goals.periods import PeriodTracker
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker
from cybertools_tracking.goals.trackers import ResetPolicy
from cybertools_tracking.goals.windows import WindowTracker

__all__ = ['condition_to_json', 'condition_from_json', 'limiter_to_json',
           'limiter_from_json', 'tracker_to_json', 'tracker_from_json',
           'event_to_json', 'EVENT_TYPES', 'TRACKER_TYPES', 'LIMITER_TYPES',
           'CONDITION_TYPES']

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
_TRACKERS = {cls.__name__: cls for cls in (
    CountTracker, AccumulationTracker, WindowTracker, PeriodTracker,
    PeriodAccumulationTracker, SequenceTracker, CompositeTracker)}
_LIMITERS = {cls.__name__: cls for cls in (
    CountLimiter, TimeLimiter, SlidingWindowLimiter, DeadlineLimiter)}
#: The ``type`` names each reader takes.
CONDITION_TYPES = _CONDITIONS
LIMITER_TYPES = tuple(_LIMITERS)
TRACKER_TYPES = tuple(_TRACKERS)


def _number(value):
    if isinstance(value, (decimal.Decimal, fractions.Fraction)):
        return str(value)
    return value


def _read_number(value):
    """A target or init_progress as written by ``_number``."""
    if not isinstance(value, str):
        return value
    try:
        if '/' in value:
            return fractions.Fraction(value)
        return decimal.Decimal(value)
    except (ValueError, ArithmeticError):
        raise ValueError('a number written as a string must be a Decimal '
                         '("2.50") or a Fraction ("1/3"), got %r'
                         % (value,)) from None


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
    """A limiter as a JSON object: its definition and its state (see the
    module docstring).  Any limiter is written (an event must never fail
    to be): one of another class in the form of the class it derives from,
    under its own name, or else as ``{"type": NAME, "repr": REPR}``;
    ``limiter_from_json`` reads only the classes of ``LIMITER_TYPES``."""
    kind = type(limiter).__name__
    if isinstance(limiter, TimeLimiter):
        return {'type': kind, 'start': limiter.start, 'end': limiter.end}
    if isinstance(limiter, DeadlineLimiter):
        return {'type': kind, 'deadline': limiter.deadline}
    if not isinstance(limiter, (CountLimiter, SlidingWindowLimiter)):
        return {'type': kind, 'repr': repr(limiter)}
    result = {'type': kind, 'count': limiter.count}
    if isinstance(limiter, SlidingWindowLimiter):
        result['window'] = limiter.window
    if limiter.weight != 1:
        result['weight'] = limiter.weight
    if isinstance(limiter, CountLimiter):
        result['remaining'] = limiter.remaining
    else:
        result['hits'] = [list(hit) for hit in limiter.hits]
    return result


def _build(what, kind, make):
    """Call *make*; the constructor's own error, with *kind* in front."""
    try:
        return make()
    except (TypeError, ValueError) as error:
        raise type(error)('%s %s: %s' % (kind, what, error)) from None


def limiter_from_json(obj):
    """A new limiter from its JSON object (``limiter_to_json``'s form);
    state (``remaining``, ``hits``) is accepted and not restored."""
    kind = _object('a limiter', obj, tuple(_LIMITERS))
    if kind == 'CountLimiter':
        _fields('limiter', obj, ('count',), ('weight', 'remaining'))
        return _build('limiter', kind, lambda: CountLimiter(
            obj['count'], weight=obj.get('weight', 1)))
    if kind == 'SlidingWindowLimiter':
        _fields('limiter', obj, ('count', 'window'), ('weight', 'hits'))
        return _build('limiter', kind, lambda: SlidingWindowLimiter(
            obj['count'], obj['window'], weight=obj.get('weight', 1)))
    if kind == 'DeadlineLimiter':
        _fields('limiter', obj, ('deadline',))
        return _build('limiter', kind,
                      lambda: DeadlineLimiter(obj['deadline']))
    _fields('limiter', obj, (), ('start', 'end', 'interval'))
    return _build('limiter', kind, lambda: TimeLimiter(
        start_ts=obj.get('start'), end_ts=obj.get('end'),
        interval=obj.get('interval')))


# What each kind of tracker adds to the common fields: (definition fields,
# of which required, state fields).
_KIND_FIELDS = {
    'CountTracker': ((), (), ()),
    'AccumulationTracker': (('key',), ('key',), ()),
    'WindowTracker': (('window',), ('window',), ('times', 'latest')),
    'PeriodTracker': (
        ('period', 'tz', 'streak_target', 'keep_history'), (),
        ('period_key', 'period_start', 'period_end', 'met',
         'longest_streak')),
    'SequenceTracker': (('steps', 'max_gap', 'per'), ('steps',),
                        ('partials',)),
    'CompositeTracker': (('measure', 'components'), ('components',), ()),
}
_KIND_FIELDS['PeriodAccumulationTracker'] = (
    ('key',) + _KIND_FIELDS['PeriodTracker'][0], ('key',),
    _KIND_FIELDS['PeriodTracker'][2])
# Kinds whose constructor takes no init_progress: they count from 0.
_NO_INIT = ('WindowTracker', 'SequenceTracker', 'CompositeTracker')


def _kind_fields(snapshot):
    """The definition and state a tracker's kind adds, read from its
    snapshot, which carries the settings the tracker has (a subclass of a
    kind has them too; see ``TrackerSnapshot``)."""
    result = {}
    if snapshot.key is not None:
        result['key'] = snapshot.key
    if hasattr(snapshot, 'window'):
        result.update(window=snapshot.window, times=list(snapshot.times),
                      latest=snapshot.latest)
    if hasattr(snapshot, 'calendar'):
        period = snapshot.period
        result.update(
            period=snapshot.calendar.period, tz=snapshot.calendar.tz,
            streak_target=snapshot.streak_target,
            keep_history=snapshot.keep_history,
            period_key=None if period is None else period.key,
            period_start=None if period is None else period.start,
            period_end=None if period is None else period.end,
            met=snapshot.met, longest_streak=snapshot.longest_streak)
    if hasattr(snapshot, 'steps'):
        result.update(
            steps=[condition_to_json(step) for step in snapshot.steps],
            max_gap=snapshot.max_gap, per=snapshot.per,
            partials=[[value, step, last] for value, (step, last)
                      in sorted(snapshot.partials.items(), key=repr)])
    if hasattr(snapshot, 'components'):
        result.update(measure=snapshot.measure, components=[
            {'group_id': group, 'name': name}
            for group, name in snapshot.components])
        if snapshot.all_components:
            result['target'] = None
    return result


def tracker_to_json(tracker):
    """A tracker (or its snapshot) as a JSON object: its definition and its
    state, in the form the module docstring gives for its kind.  Any
    tracker is written (a subclass of a kind in that kind's form, under its
    own name); ``tracker_from_json`` reads the kinds of ``TRACKER_TYPES``.
    """
    snapshot = tracker.snapshot() if hasattr(tracker, 'snapshot') else tracker
    kind = snapshot.kind
    result = {'type': kind, 'name': snapshot.name,
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
    result.update(_kind_fields(snapshot))
    return result


_DEFINITION = ('name', 'target')
_OPTIONAL = ('conditions', 'group_id', 'limiters', 'reset_policy',
             'loop_forever', 'init_progress')
_STATE = ('progress', 'stage_target', 'stage', 'laps', 'state',
          'completed_at', 'expire_at')
_TYPES = {'name': str, 'group_id': (str, type(None)), 'conditions': list,
          'limiters': list, 'steps': list, 'components': list,
          'loop_forever': bool, 'keep_history': bool,
          'key': str, 'per': (str, type(None)), 'period': str, 'tz': str,
          'measure': str}
_TYPE_WORDS = {str: 'a string', list: 'a list', bool: 'true or false',
               (str, type(None)): 'a string or null'}


def _check_types(kind, obj):
    for name, expected in _TYPES.items():
        if name in obj and not isinstance(obj[name], expected):
            raise TypeError('%s tracker: "%s" must be %s, got %r' % (
                kind, name, _TYPE_WORDS[expected], obj[name]))


def _common(kind, obj):
    """The checked common options of a tracker (its conditions and limiters
    built), before the tracker is."""
    policy = obj.get('reset_policy', int(ResetPolicy.DEFAULT))
    if isinstance(policy, bool) or policy not in (0, 1, 2, 3):
        raise ValueError('%s tracker: "reset_policy" must be 0 to 3 (none, '
                         'progress, limiter, all), got %r' % (kind, policy))
    return dict(
        conditions=[condition_from_json(c) for c in obj.get('conditions', [])],
        limiters=[limiter_from_json(lim) for lim in obj.get('limiters', [])],
        group_id=obj.get('group_id'), reset_policy=ResetPolicy(policy),
        loop_forever=obj.get('loop_forever', False))


def _target(kind, obj):
    target = obj['target']
    if isinstance(target, list):
        return tuple(_read_number(t) for t in target)
    if target is None and kind != 'CompositeTracker':
        raise ValueError('%s tracker: "target" must be a number or a list of '
                         'stage targets, got null' % kind)
    return _read_number(target)


def _composite_options(obj, resolve):
    """A composite's measure and component trackers, found by *resolve*."""
    for name, empty in (('conditions', []), ('limiters', []),
                        ('reset_policy', 0), ('loop_forever', False)):
        if obj.get(name, empty) != empty:
            raise ValueError('CompositeTracker tracker: "%s" must be %r (a '
                             'composite follows its components), got %r'
                             % (name, empty, obj[name]))
    measure = obj.get('measure', 'completed')
    if measure not in MEASURES:
        raise ValueError('CompositeTracker tracker: "measure" must be one of '
                         '%s, got %r' % (', '.join(MEASURES), measure))
    refs = obj['components']
    for ref in refs:
        if not (isinstance(ref, dict) and set(ref) == {'group_id', 'name'}):
            raise ValueError('CompositeTracker tracker: each of "components" '
                             'must be {"group_id": G, "name": N}, got %r'
                             % (ref,))
    if resolve is None:
        raise ValueError('CompositeTracker tracker: its "components" are '
                         'trackers elsewhere; reading one needs resolve('
                         'group_id, name)')
    found = []
    for ref in refs:
        component = resolve(ref['group_id'], ref['name'])
        if component is None:
            raise ValueError('CompositeTracker tracker: "components" names '
                             'no tracker %r in group %r'
                             % (ref['name'], ref['group_id']))
        found.append(component)
    return dict(measure=measure, group_id=obj.get('group_id')), found


def tracker_from_json(obj, resolve=None):
    """A new tracker from its JSON object (the definition part of
    ``tracker_to_json``'s form; state fields are accepted and ignored).

    ``target`` is a number or a list of stage targets.  *resolve*
    ``(group_id, name) -> tracker or None`` finds the components of a
    ``CompositeTracker``; other kinds do not need it.  Raises ValueError or
    TypeError naming the field, before anything is built.
    """
    kind = _object('a tracker', obj, tuple(_TRACKERS))
    fields, required, state = _KIND_FIELDS[kind]
    if 'key' in obj and 'key' not in fields:
        raise ValueError('%s tracker: "key" is for an AccumulationTracker '
                         'or a PeriodAccumulationTracker (a %s counts items)'
                         % (kind, kind))
    # Conditions are required as they always were, except by composites,
    # which have none.
    if kind != 'CompositeTracker':
        required = ('conditions',) + required
    _fields('tracker', obj, _DEFINITION + required,
            _OPTIONAL + fields + _STATE + state)
    _check_types(kind, obj)
    target = _target(kind, obj)
    if kind in _NO_INIT:
        if _read_number(obj.get('init_progress', 0)) != 0:
            raise ValueError('%s tracker: "init_progress" must be 0 (it '
                             'counts from nothing), got %r'
                             % (kind, obj['init_progress']))
    if kind == 'CompositeTracker':
        options, components = _composite_options(obj, resolve)
        return _build('tracker', kind, lambda: CompositeTracker(
            obj['name'], components, target, **options))
    options = _common(kind, obj)
    if kind not in _NO_INIT:
        options['init_progress'] = _read_number(obj.get('init_progress', 0))
    extra = {name: obj[name] for name in fields
             if name in obj and name != 'steps'}
    if kind == 'SequenceTracker':
        extra['steps'] = [condition_from_json(c) for c in obj['steps']]
    cls = _TRACKERS[kind]
    return _build('tracker', kind, lambda: cls(
        obj['name'], target=target, **options, **extra))

def event_to_json(event):
    """A goal event as a JSON object: ``code`` (dictrack's), ``type``
    (``EVENT_TYPES``), ``group_id``, ``name``, ``timestamp``, ``tracker``
    (``tracker_to_json`` of its snapshot) and, for a limited tracker,
    ``limiter`` and, for a closed period, ``period`` (``key``, ``start``,
    ``end``, ``progress``, ``target``, ``met_at``)."""
    result = {'code': event.code, 'type': EVENT_TYPES[event.code],
              'group_id': event.group_id, 'name': event.name,
              'timestamp': event.timestamp,
              'tracker': tracker_to_json(event.tracker)}
    if isinstance(event, LimitedTrackerEvent) and event.limiter is not None:
        result['limiter'] = limiter_to_json(event.limiter)
    if isinstance(event, PeriodClosedEvent):
        period = event.period._asdict()
        period['progress'] = _number(period['progress'])
        period['target'] = _number(period['target'])
        result['period'] = period
    return result

"""JSON forms of conditions, limiters and trackers round-trip."""

import json
from decimal import Decimal
from fractions import Fraction

import pytest

from cybertools_tracking.goals import All, Any, CountLimiter, CountTracker
from cybertools_tracking.goals import AccumulationTracker, KeyExists
from cybertools_tracking.goals import KeyValueContained, KeyValueGE
from cybertools_tracking.goals import KeyValueInList, Not, TimeLimiter
from cybertools_tracking.goals.conditions import KeyValueComparison
from cybertools_tracking.goals.serialize import condition_from_json
from cybertools_tracking.goals.serialize import condition_to_json
from cybertools_tracking.goals.serialize import tracker_from_json
from cybertools_tracking.goals.serialize import tracker_to_json

CONDITIONS = [
    KeyExists('a.b'), KeyValueGE('score', 50), KeyValueInList('x', [1, 'y']),
    KeyValueContained('name', 'Ann', case_sensitive=False),
    KeyValueComparison('n', 3, 'lt'),
    All(KeyExists('a'), Any(KeyValueGE('b', 1), Not(KeyExists('c')))),
]


@pytest.mark.parametrize('condition', CONDITIONS)
def test_conditions_round_trip_through_json_text(condition):
    text = json.dumps(condition_to_json(condition))
    assert condition_from_json(json.loads(text)) == condition


def test_trackers_round_trip_with_their_state_shown():
    tracker = AccumulationTracker(
        name='minutes', key='data.duration', target=[60, 120],
        conditions=[KeyValueGE('data.score', 50)],
        limiters=[CountLimiter(10), TimeLimiter(start_ts=0, end_ts=100)],
        loop_forever=True)
    tracker.track({'data': {'duration': 30, 'score': 70}}, now_ts=50)
    shown = json.loads(json.dumps(tracker_to_json(tracker)))
    assert shown['progress'] == 30 and shown['state'] == 'active'
    assert shown['limiters'][0] == {'type': 'CountLimiter', 'count': 10,
                                    'remaining': 9}
    again = tracker_from_json(shown)
    copy = tracker_to_json(again)
    assert copy['progress'] == 0            # a definition, not the state
    for name in ('type', 'name', 'key', 'conditions', 'target',
                 'loop_forever', 'reset_policy'):
        assert copy[name] == shown[name]
    assert copy['limiters'][1] == shown['limiters'][1]


@pytest.mark.parametrize('obj, error, words', [
    ([], TypeError, 'JSON object'),
    ({'type': 'Nope'}, ValueError, 'must be one of'),
    ({'type': 'CountTracker', 'name': 'x', 'conditions': []}, ValueError,
     'missing field(s) target'),
    ({'type': 'CountTracker', 'name': 'x', 'conditions': [], 'target': 1,
      'key': 'k'}, ValueError, 'AccumulationTracker'),
    ({'type': 'CountTracker', 'name': 'x', 'conditions': [], 'target': 1,
      'colour': 'red'}, ValueError, 'unknown field(s) colour'),
    ({'type': 'CountTracker', 'name': 'x', 'target': 1,
      'conditions': [{'type': 'KeyValueGE', 'key': 'a'}]}, ValueError,
     'missing field(s) value'),
])
def test_bad_definitions_are_named(obj, error, words):
    with pytest.raises(error) as raised:
        tracker_from_json(obj)
    assert words in str(raised.value)


def test_count_tracker_from_json_counts():
    tracker = tracker_from_json({'type': 'CountTracker', 'name': 'three',
                                 'target': 3, 'conditions': []})
    assert isinstance(tracker, CountTracker) and tracker.target == 3


# -- every public class of the goal layer has a JSON form ----------------------

import cybertools_tracking.goals as goals  # noqa: E402
from cybertools_tracking.goals.conditions import Condition  # noqa: E402
from cybertools_tracking.goals.interfaces import ILimiter  # noqa: E402
from cybertools_tracking.goals.interfaces import ITracker  # noqa: E402
from cybertools_tracking.goals.serialize import limiter_from_json  # noqa
from cybertools_tracking.goals.serialize import limiter_to_json  # noqa: E402

T0 = 1_700_000_000
EQ = goals.KeyValueEQ('taskId', 'lesson')
COMPONENTS = {('ann', 'a'): goals.CountTracker('a', [], 1, group_id='ann'),
              ('bob', 'b'): goals.CountTracker('b', [], 2, group_id='bob')}


def resolve(group_id, name):
    return COMPONENTS.get((group_id, name))


def _components():
    return list(COMPONENTS.values())


# One example per public class (factories for CompositeTracker, which has
# several faces).  A class exported by cybertools_tracking.goals and missing
# here fails test_every_public_class_has_an_example.
EXAMPLES = {
    'KeyExists': lambda: goals.KeyExists('a.b'),
    'KeyNotExists': lambda: goals.KeyNotExists('a.-1'),
    'KeyValueEQ': lambda: EQ,
    'KeyValueNE': lambda: goals.KeyValueNE('x', None),
    'KeyValueLT': lambda: goals.KeyValueLT('x', 3.5),
    'KeyValueLE': lambda: goals.KeyValueLE('x', 3),
    'KeyValueGT': lambda: goals.KeyValueGT('x', 'b'),
    'KeyValueGE': lambda: goals.KeyValueGE('x', 0),
    'KeyValueContained': lambda: goals.KeyValueContained(
        'name', 'ann', case_sensitive=False),
    'KeyValueNotContained': lambda: goals.KeyValueNotContained('n', 'x'),
    'KeyValueInList': lambda: goals.KeyValueInList('x', [1, 'y', None]),
    'KeyValueNotInList': lambda: goals.KeyValueNotInList('x', [2]),
    'KeyValueListHasItem': lambda: goals.KeyValueListHasItem('tags', 'a'),
    'KeyValueListHasNotItem': lambda: goals.KeyValueListHasNotItem('t', 1),
    'All': lambda: goals.All(EQ, goals.Any(goals.KeyExists('a'),
                                           goals.Not(goals.KeyExists('b')))),
    'Any': lambda: goals.Any(EQ),
    'Not': lambda: goals.Not(EQ),
    'CountLimiter': lambda: goals.CountLimiter(5, weight=2),
    'TimeLimiter': lambda: goals.TimeLimiter(start_ts=T0, end_ts=T0 + 60),
    'SlidingWindowLimiter': lambda: goals.SlidingWindowLimiter(3, 3600,
                                                               weight=2),
    'DeadlineLimiter': lambda: goals.DeadlineLimiter(T0 + 86400),
    'CountTracker': lambda: goals.CountTracker(
        'count', [EQ], [2, 3], limiters=[goals.CountLimiter(9)],
        loop_forever=True, init_progress=1, group_id='ann'),
    'AccumulationTracker': lambda: goals.AccumulationTracker(
        'minutes', [EQ], [Decimal('2.5'), Decimal(10)],
        'data.minutes', reset_policy=goals.ResetPolicy.ALL),
    'WindowTracker': lambda: goals.WindowTracker(
        'three-a-day', [EQ], [2, 3], 86400,
        limiters=[goals.SlidingWindowLimiter(10, 3600)]),
    'PeriodTracker': lambda: goals.PeriodTracker(
        'daily', [EQ], 2, period='weekly', tz='Europe/Berlin',
        streak_target=4, keep_history=False,
        limiters=[goals.DeadlineLimiter(T0)]),
    'PeriodAccumulationTracker': lambda: goals.PeriodAccumulationTracker(
        'minutes-a-month', [], Fraction(1, 3), 'minutes', period='monthly'),
    'SequenceTracker': lambda: goals.SequenceTracker(
        'a-then-b', [EQ, [goals.KeyExists('b'), goals.KeyValueGE('s', 1)]],
        target=2, conditions=[goals.KeyExists('taskId')], max_gap=600,
        per='runId'),
    'CompositeTracker': lambda: goals.CompositeTracker(
        'two-of', _components(), 2),
    'all_of': lambda: goals.all_of('all', _components(), group_id='team'),
    'any_of': lambda: goals.any_of('any', _components()),
    'n_of': lambda: goals.n_of('n', 1, _components()),
    'rollup': lambda: goals.rollup('sum', _components(), [2, 5]),
}


def public_classes():
    """The trackers, limiters and conditions cybertools_tracking.goals
    exports (and the factories of composites)."""
    found = []
    for name in goals.__all__:
        obj = getattr(goals, name)
        if isinstance(obj, type) and (
                issubclass(obj, Condition) or ITracker.implementedBy(obj)
                or ILimiter.implementedBy(obj)):
            found.append(name)
        elif name in ('all_of', 'any_of', 'n_of', 'rollup'):
            found.append(name)
    return found


def test_every_public_class_has_an_example():
    missing = set(public_classes()) - set(EXAMPLES)
    assert not missing, (
        'no JSON round-trip example for %s: add a JSON form in '
        'goals/serialize.py and an example here' % ', '.join(sorted(missing)))
    assert {'WindowTracker', 'SlidingWindowLimiter', 'KeyValueEQ'} <= set(
        public_classes())


def through_text(obj):
    return json.loads(json.dumps(obj))


def definition(shown, state):
    return {k: v for k, v in shown.items() if k not in state}


TRACKER_STATE = {'progress', 'stage_target', 'stage', 'laps', 'state',
                 'completed_at', 'expire_at', 'times', 'latest',
                 'period_key', 'period_start', 'period_end', 'met',
                 'longest_streak', 'partials'}


@pytest.mark.parametrize('name', sorted(EXAMPLES))
def test_every_public_class_round_trips_through_json_text(name):
    made = EXAMPLES[name]()
    if isinstance(made, Condition):
        again = condition_from_json(through_text(condition_to_json(made)))
        assert again == made and type(again) is type(made)
    elif ILimiter.providedBy(made):
        shown = through_text(limiter_to_json(made))
        again = limiter_from_json(shown)
        assert type(again) is type(made)
        assert limiter_to_json(again) == shown      # new: state as made
    else:
        shown = through_text(tracker_to_json(made))
        again = tracker_from_json(shown, resolve=resolve)
        assert type(again) is type(made)
        copy = through_text(tracker_to_json(again))
        assert definition(copy, TRACKER_STATE | {'group_id'}) == definition(
            shown, TRACKER_STATE | {'group_id'})
        assert again.group_id == made.group_id
        # A snapshot (as events carry) gives the same JSON.
        assert through_text(tracker_to_json(made.snapshot())) == shown


def test_state_is_written_and_ignored_on_reading():
    tracker = goals.WindowTracker('w', [EQ], 3, 3600,
                                  limiters=[goals.SlidingWindowLimiter(5, 60)])
    tracker.track({'taskId': 'lesson'}, now_ts=T0)
    tracker.track({'taskId': 'lesson'}, now_ts=T0 + 10)
    shown = through_text(tracker_to_json(tracker))
    assert shown['times'] == [T0, T0 + 10] and shown['latest'] == T0 + 10
    assert shown['progress'] == 2
    assert shown['limiters'][0]['hits'] == [[T0, 1], [T0 + 10, 1]]
    again = tracker_from_json(shown)
    assert again.progress == 0 and again.times == ()
    assert again.limiters[0].hits == ()

    period = goals.PeriodTracker('p', [EQ], 1, tz='Europe/Berlin')
    period.track({'taskId': 'lesson'}, now_ts=T0)
    shown = through_text(tracker_to_json(period))
    assert shown['met'] is True and shown['longest_streak'] == 1
    assert shown['period_key'] == '2023-11-14'
    assert shown['period_end'] - shown['period_start'] == 86400
    assert tracker_from_json(shown).period is None


def test_sequence_partials_are_shown():
    steps = [goals.KeyValueEQ('s', 'a'), goals.KeyValueEQ('s', 'b')]
    tracker = goals.SequenceTracker('ab', steps, per='runId')
    tracker.track({'s': 'a', 'runId': 7}, now_ts=T0)
    assert tracker_to_json(tracker)['partials'] == [[7, 1, T0]]


def test_composite_targets_all_and_needs_its_components():
    every = goals.all_of('all', _components())
    shown = through_text(tracker_to_json(every))
    assert shown['target'] is None and shown['measure'] == 'completed'
    assert shown['components'] == [{'group_id': 'ann', 'name': 'a'},
                                   {'group_id': 'bob', 'name': 'b'}]
    again = tracker_from_json(shown, resolve=resolve)
    assert again.components == every.components
    with pytest.raises(ValueError, match='needs resolve'):
        tracker_from_json(shown)
    with pytest.raises(ValueError, match="no tracker 'x' in group 'ann'"):
        tracker_from_json(dict(shown, components=[
            {'group_id': 'ann', 'name': 'x'}]), resolve=resolve)


@pytest.mark.parametrize('obj, error, words', [
    ({'type': 'WindowTracker', 'name': 'w', 'conditions': [], 'target': 2},
     ValueError, 'missing field(s) window'),
    ({'type': 'WindowTracker', 'name': 'w', 'conditions': [], 'target': 2,
      'window': -5}, ValueError, 'WindowTracker tracker: window must be a '
     'positive duration'),
    ({'type': 'WindowTracker', 'name': 'w', 'conditions': [], 'target': 2,
      'window': 60, 'init_progress': 1}, ValueError, '"init_progress" must '
     'be 0'),
    ({'type': 'WindowTracker', 'name': 'w', 'conditions': [], 'target': 2,
      'window': 60, 'key': 'k'}, ValueError, '"key" is for'),
    ({'type': 'PeriodTracker', 'name': 'p', 'conditions': [], 'target': 2,
      'period': 'hourly'}, ValueError, 'period must be one of daily'),
    ({'type': 'PeriodTracker', 'name': 'p', 'conditions': [], 'target': 2,
      'tz': 'Mars/Base'}, ValueError, "IANA time zone name such as "
     "'Europe/Berlin', got 'Mars/Base'"),
    ({'type': 'PeriodTracker', 'name': 'p', 'conditions': [], 'target': 2,
      'keep_history': 'yes'}, TypeError, '"keep_history" must be true or '
     'false'),
    ({'type': 'PeriodAccumulationTracker', 'name': 'p', 'conditions': [],
      'target': 2}, ValueError, 'missing field(s) key'),
    ({'type': 'SequenceTracker', 'name': 's', 'conditions': [], 'target': 1,
      'steps': [{'type': 'KeyExists', 'key': 'a'}, {'type': 'Nope'}]},
     ValueError, 'a condition: "type" must be one of'),
    ({'type': 'SequenceTracker', 'name': 's', 'conditions': [], 'target': 1,
      'steps': {'a': 1}}, TypeError, '"steps" must be a list'),
    ({'type': 'CompositeTracker', 'name': 'c', 'target': 1,
      'components': [{'name': 'a'}]}, ValueError,
     'each of "components" must be'),
    ({'type': 'CompositeTracker', 'name': 'c', 'target': 1, 'components': [],
      'limiters': [{'type': 'CountLimiter', 'count': 1}]}, ValueError,
     '"limiters" must be []'),
    ({'type': 'CountTracker', 'name': 'c', 'conditions': [], 'target': 1,
      'limiters': [{'type': 'SlidingWindowLimiter', 'count': 2}]},
     ValueError, 'SlidingWindowLimiter limiter: missing field(s) window'),
    ({'type': 'CountTracker', 'name': 'c', 'conditions': [], 'target': 1,
      'limiters': [{'type': 'SlidingWindowLimiter', 'count': 2,
                    'window': 60, 'weight': 3}]},
     ValueError, 'weight must be at most count'),
    ({'type': 'CountTracker', 'name': 'c', 'conditions': [], 'target': 1,
      'limiters': [{'type': 'DeadlineLimiter', 'deadline': 'soon'}]},
     TypeError, 'DeadlineLimiter limiter: deadline_ts must be a timestamp'),
    ({'type': 'CountTracker', 'name': 'c', 'conditions': [], 'target': None},
     ValueError, '"target" must be a number or a list'),
    ({'type': 'CountTracker', 'name': 'c', 'conditions': [], 'target': 'x'},
     ValueError, 'a Decimal ("2.50") or a Fraction'),
])
def test_bad_new_kinds_are_named(obj, error, words):
    with pytest.raises(error) as raised:
        tracker_from_json(obj, resolve=resolve)
    assert words in str(raised.value)


def test_a_bad_part_is_found_before_any_component_is_looked_up():
    asked = []
    obj = {'type': 'CompositeTracker', 'name': 'c', 'target': 1,
           'measure': 'sum', 'components': [{'group_id': 'ann', 'name': 'a'}]}
    with pytest.raises(ValueError, match='"measure" must be one of'):
        tracker_from_json(obj, resolve=lambda *ref: asked.append(ref))
    assert asked == []


def test_other_classes_are_written_but_not_read():
    # An event about a tracker of a class of one's own never fails to be
    # written; reading takes only the classes this module knows.
    class MyLimiter(goals.SlidingWindowLimiter):
        pass

    class MyTracker(goals.WindowTracker):
        pass

    class Odd:
        pass

    tracker = MyTracker('m', [], 2, 60, limiters=[MyLimiter(2, 60)])
    shown = tracker_to_json(tracker)
    assert shown['type'] == 'MyTracker' and shown['window'] == 60
    assert shown['limiters'] == [{'type': 'MyLimiter', 'count': 2,
                                  'window': 60, 'hits': []}]
    odd = Odd()
    assert limiter_to_json(odd) == {'type': 'Odd', 'repr': repr(odd)}
    with pytest.raises(ValueError, match='a tracker: "type" must be one of'):
        tracker_from_json(shown)
    with pytest.raises(ValueError, match='a limiter: "type" must be one of'):
        limiter_from_json(shown['limiters'][0])

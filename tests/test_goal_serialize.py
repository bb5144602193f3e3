"""JSON forms of conditions, limiters and trackers round-trip."""

import json

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

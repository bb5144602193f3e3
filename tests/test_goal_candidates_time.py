"""The candidate index and trackers that need the item's time: window and
sequence trackers say their first condition's key (their ``track`` only
notes the time), so an item failing it never reaches them; period trackers
(they roll their period on any item) and composites (items do not matter
to them) keep saying None."""

from cybertools_tracking.goals import (CountTracker, KeyValueEQ,
                                       PeriodTracker, SequenceTracker,
                                       TrackingManager, WindowTracker,
                                       all_of)
from cybertools_tracking.goals.limiters import CountLimiter

T0 = 1_700_000_000
BUY = KeyValueEQ('event', 'buy')


def window(**kw):
    return WindowTracker('w', [BUY], 2, window=60, **kw)


def sequence(**kw):
    return SequenceTracker('s', [KeyValueEQ('step', 'a'),
                                 KeyValueEQ('step', 'b')],
                           conditions=[BUY], **kw)


def test_window_and_sequence_trackers_answer_their_first_condition():
    assert window().index_key() == ('event', 'buy')
    assert sequence().index_key() == ('event', 'buy')
    # The same exceptions as the base trackers.
    assert window(limiters=[CountLimiter(2)]).index_key() is None
    assert SequenceTracker('s', [BUY, BUY]).index_key() is None  # no cond.

    class Overriding(WindowTracker):
        def track(self, data, now_ts=None):
            return super().track(data, now_ts)

    assert Overriding('o', [BUY], 2, window=60).index_key() is None


def test_period_trackers_and_composites_keep_answering_none():
    period = PeriodTracker('p', [BUY], 3, period='daily')
    assert period.index_key() is None
    assert all_of('all', [CountTracker('c', [BUY], 1)]).index_key() is None


def test_an_item_failing_the_first_condition_does_not_reach_them():
    manager = TrackingManager()
    w, s = window(), sequence()
    manager.add_trackers('g', [w, s, CountTracker('c', [BUY], 5)])
    group = manager.registry.get('g')
    trackers, key, probe = group.candidates().select({'event': 'view'})
    assert (key, probe) == ('event', 'view') and trackers == ()
    # Their ``track`` notes the item's time: offered an item, they would
    # hold its time; they hold none.
    result = manager.track('g', {'event': 'view', 'step': 'a'},
                           now_ts=T0)
    assert result.dirtied == [] and w._v_now is None and s._v_now is None
    # A matching item reaches them, and they count as before.
    manager.track('g', {'event': 'buy', 'step': 'a'}, now_ts=T0 + 1)
    assert w._v_now == T0 + 1 and s._v_now == T0 + 1
    manager.track('g', {'event': 'buy', 'step': 'b'}, now_ts=T0 + 2)
    assert w.completed and s.progress == 1
    manager.close()

"""Weights from the items: a counting limiter with ``weight_key`` reads
each matching item's weight from the item, checked before the tracker
changes anything; a weight that does not fit refuses the item."""

import pytest
import transaction
import ZODB
from persistent import Persistent
from zope.interface import implementer
from zope.interface.verify import verifyObject

from cybertools_tracking.goals import (EVENT_TRACKER_LIMITED, CountLimiter,
                                       CountTracker, KeyExists,
                                       SlidingWindowLimiter, TimeLimiter,
                                       TrackingManager)
from cybertools_tracking.goals.interfaces import ILimiter, ILimiterInfo


def test_weight_of_reads_checks_and_falls_back():
    cap = CountLimiter(10, weight=2, weight_key='data.cost')
    verifyObject(ILimiterInfo, cap)
    assert cap.weight_of({'data': {'cost': 4}}) == 4
    assert cap.weight_of({'data': {}}) == 2 and cap.weight_of({}) == 2
    for bad, error in [('4', TypeError), (True, TypeError), (2.0, TypeError),
                       (0, ValueError), (-1, ValueError)]:
        with pytest.raises(error) as raised:
            cap.weight_of({'data': {'cost': bad}})
        assert 'data.cost' in str(raised.value) and repr(bad) in str(
            raised.value)
    assert CountLimiter(3).weight_of({'cost': 9}) == 1   # no key
    with pytest.raises(ValueError):
        CountLimiter(3, weight_key='')
    with pytest.raises(TypeError):
        SlidingWindowLimiter(3, 60, weight_key=3)


def test_items_use_their_weight_and_a_heavy_one_is_refused():
    manager = TrackingManager()
    heard = []
    manager.add_listener(EVENT_TRACKER_LIMITED, heard.append)
    cap = CountLimiter(10, weight_key='cost')
    tracker = CountTracker('t', [KeyExists('cost')], 100, limiters=[cap])
    manager.add_tracker('g', tracker)
    manager.track('g', {'cost': 4}, now_ts=1)
    manager.track('g', {'cost': 5}, now_ts=2)
    assert (tracker.progress, cap.remaining, tracker.state) == (
        2, 1, 'active')
    result = manager.track('g', {'cost': 3}, now_ts=3)   # 3 > 1 left
    assert result.limited == [tracker] and len(heard) == 1
    assert (tracker.progress, cap.remaining) == (2, 1)   # not counted
    # Still too heavy: stays limited, no second event.
    manager.track('g', {'cost': 2}, now_ts=4)
    assert (tracker.state, len(heard)) == ('limited', 1)
    # One that fits is counted, and uses up the allowance.
    manager.track('g', {'cost': 1}, now_ts=5)
    assert (tracker.progress, cap.remaining, tracker.state) == (
        3, 0, 'limited')
    assert len(heard) == 2
    manager.close()


@implementer(ILimiter)
class Plain(Persistent):
    """An ILimiter of the original protocol: record(now_ts) only."""

    def __init__(self):
        self.recorded = ()

    def allows(self, now_ts):
        return True

    def record(self, now_ts):
        self.recorded += (now_ts,)

    def reset(self, now_ts=None, **options):
        self.recorded = ()


def test_a_bad_weight_changes_nothing_and_plain_limiters_still_work():
    db = ZODB.DB(None)
    tm = transaction.TransactionManager()
    manager = TrackingManager(db, transaction_manager=tm)
    plain = Plain()
    window = SlidingWindowLimiter(5, 60, weight_key='n')
    opening = TimeLimiter(start_ts=100, end_ts=10 ** 9)
    tracker = CountTracker('t', [KeyExists('n')], 100,
                           limiters=[plain, window, opening])
    manager.add_tracker('g', tracker)
    manager.track('g', {'n': 1}, now_ts=50)       # before the window: limited
    tm.commit()
    assert tracker.state == 'limited'
    with pytest.raises(TypeError):
        # Every limiter allows again, the conditions hold, the weight is
        # bad: the tracker stays limited, nothing is written.
        manager.track('g', {'n': 'x'}, now_ts=200)
    assert tracker.state == 'limited' and not tracker._tally._p_changed
    assert not window._p_changed and plain.recorded == ()
    tm.abort()
    manager.track('g', {'n': 3}, now_ts=201)
    assert (tracker.state, tracker.progress) == ('active', 1)
    assert window.hits == ((201, 3),) and plain.recorded == (201,)
    tm.commit()
    # Stored and loaded again: the key is kept, its parsed form rebuilt.
    other = db.open(transaction.TransactionManager())
    (loaded,) = TrackingManager(other).get_trackers('g')
    assert loaded.limiters[1].weight_of({'n': 4}) == 4
    other.close()
    manager.close()
    db.close()

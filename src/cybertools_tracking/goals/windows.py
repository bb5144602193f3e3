"""Rolling windows: "at least N matching items in the last D seconds".

See ``IWindowTracker``.  The rule, first, because it is the subtle part:

* The window is judged at the *item's* time ``t`` (the ``now_ts`` it is
  tracked with; a storage passes the track's time stamp), never at the wall
  clock: an item at ``t`` counts the matching items in ``(t - D, t]``.  An
  item exactly ``D`` seconds older than ``t`` is outside.
* Items may arrive out of order.  The tracker remembers ``latest``, the
  newest time it has seen.  An item at ``t >= latest`` moves the window to
  end at ``t``.  A *late* item, ``latest - D < t < latest``, still falls
  inside the current window: it is counted there, and the window keeps
  ending at ``latest``.  An item at ``t <= latest - D`` is *too late*: the
  window it belongs to has passed, and it counts for nothing.  So the goal
  is always judged on the window that ends at the newest item seen, which
  is what a stream processor calls a watermark: the answer never depends
  on the order in which items within one window arrived.

Why the state stays small: deciding "at least N" only needs the newest N
times inside the window (the N-th newest is inside it or the count is below
N), so the tracker keeps at most ``targets[-1]`` times, sorted, in its
progress record.  A commit that moves a window tracker writes that record:
a few numbers, however many items the window holds.  Progress is the number
of kept times, which is the true count capped at the last target.
"""

import math
import time
from bisect import bisect_right

from zope.interface import implementer

from cybertools_tracking.goals.interfaces import IWindowTracker
from cybertools_tracking.goals.limiters import _seconds
from cybertools_tracking.goals.trackers import ResetPolicy
from cybertools_tracking.goals.trackers import Tracker
from cybertools_tracking.goals.trackers import TrackerProgress

__all__ = ["WindowTracker", "WindowProgress", "ItemTime"]


class WindowProgress(TrackerProgress):
    """A window tracker's progress record: a ``TrackerProgress`` plus the
    sorted times of the newest matching items inside the window and the
    newest time seen.  Records name this class; it keeps its module and name.
    """

    times = ()
    latest = None


def with_progress_class(tracker, cls):
    """Give a new tracker a progress record of class *cls* (a subclass of
    ``TrackerProgress`` with more state), keeping what ``Tracker.__init__``
    put into the plain one.  Only for trackers that were never stored."""
    tally = cls()
    tally.__setstate__(tracker._tally.__getstate__())
    tracker._tally = tally
    return tally


def check_count_targets(targets, kind):
    """Counting trackers count items: their targets are ints."""
    for target in targets:
        if target.__class__ is not int:
            raise TypeError("the targets of a %s are numbers of items (int), "
                            "got %r" % (kind, target))


class ItemTime:
    """For a tracker whose ``_add`` needs the item's time (a mixin before
    ``Tracker``).  ``Tracker.track`` asks ``_add`` what an item adds, without
    its time; ``track`` leaves the time here, in a volatile attribute that
    is never stored, and ``_item_time`` returns it, checked."""

    _v_now = None

    def track(self, data, now_ts=None):
        # Read the tally first: loading a ghost clears volatile attributes.
        self._tally
        self._v_now = time.time() if now_ts is None else now_ts
        return Tracker.track(self, data, self._v_now)

    def index_key(self):
        """As ``Tracker.index_key``: this ``track`` only notes the item's
        time in a volatile attribute (never stored, read only by ``_add``,
        which runs after the conditions held) before ``Tracker.track``, so
        skipping an item that fails the first condition changes nothing.
        A subclass with a ``track`` of its own answers None."""
        if type(self).track is not ItemTime.track:
            return None
        return self._first_condition_key()

    def _item_time(self):
        now = self._v_now
        if not (isinstance(now, (int, float)) and math.isfinite(now)):
            raise TypeError("now_ts must be a finite number of seconds, "
                            "got %r" % (now,))
        return now


@implementer(IWindowTracker)
class WindowTracker(ItemTime, Tracker):
    """At least *target* matching items within *window* (seconds or a
    ``timedelta``) of each other; see ``IWindowTracker`` and the module
    docstring for the rule on out-of-order items.

    *target* is a count or a list of increasing counts (stages: 3, then 5
    in one window).  With ``loop_forever`` each lap needs the last target
    again, from items after the lap before: the items of a completed lap are
    used up.  A ``PROGRESS`` reset empties the window.
    """

    _window = 1
    _step = None

    def __init__(self, name, conditions, target, window, group_id=None,
                 limiters=None, reset_policy=ResetPolicy.DEFAULT,
                 loop_forever=False):
        window = _seconds("window", window)
        super().__init__(name, conditions, target, group_id=group_id,
                         limiters=limiters, reset_policy=reset_policy,
                         loop_forever=loop_forever)
        check_count_targets(self._targets, "WindowTracker")
        self._window = window
        with_progress_class(self, WindowProgress)

    window = property(lambda self: self._window)
    times = property(lambda self: self._tally.times)
    latest = property(lambda self: self._tally.latest)

    def count_at(self, now_ts=None):
        """The number of kept matching items in ``(now_ts - window, now_ts]``.
        """
        now = time.time() if now_ts is None else now_ts
        start = now - self._window
        return sum(1 for t in self._tally.times if start < t <= now)

    def _add(self, progress, data):
        now = self._item_time()
        tally = self._tally
        latest = tally.latest
        if latest is not None and now <= latest - self._window:
            return None  # too late: its window has passed
        if latest is None or now > latest:
            latest = now
        times = tally.times
        if not times or now >= times[-1]:
            times = times + (now,)
        else:
            times = tuple(sorted(times + (now,)))
        # Keep the newest ``targets[-1]`` of those inside (latest - window,
        # latest].
        first = max(len(times) - self._targets[-1],
                    bisect_right(times, latest - self._window))
        if first:
            times = times[first:]
        tally = self._changing()
        tally.times = times
        tally.latest = latest
        return len(times)

    def _complete_stage(self, now):
        tally = self._tally
        lap = self._loop_forever and tally.stage == len(self._targets)
        events = super()._complete_stage(now)
        if lap:
            # The lap's items are used up; the next lap needs the last
            # target again, not the sum of targets.
            tally = self._changing()
            tally.target = self._targets[-1]
            tally.times = ()
            tally.progress = 0
        return events

    def _apply_reset(self, policy, now, options):
        if policy & ResetPolicy.PROGRESS:
            self._changing().times = ()
        return super()._apply_reset(policy, now, options)

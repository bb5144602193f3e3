"""Limiters: persistent restrictions on how often or when a tracker counts.

See ``ILimiter`` for the protocol between a tracker and its limiters, and
``ILimiterInfo`` for the questions a caller may ask one (``remaining``,
``resets_at``, ``peek``) and for using one on its own (``hit``), as the
``limits`` library offers them for rate limits.
"""

import math
import time
from bisect import bisect_right
from datetime import timedelta

from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking.goals.conditions import MISSING
from cybertools_tracking.goals.conditions import parse_path
from cybertools_tracking.goals.conditions import resolve
from cybertools_tracking.goals.interfaces import IDeadlineLimiter
from cybertools_tracking.goals.interfaces import ILimiterInfo

__all__ = ["CountLimiter", "TimeLimiter", "SlidingWindowLimiter",
           "DeadlineLimiter"]


def _now(now_ts):
    return time.time() if now_ts is None else now_ts


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, got %r (%s)"
                        % (name, value, type(value).__name__))
    if value <= 0:
        raise ValueError("%s must be a positive int, got %r" % (name, value))
    return value


def _check_ts(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a timestamp (int or float), got %r (%s)"
                        % (name, value, type(value).__name__))
    if not math.isfinite(value):
        raise ValueError("%s must be finite, got %r" % (name, value))
    return value


def _seconds(name, value):
    if isinstance(value, timedelta):
        value = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a timedelta or a number of seconds, "
                        "got %r (%s)" % (name, value, type(value).__name__))
    if not (math.isfinite(value) and value > 0):
        raise ValueError("%s must be a positive duration, got %r"
                         % (name, value))
    return value


def _weight(limiter, weight):
    return limiter.weight if weight is None else _check_count("weight", weight)


class _Hits:
    """``hit``: ``peek``, then ``record`` if allowed (``ILimiterInfo``);
    ``remaining``: ``remaining_at`` now; ``weight_of``: an item's weight."""

    weight_key = None   # a dotted path into items, or None
    _v_path = None      # weight_key parsed (volatile)

    def _set_weight_key(self, weight_key):
        if weight_key is not None:
            self._v_path = parse_path(weight_key)   # raises for a bad key
            self.weight_key = weight_key

    def _weight_repr(self):
        return "%s%s" % (
            "" if self.weight == 1 else " weight=%s" % self.weight,
            "" if self.weight_key is None
            else " weight_key=%r" % self.weight_key)

    def weight_of(self, data):
        """The units the item *data* uses: the int at ``weight_key`` in it,
        or the limiter's ``weight`` without a key or a value there.

        Raises TypeError (not an int) or ValueError (not >= 1) naming the
        key and the value; a tracker asks before it changes anything.
        """
        key = self.weight_key
        if key is None:
            return self.weight
        path = self._v_path
        if path is None:
            path = self._v_path = parse_path(key)
        value = resolve(data, path)
        if value is MISSING:
            return self.weight
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("the weight at %r must be an int, got %r (%s)"
                            % (key, value, type(value).__name__))
        if value <= 0:
            raise ValueError("the weight at %r must be a positive int, got %r"
                             % (key, value))
        return value

    def hit(self, now_ts=None, weight=None):
        now = _now(now_ts)
        if not self.peek(now, weight):
            return False
        self.record(now, weight)
        return True

    @property
    def remaining(self):
        return self.remaining_at()


class _Uncounted(_Hits):
    """What limiters that restrict the time, not the number, share."""

    weight = 1  # items are not counted; the attribute is ILimiterInfo's

    def record(self, now_ts=None, weight=None):
        pass

    def peek(self, now_ts=None, weight=None):
        if weight is not None:
            _check_count("weight", weight)
        return self.allows(now_ts)

    def remaining_at(self, now_ts=None):
        """None (no limit on the number) while allowed, else 0."""
        return None if self.allows(now_ts) else 0


@implementer(ILimiterInfo)
class CountLimiter(_Hits, Persistent):
    """Lets a tracker count *count* matching items, then limits it.

    Only items that match the tracker's conditions use up the allowance,
    *weight* (default 1) each, or with *weight_key* (a dotted path, e.g.
    ``"data.cost"``) the int found there in the item (*weight* if the item
    has none); an item whose weight is more than what is left is not
    counted and limits the tracker.  The evaluation that uses the last of it
    limits the tracker at once, unless it completed a stage or the tracker;
    an evaluation that completed a stage with the allowance used up leaves
    the tracker to be limited before its next item.
    """

    # Class-level defaults: pickles of older versions still load.
    # ``remaining`` is stored here (the allowance), not _Hits' property.
    count = 1
    remaining = 1
    weight = 1

    def __init__(self, count, weight=1, weight_key=None):
        count = _check_count("count", count)
        if weight != 1:
            self.weight = _check_count("weight", weight)
        self._set_weight_key(weight_key)
        self.count = self.remaining = count

    def __repr__(self):
        return "<CountLimiter (count=%s remaining=%s%s)>" % (
            self.count, self.remaining, self._weight_repr())

    def allows(self, now_ts=None):
        return self.remaining >= self.weight

    def record(self, now_ts=None, weight=None):
        self.remaining -= _weight(self, weight)

    def peek(self, now_ts=None, weight=None):
        return self.remaining >= _weight(self, weight)

    def remaining_at(self, now_ts=None):
        return max(self.remaining, 0)

    def resets_at(self, now_ts=None):
        return None  # only reset() gives the allowance back

    def reset(self, now_ts=None, reset_count=None, **options):
        """Allow *count* items again; *reset_count* replaces *count*."""
        if reset_count is not None:
            self.count = _check_count("reset_count", reset_count)
        self.remaining = self.count


@implementer(ILimiterInfo)
class TimeLimiter(_Uncounted, Persistent):
    """Lets a tracker count inside a time window, both ends included.

    The window is ``start_ts`` (default: now) to ``end_ts``, or ``start_ts``
    plus ``interval`` (a ``timedelta`` or seconds); give one of the two.
    Before the window opens the tracker is limited and becomes active when
    the window opens; after it closes the tracker stays limited until reset.
    """

    start = 0
    end = 0

    def __init__(self, start_ts=None, end_ts=None, interval=None, now_ts=None):
        start_ts = _check_ts("start_ts", start_ts)
        end_ts = _check_ts("end_ts", end_ts)
        if (end_ts is None) == (interval is None):
            raise ValueError(
                "give either end_ts or interval, got end_ts=%r interval=%r"
                % (end_ts, interval))
        if start_ts is None:
            start_ts = _now(now_ts)
        if end_ts is None:
            end_ts = start_ts + _seconds("interval", interval)
        elif end_ts <= start_ts:
            raise ValueError("end_ts must be after start_ts, got start_ts=%r "
                             "end_ts=%r" % (start_ts, end_ts))
        self.start = start_ts
        self.end = end_ts

    @property
    def interval(self):
        """The window's length as a ``timedelta``."""
        return timedelta(seconds=self.end - self.start)

    def __repr__(self):
        return "<TimeLimiter (start=%s end=%s interval=%s)>" % (
            self.start, self.end, self.interval)

    def allows(self, now_ts=None):
        return self.start <= _now(now_ts) <= self.end

    def resets_at(self, now_ts=None):
        """The start of a window that has not opened yet, else None."""
        return self.start if _now(now_ts) < self.start else None

    def reset(self, now_ts=None, reset_seconds=None, **options):
        """Open a new window at *now_ts* lasting *reset_seconds*.

        Without *reset_seconds* the new window is as long as the current one.
        """
        length = (self.end - self.start if reset_seconds is None
                  else _seconds("reset_seconds", reset_seconds))
        self.start = _now(now_ts)
        self.end = self.start + length


@implementer(ILimiterInfo)
class SlidingWindowLimiter(_Hits, Persistent):
    """At most *count* units of weight in any *window* (seconds or a
    ``timedelta``): a sliding log, as the ``limits`` library's moving window.

    Each counted item uses *weight* units (default 1), or with
    *weight_key* the int at that dotted path in the item (as for
    ``CountLimiter``).  An item at ``t`` is
    allowed if the weights recorded in ``(t - window, t]``, plus its own,
    stay within *count*; a tracker limited by it becomes active again with
    the first item after enough of those have left the window.

    State: the times recorded inside the window of the newest one (at most
    *count* of them; an item asked about at a time earlier than that is
    judged on what is kept), ascending, and the running sums of their weights, so
    that the weight inside any window is a difference of two sums found by
    bisection: O(log n) to ask, O(n) to record (the record is rewritten).
    """

    count = 1
    window = 1
    weight = 1
    times = ()
    # sums[i]: the total weight recorded before times[i] (one more entry
    # than times; they grow from any base, only differences count).
    sums = (0,)

    def __init__(self, count, window, weight=1, weight_key=None):
        count = _check_count("count", count)
        window = _seconds("window", window)
        weight = _check_count("weight", weight)
        if weight > count:
            raise ValueError("weight must be at most count (%r), got %r"
                             % (count, weight))
        self._set_weight_key(weight_key)
        self.count, self.window = count, window
        if weight != 1:
            self.weight = weight

    def __repr__(self):
        return "<SlidingWindowLimiter (count=%s window=%s hits=%d%s)>" % (
            self.count, self.window, len(self.times), self._weight_repr())

    @property
    def hits(self):
        """The ``(time, weight)`` pairs kept, ascending."""
        sums = self.sums
        return tuple((t, sums[i + 1] - sums[i])
                     for i, t in enumerate(self.times))

    def _used(self, now):
        times, sums = self.times, self.sums
        hi = bisect_right(times, now)
        lo = bisect_right(times, now - self.window, 0, hi)
        return sums[hi] - sums[lo]

    def allows(self, now_ts=None):
        return self.peek(now_ts)

    def peek(self, now_ts=None, weight=None):
        return self._used(_now(now_ts)) + _weight(self, weight) <= self.count

    def record(self, now_ts=None, weight=None):
        now = _now(now_ts)
        weight = _weight(self, weight)
        times, sums = self.times, self.sums
        if not times or now >= times[-1]:
            times = times + (now,)
            sums = sums + (sums[-1] + weight,)
        else:  # out of order: rebuild the sums
            hits = sorted(self.hits + ((now, weight),))
            times = tuple(t for t, w in hits)
            running = [0]
            for t, w in hits:
                running.append(running[-1] + w)
            sums = tuple(running)
        keep = bisect_right(times, times[-1] - self.window)
        self.times, self.sums = times[keep:], sums[keep:]

    def remaining_at(self, now_ts=None):
        return max(self.count - self._used(_now(now_ts)), 0)

    def resets_at(self, now_ts=None):
        """When the oldest weight inside the window leaves it, or None."""
        now = _now(now_ts)
        times = self.times
        lo = bisect_right(times, now - self.window)
        if lo < len(times) and times[lo] <= now:
            return times[lo] + self.window
        return None

    def reset(self, now_ts=None, reset_count=None, reset_seconds=None,
              **options):
        """Forget the recorded items; *reset_count* and *reset_seconds*
        replace *count* and *window*."""
        count = (self.count if reset_count is None
                 else _check_count("reset_count", reset_count))
        window = (self.window if reset_seconds is None
                  else _seconds("reset_seconds", reset_seconds))
        self.count, self.window = count, window
        self.times, self.sums = (), (0,)


@implementer(IDeadlineLimiter)
class DeadlineLimiter(_Uncounted, Persistent):
    """The tracker must complete by *deadline_ts* (seconds UTC, included).

    Until then it allows everything; after it, it refuses, so the tracker
    is limited by its next item, and ``tick`` fails the tracker (event
    1012) and takes it out of its group, whether or not an item came.
    ``reset`` with *reset_seconds* moves the deadline to that long after
    *now_ts*; a reset without it leaves the deadline where it is.
    """

    deadline = 0

    def __init__(self, deadline_ts):
        if deadline_ts is None:
            raise TypeError("deadline_ts must be a timestamp, got None")
        self.deadline = _check_ts("deadline_ts", deadline_ts)

    def __repr__(self):
        return "<DeadlineLimiter (deadline=%s)>" % (self.deadline,)

    def allows(self, now_ts=None):
        return _now(now_ts) <= self.deadline

    def passed(self, now_ts=None):
        return _now(now_ts) > self.deadline

    def resets_at(self, now_ts=None):
        return None

    def reset(self, now_ts=None, reset_seconds=None, **options):
        if reset_seconds is not None:
            self.deadline = _now(now_ts) + _seconds("reset_seconds",
                                                    reset_seconds)

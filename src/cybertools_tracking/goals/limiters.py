"""Limiters: persistent restrictions on how often or when a tracker counts.

See ``ILimiter`` for the protocol between a tracker and its limiters.
"""

import math
import time
from datetime import timedelta

from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking.goals.interfaces import ILimiter

__all__ = ["CountLimiter", "TimeLimiter"]


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


@implementer(ILimiter)
class CountLimiter(Persistent):
    """Lets a tracker count *count* matching items, then limits it.

    Only items that match the tracker's conditions use up the allowance.
    The evaluation that uses the last of it limits the tracker at once,
    unless it completed a stage or the tracker; an evaluation that completed
    a stage with the allowance used up leaves the tracker to be limited
    before its next item.
    """

    # Class-level defaults: pickles of older versions still load.
    count = 1
    remaining = 1

    def __init__(self, count):
        self.count = self.remaining = _check_count("count", count)

    def __repr__(self):
        return "<CountLimiter (count=%s remaining=%s)>" % (
            self.count, self.remaining)

    def allows(self, now_ts=None):
        return self.remaining > 0

    def record(self, now_ts=None):
        self.remaining -= 1

    def reset(self, now_ts=None, reset_count=None, **options):
        """Allow *count* items again; *reset_count* replaces *count*."""
        if reset_count is not None:
            self.count = _check_count("reset_count", reset_count)
        self.remaining = self.count


@implementer(ILimiter)
class TimeLimiter(Persistent):
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

    def record(self, now_ts=None):
        pass

    def reset(self, now_ts=None, reset_seconds=None, **options):
        """Open a new window at *now_ts* lasting *reset_seconds*.

        Without *reset_seconds* the new window is as long as the current one.
        """
        length = (self.end - self.start if reset_seconds is None
                  else _seconds("reset_seconds", reset_seconds))
        self.start = _now(now_ts)
        self.end = self.start + length

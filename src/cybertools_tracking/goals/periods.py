"""Calendar periods in a time zone: a goal per day, ISO week or month.

See ``ICalendar`` and ``IPeriodTracker``.  The design rules:

* Times are seconds UTC, as everywhere in the goal layer.  A ``Calendar``
  maps a time to the local period holding it, through ``zoneinfo``: the
  local date of the time, the first day of its period (the day, the Monday
  of its ISO week, the first of its month) and the first day of the next
  one.  A period runs from the first instant of its first local day to the
  first instant of the next period's, so a Berlin day is 23 or 25 hours
  long when the clocks change, and periods follow each other without gaps.
  The first instant of a day is local midnight; where midnight does not
  exist (clocks jump at 00:00, as in America/Santiago), it is the moment of
  the jump (``fold=0``).
* Weeks are ISO 8601 weeks (Monday first), keyed by their ISO year:
  2026-12-31 and 2027-01-01 are in ``2026-W53``.  Keys sort in time order
  within one kind of period: ``2026-03-29``, ``2026-W13``, ``2026-03``.
* A period tracker holds the progress of one period, the *open* one.  An
  item (or ``tick``) at or after its end closes it: the tracker records a
  ``ClosedPeriod`` in its history, sends a period-closed event, and opens
  the period of that time with progress 0.  Periods in between that saw no
  item and no tick are not recorded (they were not met).  An item earlier
  than the open period is late for a closed period and counts for nothing:
  a closed period stays closed.
* The goal of a period is met when its progress reaches the last target
  (earlier targets are stages within the period, as for ``ITracker``); the
  tracker then sends a stage-completed event and counts nothing more in
  that period.  It never completes by itself, unless ``streak_target``
  says after how many met periods in a row it does (``streaks.py``).
"""

import time
from collections import namedtuple
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from BTrees.OOBTree import OOBTree
from zope.interface import implementer

from cybertools_tracking.goals import streaks
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.events import EVENT_TRACKER_STAGE_COMPLETED
from cybertools_tracking.goals.events import PeriodClosedEvent
from cybertools_tracking.goals.events import make_event
from cybertools_tracking.goals.interfaces import ICalendar
from cybertools_tracking.goals.interfaces import IPeriodTracker
from cybertools_tracking.goals.trackers import ACTIVE
from cybertools_tracking.goals.trackers import COMPLETED
from cybertools_tracking.goals.trackers import LIMITED
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker
from cybertools_tracking.goals.trackers import ResetPolicy
from cybertools_tracking.goals.trackers import TrackerProgress
from cybertools_tracking.goals.windows import with_progress_class

__all__ = ["Calendar", "Period", "ClosedPeriod", "PERIODS", "PeriodProgress",
           "PeriodTracker", "PeriodAccumulationTracker"]

PERIODS = ("daily", "weekly", "monthly")

Period = namedtuple("Period", "key start end")
Period.__doc__ = """\
A calendar period: its key (``2026-03-29``, ``2026-W13``, ``2026-03``) and
its bounds in seconds UTC, ``start`` included, ``end`` excluded."""

ClosedPeriod = namedtuple("ClosedPeriod",
                          "key start end progress target met_at")
ClosedPeriod.__doc__ = """\
A closed period of a period tracker: key and bounds as in ``Period``, the
progress it reached, the target it had, and when that was met (None if it
was not).  ``met`` says whether it was."""
ClosedPeriod.met = property(lambda self: self.met_at is not None)

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)


@implementer(ICalendar)
class Calendar:
    """Daily, ISO-weekly or monthly periods in a time zone; see ``ICalendar``.

    An immutable value; it pickles as its two arguments.
    """

    __slots__ = ("period", "tz", "_zone")

    def __init__(self, period="daily", tz="UTC"):
        if period not in PERIODS:
            raise ValueError("period must be one of %s, got %r"
                             % (", ".join(PERIODS), period))
        if not isinstance(tz, str):
            raise TypeError("tz must be the name of a time zone (str), got %r"
                            % (tz,))
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("tz must be an IANA time zone name such as "
                             "'Europe/Berlin', got %r" % (tz,)) from None
        object.__setattr__(self, "period", period)
        object.__setattr__(self, "tz", tz)
        object.__setattr__(self, "_zone", zone)

    def __setattr__(self, name, value):
        raise AttributeError("a Calendar cannot be changed")

    def __reduce__(self):
        return Calendar, (self.period, self.tz)

    def __eq__(self, other):
        if not isinstance(other, Calendar):
            return NotImplemented
        return (self.period, self.tz) == (other.period, other.tz)

    def __hash__(self):
        return hash((Calendar, self.period, self.tz))

    def __repr__(self):
        return "Calendar(%r, %r)" % (self.period, self.tz)

    def _start_of(self, day):
        # Local midnight, or the jump where midnight does not exist (fold=0
        # takes the offset from before the jump, which lands on it).  UTC
        # offsets are whole seconds, so the time is an int.
        return int(datetime(day.year, day.month, day.day,
                            tzinfo=self._zone).timestamp())

    def period_of(self, ts):
        try:
            day = datetime.fromtimestamp(ts, self._zone).date()
        except (TypeError, ValueError, OverflowError, OSError):
            raise ValueError("ts must be a time in seconds since the epoch "
                             "that a calendar can show, got %r" % (ts,)) \
                from None
        return self._period(day)

    def _period(self, day):
        if self.period == "daily":
            first, following = day, day + _DAY
            key = day.isoformat()
        elif self.period == "weekly":
            first = day - timedelta(days=day.weekday())
            following = first + _WEEK
            year, week, _ = day.isocalendar()
            key = "%04d-W%02d" % (year, week)
        else:
            first = day.replace(day=1)
            following = (first + timedelta(days=31)).replace(day=1)
            key = "%04d-%02d" % (day.year, day.month)
        return Period(key, self._start_of(first), self._start_of(following))

    def following(self, period):
        """The period after *period* (a ``Period`` of this calendar)."""
        return self.period_of(period.end)

    def day_of(self, ts):
        """The local date of *ts*, a ``datetime.date``."""
        return datetime.fromtimestamp(ts, self._zone).date()


class PeriodProgress(TrackerProgress):
    """A period tracker's progress record: a ``TrackerProgress`` for the
    open period, plus its bounds, when it was met, and the streak.
    Records name this class; it keeps its module and name."""

    period_key = None
    period_start = None
    period_end = None
    met_at = None
    streak = 0
    longest = 0
    last_met_end = None


class _PeriodGoal:
    """What makes a tracker count per calendar period (a mixin before a
    ``Tracker`` class); see the module docstring and ``IPeriodTracker``."""

    _calendar = Calendar()
    _history = None
    _streak_target = None

    def _setup_period(self, period, tz, streak_target, keep_history):
        calendar = Calendar(period, tz)
        if streak_target is not None and (
                isinstance(streak_target, bool)
                or not isinstance(streak_target, int) or streak_target < 1):
            raise ValueError("streak_target must be a positive int or None, "
                             "got %r" % (streak_target,))
        if self._loop_forever:
            raise ValueError("a period tracker repeats with its periods; "
                             "loop_forever must be False")
        self._calendar = calendar
        self._streak_target = streak_target
        if keep_history:
            self._history = OOBTree()
        with_progress_class(self, PeriodProgress)

    calendar = property(lambda self: self._calendar)
    streak_target = property(lambda self: self._streak_target)
    period = property(lambda self: None if self._tally.period_key is None
                      else Period(self._tally.period_key,
                                  self._tally.period_start,
                                  self._tally.period_end))
    met = property(lambda self: self._tally.met_at is not None)
    longest_streak = property(lambda self: self._tally.longest)

    def _streak(self):
        tally = self._tally
        return streaks.Streak(tally.streak, tally.longest, tally.last_met_end)

    def streak_at(self, now_ts=None):
        now = time.time() if now_ts is None else now_ts
        start = self._tally.period_start
        if start is None or now >= self._tally.period_end:
            start = self._calendar.period_of(now).start
        return streaks.current(self._streak(), start)

    def closed_periods(self, limit=None):
        history = self._history
        if history is None:
            return []
        found = []
        for key in reversed(history.keys()):
            if limit is not None and len(found) >= limit:
                break
            found.append(history[key])
        return found

    def track(self, data, now_ts=None):
        tally = self._tally
        if tally.state > LIMITED:
            self._forbid("track")
        now = time.time() if now_ts is None else now_ts
        start = tally.period_start
        if start is not None and now < start:
            return False, ()  # late for a closed period
        rolled = None
        if start is None or now >= tally.period_end:
            rolled = self._roll(now)
        elif tally.met_at is not None:
            return False, ()  # this period's goal is met
        changed, events = super().track(data, now)
        if rolled is None:
            return changed, events
        return True, rolled + events

    due_moves_with_items = "period_end"   # an item may open the next one

    def due_at(self):
        # The open period's end (tick closes it then), if it is live.
        due = self._due_of_limits()
        tally = self._tally
        end = tally.period_end
        if tally.state <= LIMITED and tally.period_start is not None and (
                due is None or end < due):
            due = end
        return due

    def tick(self, now_ts=None):
        tally = self._tally
        now = time.time() if now_ts is None else now_ts
        if tally.state > LIMITED or tally.period_start is None or (
                now < tally.period_end):
            return False, ()
        return True, self._roll(now)

    def _roll(self, now):
        """Close the open period (if any) and open the one holding *now*."""
        period = self._calendar.period_of(now)  # may raise: before writing
        tally = self._changing()
        events = ()
        if tally.period_start is not None:
            closed = ClosedPeriod(tally.period_key, tally.period_start,
                                  tally.period_end, tally.progress,
                                  self._targets[-1], tally.met_at)
            if self._history is not None:
                self._history[closed.key] = closed
            events = (PeriodClosedEvent(self.snapshot(), closed, now),)
        tally.period_key, tally.period_start, tally.period_end = period
        tally.progress = 0
        tally.stage = 1
        tally.target = self._targets[0]
        tally.met_at = None
        if self._reset_policy & ResetPolicy.LIMITER:
            for limiter in self._limiters:
                limiter.reset(now_ts=now)
            if tally.state == LIMITED:
                tally.state = ACTIVE
        return events

    def _complete_stage(self, now):
        tally = self._changing()
        if tally.stage < len(self._targets):
            return super()._complete_stage(now)
        tally.met_at = now
        (tally.streak, tally.longest, tally.last_met_end) = streaks.met(
            self._streak(), tally.period_start, tally.period_end)
        events = (make_event(EVENT_TRACKER_STAGE_COMPLETED, self.snapshot(),
                             now),)
        target = self._streak_target
        if target is not None and tally.streak >= target:
            tally.state = COMPLETED
            tally.completed_at = now
            events += (make_event(EVENT_TRACKER_ALL_COMPLETED,
                                  self.snapshot(), now),)
        return events


@implementer(IPeriodTracker)
class PeriodTracker(_PeriodGoal, CountTracker):
    """Counts matching items per calendar period; see ``IPeriodTracker``.

    ``PeriodTracker("daily-3", conditions, 3, period="daily",
    tz="Europe/Berlin")``: three matching items a (Berlin) day.
    """

    def __init__(self, name, conditions, target, period="daily", tz="UTC",
                 streak_target=None, keep_history=True, **options):
        super().__init__(name, conditions, target, **options)
        self._setup_period(period, tz, streak_target, keep_history)


@implementer(IPeriodTracker)
class PeriodAccumulationTracker(_PeriodGoal, AccumulationTracker):
    """Adds up the number at *key* per calendar period (minutes a day,
    euros a month); see ``IPeriodTracker`` and ``AccumulationTracker``."""

    def __init__(self, name, conditions, target, key, period="daily",
                 tz="UTC", streak_target=None, keep_history=True, **options):
        super().__init__(name, conditions, target, key, **options)
        self._setup_period(period, tz, streak_target, keep_history)

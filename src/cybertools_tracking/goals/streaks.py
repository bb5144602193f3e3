"""Streaks: how many calendar periods in a row met their goal.

The rule, kept apart from the period trackers that use it so that it can be
read (and tested against a brute-force count) on its own:

* Two periods are consecutive when one starts where the other ends.  Period
  bounds come from one ``Calendar`` (``periods.py``), so the end of a day
  and the start of the next are the very same number, in any time zone and
  across daylight-saving changes.
* When a period is met, the streak grows by one if the last met period
  ended where this one starts, else it starts again at 1.  ``longest`` is
  the largest streak ever reached.  A period is counted once, when it is
  met (the tracker stops counting in a met period).
* The *current* streak at a moment is the streak if the last met period is
  the open period or the one just before it (the streak is still alive: the
  open period may yet be met), else 0: a period closed without being met
  broke it.

State is three numbers: ``(streak, longest, last_met_end)``, kept in the
period tracker's progress record.  This is how habit apps and learning
platforms count "days in a row": a day missed resets the count, and today
does not break it before it is over.
"""

__all__ = ["Streak", "NO_STREAK", "met", "current"]

from collections import namedtuple

Streak = namedtuple("Streak", "streak longest last_met_end")
Streak.__doc__ = """\
A streak's state: the length of the last run of met periods, the longest
run, and the end (seconds UTC) of the last met period (None: none yet)."""

NO_STREAK = Streak(0, 0, None)


def met(state, period_start, period_end):
    """The state after the period ``[period_start, period_end)`` was met."""
    streak = state.streak + 1 if state.last_met_end == period_start else 1
    return Streak(streak, max(streak, state.longest), period_end)


def current(state, open_start):
    """The current streak when the open period starts at *open_start*."""
    last = state.last_met_end
    if last is None or last < open_start:
        return 0
    return state.streak

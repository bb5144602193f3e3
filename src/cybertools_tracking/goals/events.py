"""Goal events: codes and classes as in dictrack, plus zope.interface types.

See ``IGoalEvent`` for how events are delivered.
"""

import time

from zope.interface import implementer

from cybertools_tracking.goals.interfaces import IAllCompletedEvent
from cybertools_tracking.goals.interfaces import IGoalEvent
from cybertools_tracking.goals.interfaces import ILimitedEvent
from cybertools_tracking.goals.interfaces import IResetEvent
from cybertools_tracking.goals.interfaces import IStageCompletedEvent
from cybertools_tracking.goals.interfaces import IPeriodClosedEvent
from cybertools_tracking.goals.interfaces import ITrackerAddedEvent
from cybertools_tracking.goals.interfaces import ITrackerExpiredEvent
from cybertools_tracking.goals.interfaces import ITrackerFailedEvent

__all__ = [
    "EVENT_TRACKER_ADDED", "EVENT_TRACKER_STAGE_COMPLETED",
    "EVENT_TRACKER_ALL_COMPLETED", "EVENT_TRACKER_RESET",
    "EVENT_TRACKER_LIMITED", "EVENT_ALL",
    "BaseEvent", "TrackerEvent", "LimitedTrackerEvent",
    "TrackerAddedEvent", "StageCompletedEvent", "AllCompletedEvent",
    "ResetEvent", "LimitedEvent", "make_event",
]

EVENT_TRACKER_ADDED = 1001
EVENT_TRACKER_STAGE_COMPLETED = 1002
EVENT_TRACKER_ALL_COMPLETED = 1003
EVENT_TRACKER_RESET = 1004
EVENT_TRACKER_LIMITED = 1005
EVENT_ALL = (
    EVENT_TRACKER_ADDED, EVENT_TRACKER_STAGE_COMPLETED,
    EVENT_TRACKER_ALL_COMPLETED, EVENT_TRACKER_RESET, EVENT_TRACKER_LIMITED,
)


class BaseEvent:
    """An event with a code and a timestamp."""

    def __init__(self, code, timestamp=None):
        self.code = code
        self.timestamp = time.time() if timestamp is None else timestamp

    @property
    def event_ts(self):
        """dictrack's name for ``timestamp``."""
        return self.timestamp

    def __repr__(self):
        return "<%s (code=%s)>" % (type(self).__name__, self.code)


@implementer(IGoalEvent)
class TrackerEvent(BaseEvent):
    """Something happened to a tracker; ``tracker`` is a snapshot."""

    def __init__(self, code, group_id, name, tracker, timestamp=None):
        super().__init__(code, timestamp)
        self.group_id = group_id
        self.name = name
        self.tracker = tracker

    def __repr__(self):
        return "<%s (code=%s group_id=%s name=%s tracker=%r)>" % (
            type(self).__name__, self.code, self.group_id, self.name,
            self.tracker)


@implementer(ITrackerAddedEvent)
class TrackerAddedEvent(TrackerEvent):
    """See ``ITrackerAddedEvent``."""


@implementer(IStageCompletedEvent)
class StageCompletedEvent(TrackerEvent):
    """See ``IStageCompletedEvent``."""


@implementer(IAllCompletedEvent)
class AllCompletedEvent(TrackerEvent):
    """See ``IAllCompletedEvent``."""


@implementer(IResetEvent)
class ResetEvent(TrackerEvent):
    """See ``IResetEvent``."""


@implementer(ILimitedEvent)
class LimitedTrackerEvent(TrackerEvent):
    """A limiter stopped the tracker; ``limiter`` is a detached copy."""

    def __init__(self, code, group_id, name, tracker, limiter,
                 timestamp=None):
        super().__init__(code, group_id, name, tracker, timestamp)
        self.limiter = limiter

    def __repr__(self):
        return "<%s (code=%s group_id=%s name=%s tracker=%r limiter=%r)>" % (
            type(self).__name__, self.code, self.group_id, self.name,
            self.tracker, self.limiter)


class LimitedEvent(LimitedTrackerEvent):
    """See ``ILimitedEvent``."""


_CLASSES = {
    EVENT_TRACKER_ADDED: TrackerAddedEvent,
    EVENT_TRACKER_STAGE_COMPLETED: StageCompletedEvent,
    EVENT_TRACKER_ALL_COMPLETED: AllCompletedEvent,
    EVENT_TRACKER_RESET: ResetEvent,
}


def make_event(code, snapshot, timestamp=None, limiter=None):
    """Create the event of kind *code* about the tracker in *snapshot*."""
    if code == EVENT_TRACKER_LIMITED:
        return LimitedEvent(code, snapshot.group_id, snapshot.name, snapshot,
                            limiter, timestamp)
    return _CLASSES[code](code, snapshot.group_id, snapshot.name, snapshot,
                          timestamp)


# -- issue 12: events of time-driven and composite goals (appended) ----------
#
# Codes from 1011 on, so that dictrack's range (1001-1005) and codes other
# additions take after it stay apart.

EVENT_PERIOD_CLOSED = 1011
EVENT_TRACKER_FAILED = 1012
EVENT_TRACKER_EXPIRED = 1013
#: Every code a listener may be added for: dictrack's (``EVENT_ALL``, kept
#: as dictrack has it) and those added here.
EVENT_CODES = EVENT_ALL + (
    EVENT_PERIOD_CLOSED, EVENT_TRACKER_FAILED, EVENT_TRACKER_EXPIRED)
__all__ += ["EVENT_PERIOD_CLOSED", "EVENT_TRACKER_FAILED",
            "EVENT_TRACKER_EXPIRED", "EVENT_CODES", "PeriodClosedEvent",
            "FailedEvent", "ExpiredEvent"]


@implementer(IPeriodClosedEvent)
class PeriodClosedEvent(TrackerEvent):
    """See ``IPeriodClosedEvent``; ``period`` is the ``ClosedPeriod``."""

    def __init__(self, snapshot, period, timestamp=None):
        super().__init__(EVENT_PERIOD_CLOSED, snapshot.group_id,
                         snapshot.name, snapshot, timestamp)
        self.period = period


@implementer(ITrackerFailedEvent)
class FailedEvent(TrackerEvent):
    """See ``ITrackerFailedEvent``."""


@implementer(ITrackerExpiredEvent)
class ExpiredEvent(TrackerEvent):
    """See ``ITrackerExpiredEvent``."""


_CLASSES[EVENT_TRACKER_FAILED] = FailedEvent
_CLASSES[EVENT_TRACKER_EXPIRED] = ExpiredEvent

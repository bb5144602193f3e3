"""Goals: conditions, trackers and limiters evaluated against data items.

The dictrack feature set, kept in ZODB and made transactional.  The narrative
documentation is in ``doctests/goals-*.txt``; the contracts are in
``cybertools_tracking.goals.interfaces``.
"""

from cybertools_tracking.goals.conditions import All
from cybertools_tracking.goals.conditions import Any
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.conditions import KeyNotExists
from cybertools_tracking.goals.conditions import KeyValueContained
from cybertools_tracking.goals.conditions import KeyValueEQ
from cybertools_tracking.goals.conditions import KeyValueGE
from cybertools_tracking.goals.conditions import KeyValueGT
from cybertools_tracking.goals.conditions import KeyValueInList
from cybertools_tracking.goals.conditions import KeyValueLE
from cybertools_tracking.goals.conditions import KeyValueListHasItem
from cybertools_tracking.goals.conditions import KeyValueListHasNotItem
from cybertools_tracking.goals.conditions import KeyValueLT
from cybertools_tracking.goals.conditions import KeyValueNE
from cybertools_tracking.goals.conditions import KeyValueNotContained
from cybertools_tracking.goals.conditions import KeyValueNotInList
from cybertools_tracking.goals.conditions import Not
from cybertools_tracking.goals.events import EVENT_ALL
from cybertools_tracking.goals.events import EVENT_TRACKER_ADDED
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.events import EVENT_TRACKER_LIMITED
from cybertools_tracking.goals.events import EVENT_TRACKER_RESET
from cybertools_tracking.goals.events import EVENT_TRACKER_STAGE_COMPLETED
from cybertools_tracking.goals.interfaces import ComponentInUseError
from cybertools_tracking.goals.interfaces import CompositeOutOfReachError
from cybertools_tracking.goals.interfaces import ConflictingNameError
from cybertools_tracking.goals.interfaces import GoalError
from cybertools_tracking.goals.interfaces import GroupIdAlreadySetError
from cybertools_tracking.goals.interfaces import TrackerAlreadyCompletedError
from cybertools_tracking.goals.interfaces import TrackerAlreadyRemovedError
from cybertools_tracking.goals.interfaces import TrackerLookupError
from cybertools_tracking.goals.interfaces import TrackerStateError
from cybertools_tracking.goals.limiters import CountLimiter
from cybertools_tracking.goals.limiters import TimeLimiter
from cybertools_tracking.goals.manager import MemoryDataCache
from cybertools_tracking.goals.manager import TrackingManager
from cybertools_tracking.goals.manager import TrackResult
from cybertools_tracking.goals.registry import GoalRegistry
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker
from cybertools_tracking.goals.trackers import ResetPolicy
from cybertools_tracking.goals.history import GoalHistory  # noqa: E402
from cybertools_tracking.goals.history import Outcome  # noqa: E402
from cybertools_tracking.goals.leaderboard import FixedPeriod  # noqa: E402
from cybertools_tracking.goals.leaderboard import Leaderboard  # noqa: E402

__all__ = [
    # conditions
    "KeyExists", "KeyNotExists", "KeyValueEQ", "KeyValueNE", "KeyValueLT",
    "KeyValueLE", "KeyValueGT", "KeyValueGE", "KeyValueContained",
    "KeyValueNotContained", "KeyValueInList", "KeyValueNotInList",
    "KeyValueListHasItem", "KeyValueListHasNotItem", "All", "Any", "Not",
    # trackers and limiters
    "CountTracker", "AccumulationTracker", "ResetPolicy",
    "CountLimiter", "TimeLimiter",
    # the manager
    "TrackingManager", "TrackResult", "MemoryDataCache", "GoalRegistry",
    # events
    "EVENT_TRACKER_ADDED", "EVENT_TRACKER_STAGE_COMPLETED",
    "EVENT_TRACKER_ALL_COMPLETED", "EVENT_TRACKER_RESET",
    "EVENT_TRACKER_LIMITED", "EVENT_ALL",
    # errors
    "GoalError", "TrackerStateError", "TrackerAlreadyCompletedError",
    "TrackerAlreadyRemovedError", "ConflictingNameError",
    "GroupIdAlreadySetError", "TrackerLookupError",
    "ComponentInUseError", "CompositeOutOfReachError",
    # history (issue 12)
    "GoalHistory", "Outcome",
    # leaderboards (issue 12)
    "Leaderboard", "FixedPeriod",
]

# -- issue 12: time and composite goals (appended) ---------------------------
from cybertools_tracking.goals.limiters import DeadlineLimiter  # noqa: E402
from cybertools_tracking.goals.limiters import SlidingWindowLimiter  # noqa: E402,E501
from cybertools_tracking.goals.ticks import TickResult  # noqa: E402
from cybertools_tracking.goals.periods import Calendar  # noqa: E402
from cybertools_tracking.goals.periods import PeriodAccumulationTracker  # noqa: E402,E501
from cybertools_tracking.goals.periods import PeriodTracker  # noqa: E402
from cybertools_tracking.goals.windows import WindowTracker  # noqa: E402
from cybertools_tracking.goals.composite import CompositeTracker  # noqa: E402
from cybertools_tracking.goals.composite import SequenceTracker  # noqa: E402
from cybertools_tracking.goals.composite import all_of  # noqa: E402
from cybertools_tracking.goals.composite import any_of  # noqa: E402
from cybertools_tracking.goals.composite import n_of  # noqa: E402
from cybertools_tracking.goals.composite import rollup  # noqa: E402
from cybertools_tracking.goals.events import EVENT_CODES  # noqa: E402
from cybertools_tracking.goals.events import EVENT_PERIOD_CLOSED  # noqa: E402
from cybertools_tracking.goals.events import EVENT_TRACKER_EXPIRED  # noqa: E402,E501
from cybertools_tracking.goals.events import EVENT_TRACKER_FAILED  # noqa: E402

__all__ += [
    "WindowTracker", "SlidingWindowLimiter", "Calendar", "PeriodTracker",
    "PeriodAccumulationTracker", "EVENT_PERIOD_CLOSED",
    "EVENT_TRACKER_FAILED", "EVENT_TRACKER_EXPIRED", "EVENT_CODES",
    "CompositeTracker", "SequenceTracker", "all_of", "any_of", "n_of",
    "rollup", "DeadlineLimiter", "TickResult",
]

"""Time-driven evaluation: what the passing of time alone does to goals.

See ``ITickingManager.tick``.  Items move goals forward as they come; some
changes need no item: a calendar period ends, a deadline passes, a tracker
expires, a roll-up's members moved on in other groups.  ``run`` makes those
changes for a registry at one moment, in the caller's transaction, and
hands every event to *dispatch* (the manager's, so listeners hear them as
they hear those of ``track``).  A nightly job, a cron entry or the CLI's
``goals tick`` calls it; calling it twice at one time changes nothing the
second time.

The order matters and is fixed: expiry first (an expired tracker neither
fails nor closes a period), then deadlines, then period trackers, and
composites last, in rounds until none changes, because a composite reads
the trackers the earlier steps changed, and a roll-up may read roll-ups.

A full tick visits only the groups the index of due times (``due.py``)
holds at or before *now* (every group with a live composite is among
them), and refreshes their entries afterwards; ``group_ids`` names the
groups instead.  A registry made before the index (or before the sharded
map of groups) is upgraded by its first full tick (``upgrade.py``).
"""

from collections import namedtuple
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from cybertools_tracking.goals.due import refresh as refresh_due
from cybertools_tracking.goals.events import EVENT_TRACKER_EXPIRED
from cybertools_tracking.goals.events import EVENT_TRACKER_FAILED
from cybertools_tracking.goals.events import make_event
from cybertools_tracking.goals.interfaces import ICompositeTracker
from cybertools_tracking.goals.interfaces import IDeadlineLimiter
from cybertools_tracking.goals.interfaces import ITimeDriven
from cybertools_tracking.goals.registry import GroupMap
from cybertools_tracking.goals.upgrade import upgrade_registry

__all__ = ["TickResult", "run"]

TickResult = namedtuple("TickResult", "closed failed expired changed")
TickResult.__doc__ = """\
What ``tick`` did: lists of trackers.  ``closed``: period trackers that
closed a period; ``failed``: trackers failed for a passed deadline;
``expired``: trackers removed for their expiry time; ``changed``: every
tracker whose state changed, in the order it did."""


# Calendars must show the periods around *now* (a month on either side) in
# any time zone: checked once, before anything is written.
_MARGIN = timedelta(days=40)


def _check_now(now):
    try:
        moment = datetime.fromtimestamp(now, timezone.utc)
        moment - _MARGIN, moment + _MARGIN
    except (TypeError, ValueError, OverflowError, OSError):
        raise ValueError("now_ts must be a time in seconds since the epoch "
                         "between the years 1 and 9999, got %r" % (now,)) \
            from None


def _deadline_passed(tracker, now):
    return any(IDeadlineLimiter.providedBy(limiter) and limiter.passed(now)
               for limiter in tracker.limiters)


def _groups(registry, group_ids, now):
    if group_ids is None:
        # Only the groups the index of due times has at or before *now*
        # (due.py); a registry from before the index gets it now.
        index = registry.due
        if index is None or type(registry.groups) is not GroupMap:
            upgrade_registry(registry)
            index = registry.due
        groups = registry.groups
        return [(group_id, groups[group_id])
                for group_id in index.due(now)]
    if isinstance(group_ids, str) or not isinstance(group_ids,
                                                     (list, tuple, set)):
        raise TypeError("group_ids must be a list of group ids or None, "
                        "got %r" % (group_ids,))
    found = []
    for group_id in group_ids:
        group = registry.get(group_id)
        if group is not None:
            found.append((group_id, group))
    return found


def run(registry, now, dispatch, group_ids=None):
    """Tick every group of *registry* (or those of *group_ids*) at *now*.

    Returns ``(TickResult, changed)`` where *changed* says whether any
    persistent state changed.
    """
    _check_now(now)
    result = TickResult([], [], [], [])
    if registry is None:
        return result, False
    seen = set()  # ids of the trackers in result.changed
    composites = []
    visited = _groups(registry, group_ids, now)
    for group_id, group in visited:
        removed = False
        for tracker in list(group.live.values()) + list(group.done.values()):
            if tracker.is_expired(now):
                _remove(group, tracker, EVENT_TRACKER_EXPIRED, now, dispatch,
                        result.expired, result)
                removed = True
        for tracker in list(group.live.values()):
            if tracker.limiters and _deadline_passed(tracker, now):
                _remove(group, tracker, EVENT_TRACKER_FAILED, now, dispatch,
                        result.failed, result)
                removed = True
            elif ICompositeTracker.providedBy(tracker):
                composites.append((group, tracker))
            elif ITimeDriven.providedBy(tracker):
                if _tick(group, tracker, now, dispatch, result, seen):
                    result.closed.append(tracker)
        if removed:
            registry.prune(group_id)
    # Composites, in rounds: one that changed may move another.  Each
    # round that changes something completes a stage or changes progress;
    # as many rounds as composites (plus one) settle any nesting.
    for _ in range(len(composites) + 1):
        moved = False
        for group, tracker in composites:
            if tracker.active and _tick(group, tracker, now, dispatch,
                                        result, seen):
                moved = True
        if not moved:
            break
    for group_id, _ in visited:
        refresh_due(registry, group_id)
    return result, bool(result.changed)


def _remove(group, tracker, code, now, dispatch, found, result):
    group.discard(tracker.name)
    tracker._set_removed()
    found.append(tracker)
    result.changed.append(tracker)
    dispatch(make_event(code, tracker.snapshot(), now))


def _tick(group, tracker, now, dispatch, result, seen):
    changed, events = tracker.tick(now)
    if not changed:
        return False
    if id(tracker) not in seen:
        seen.add(id(tracker))
        result.changed.append(tracker)
    if tracker.completed:
        group.put(tracker)  # moves it to the group's completed ones
    for event in events:
        dispatch(event)
    return True

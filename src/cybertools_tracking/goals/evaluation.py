"""The hot loop: one data item offered to the live trackers of one group.

Everything ``TrackingManager.track`` does per item is here, and nothing
else: choosing the candidates (``candidates.py``), evaluating them in the
order they were added, moving completed trackers aside, removing expired
ones, and dispatching the events; a completion or a period tracker's
move refreshes the group's entry in the index of due times (``due.py``).
The loop reads the tracker's progress record (``_tally``) directly: it
runs once per tracker per item, and a property per access costs more than
the rest of a non-matching evaluation.
"""

from collections import namedtuple
from collections.abc import Mapping as _Mapping

from cybertools_tracking.goals.checks import now as _now
from cybertools_tracking.goals.conditions import MISSING
from cybertools_tracking.goals.due import refresh as refresh_due
from cybertools_tracking.goals.trackers import COMPLETED
from cybertools_tracking.goals.trackers import LIMITED
from cybertools_tracking.goals.trackers import REMOVED

__all__ = ["TrackResult", "evaluate", "NOTHING"]

TrackResult = namedtuple("TrackResult", "ok dirtied completed limited")
TrackResult.__doc__ = """\
What ``track`` did; unpacks like dictrack's ``(ok, dirtied, completed,
limited)``.  ``ok`` is always True: failures raise instead."""

# ``TrackResult(...)`` goes through a Python-level ``__new__``; the hot path
# builds its results directly.
_new_tuple = tuple.__new__


def NOTHING():
    """A fresh result of an item that changed nothing (lists are the
    caller's to keep)."""
    return _new_tuple(TrackResult, (True, [], [], []))


def evaluate(registry, group_id, data, now_ts, dispatch, cause=None):
    """Offer *data* to the live trackers of *group_id* in *registry*.

    Returns ``(TrackResult, changed)``; *changed* says whether anything
    persistent changed (a tracker moved, completed or expired).  *registry*
    may be None (no goals yet).  *dispatch* (a ``Dispatcher``) gets the
    events of each evaluation as they happen, with *cause* (the id of what
    caused them, e.g. a track), and the trackers that expired.  Raises
    TypeError if *data* is not a mapping (checked before anything is read
    or written).
    """
    # Iterating the group's trackers directly is safe because the group
    # replaces its ``live`` dict instead of changing it, so the candidates
    # chosen here stay those of the item's start.
    if type(data) is not dict and not isinstance(data, _Mapping):
        raise TypeError("data must be a dict (or another mapping), "
                        "got %r (%s)" % (data, type(data).__name__))
    if registry is None:
        return NOTHING(), False
    group = registry.groups.get(group_id)
    if group is None:
        return NOTHING(), False
    candidates = group._v_candidates
    if candidates is None or candidates.live is not group.live:
        candidates = group.candidates()
    pending, key, probe = candidates.select(data)
    expiring = candidates.expiring
    now = _now(now_ts)
    dirtied, completed, limited = [], [], []
    expired = None
    due_moved = False  # the group's entry in the index of due times
    while pending:
        rest = ()
        for tracker in pending:
            tally = tracker._tally
            if tally.state > LIMITED:
                continue  # removed or completed by a listener meanwhile
            if expiring:
                expire_at = tracker._expire_at
                if expire_at is not None and now >= expire_at:
                    if expired is None:
                        expired = []
                    expired.append(tracker)
                    continue
            moves = tracker.due_moves_with_items
            if moves:
                due = getattr(tally, moves)
            changed, events = tracker.track(data, now)
            if changed:
                dirtied.append(tracker)
                state = tally.state
                if state == COMPLETED:
                    completed.append(tracker)
                    group.put(tracker)  # moves it to the completed ones
                    due_moved = True
                elif moves and getattr(tally, moves) != due:
                    due_moved = True  # a period tracker opened a period
                if events:
                    dispatch.events(events, cause)
                if state == LIMITED:
                    limited.append(tracker)
            elif tally.state == LIMITED:
                limited.append(tracker)
            if key is not None and data.get(key, MISSING) is not probe:
                # Code run by this evaluation (a listener, a limiter, a
                # condition) changed the value the candidates were
                # chosen by: offer the item to every tracker left.
                rest, key = candidates.remaining(tracker), None
                break
        pending = rest
    if expired:
        expired = [t for t in expired if t._tally.state != REMOVED]
        for tracker in expired:
            group.discard(tracker.name)
            tracker._set_removed()
        dispatch.expired(expired, now)
        registry.prune(group_id)
        dispatch.scored(registry, expired, now)
        due_moved = True
    if due_moved:
        refresh_due(registry, group_id)
    if dirtied:
        dispatch.scored(registry, dirtied, now)
    return (_new_tuple(TrackResult, (True, dirtied, completed, limited)),
            bool(dirtied or expired))

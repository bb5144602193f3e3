"""Tracker bookkeeping: adding, finding, replacing, resetting and removing
the trackers of a ``GoalRegistry``.

Functions of a registry and their arguments, no state of their own; the
manager (``manager.py``) finds the registry, checks what it was given, runs
one of these and decides about committing.  Each function that can refuse
does all its checks before its first write, so a raising call leaves the
registry as it was.  Times are seconds since the epoch (UTC).
"""

from cybertools_tracking.goals.checks import check_name
from cybertools_tracking.goals.due import ALWAYS
from cybertools_tracking.goals.due import refresh as refresh_due
from cybertools_tracking.goals.checks import check_text
from cybertools_tracking.goals.checks import check_time
from cybertools_tracking.goals.events import EVENT_TRACKER_ADDED
from cybertools_tracking.goals.events import make_event
from cybertools_tracking.goals.interfaces import ComponentInUseError
from cybertools_tracking.goals.interfaces import CompositeOutOfReachError
from cybertools_tracking.goals.interfaces import ConflictingNameError
from cybertools_tracking.goals.interfaces import GroupIdAlreadySetError
from cybertools_tracking.goals.interfaces import ICompositeTracker
from cybertools_tracking.goals.interfaces import ITracker
from cybertools_tracking.goals.interfaces import TrackerAlreadyCompletedError
from cybertools_tracking.goals.interfaces import TrackerAlreadyRemovedError
from cybertools_tracking.goals.interfaces import TrackerLookupError

__all__ = ["expiry", "check_new", "place", "find", "replace", "remove",
           "composites_using", "check_remove", "settle",
           "forget_in_finished",
           "remove_expired", "reset", "flush", "group_of", "redefine",
           "by_hand", "POLICIES"]

#: What ``redefine`` may do with the progress (see IVersionedTracker).
POLICIES = ("keep", "restart")


def group_of(registry, group_id):
    """The ``GoalGroup`` of *group_id*, or None (also if no registry)."""
    return registry.get(group_id) if registry is not None else None


def expiry(now, expire=None, expire_at=None):
    """The expiry time from *expire* (seconds after *now*) or *expire_at*
    (a time), or None; ValueError if both are given."""
    if expire is not None and expire_at is not None:
        raise ValueError("give expire or expire_at, not both (got %r "
                         "and %r)" % (expire, expire_at))
    if expire is not None:
        return now + check_time("expire", expire)
    if expire_at is not None:
        return check_time("expire_at", expire_at)
    return None


def check_tracker(tracker):
    if not ITracker.providedBy(tracker):
        raise TypeError("tracker must provide ITracker, got %r"
                        % (tracker,))
    return tracker


def check_new(group_id, group, trackers):
    """Refuse *trackers* that cannot be added to *group* (may be None)."""
    names = set()
    for tracker in trackers:
        check_tracker(tracker)
        if tracker.removed:
            raise TrackerAlreadyRemovedError(group_id, tracker.name, "add")
        if tracker.completed:
            raise TrackerAlreadyCompletedError(group_id, tracker.name, "add")
        if tracker.group_id is not None and tracker.group_id != group_id:
            raise GroupIdAlreadySetError(tracker.group_id, group_id)
        if tracker.name in names or (
                group is not None and tracker.name in group.live):
            raise ConflictingNameError(group_id, tracker.name)
        names.add(tracker.name)


def place(registry, group_id, trackers, expire_at, now, dispatch):
    """Put checked *trackers* into the group and announce each (1001).

    A completed tracker of the same name is replaced (and marked removed).
    A composite measures its components at once (after all *trackers* are
    in: it may be made of some of them), so one over components that
    completed before it was added starts where they are, and completes
    now if they are enough.
    """
    group = registry.setdefault(group_id)
    for tracker in trackers:
        previous = group.find(tracker.name)
        if previous is not None:
            previous._set_removed()
        tracker._place(group_id, expire_at)
        group.put(tracker)
        dispatch(make_event(EVENT_TRACKER_ADDED, tracker.snapshot(), now))
    for tracker in trackers:
        if ICompositeTracker.providedBy(tracker):
            changed, events = tracker.tick(now)
            if tracker.completed:
                group.put(tracker)  # to the completed ones
            dispatch.events(events)
    refresh_due(registry, group_id)
    dispatch.scored(registry, trackers, now)  # on their boards


def find(registry, group_id, name, include_completed, now):
    """The group's trackers named *name* (None: all), not expired at *now*.
    """
    group = group_of(registry, group_id)
    if group is None:
        return []
    if name is None:
        found = list(group.live.values())
        if include_completed:
            found.extend(group.done.values())
    else:
        names = [name] if isinstance(name, str) else name
        pools = (group.live, group.done) if include_completed else (
            group.live,)
        found = []
        for n in names:
            for pool in pools:
                if n in pool:
                    found.append(pool[n])
                    break
    return [t for t in found if not t.is_expired(now)]


def replace(registry, group_id, tracker):
    """Store *tracker* in place of the one of its name; True if changed."""
    check_tracker(tracker)
    group = group_of(registry, group_id)
    existing = group.find(tracker.name) if group is not None else None
    if existing is None:
        raise TrackerLookupError(group_id, tracker.name)
    if existing is tracker:
        return False
    if tracker.removed:
        raise TrackerAlreadyRemovedError(group_id, tracker.name, "store")
    if tracker.group_id is not None and tracker.group_id != group_id:
        raise GroupIdAlreadySetError(tracker.group_id, group_id)
    tracker._place(group_id, existing.expire_at)
    existing._set_removed()
    group.put(tracker)
    refresh_due(registry, group_id)
    return True


def composites_using(registry, trackers):
    """``[(group id, composite, [its components among trackers])]``: the
    live composites, other than *trackers* themselves, that use any of
    *trackers*, by group id and name.

    A live composite is always due (``due.ALWAYS``), so the index of due
    times names every group that can hold one: the search reads those
    groups, not every group.  A registry from before the index is read
    whole.
    """
    if registry is None or not trackers:
        return []
    wanted = {id(t): t for t in trackers}
    index = registry.due
    if index is not None:
        group_ids = index.due(ALWAYS)
    else:
        group_ids = sorted(registry.groups.keys())
    found = []
    for group_id in group_ids:
        group = registry.get(group_id)
        if group is None:
            continue
        for name in sorted(group.live):
            tracker = group.live[name]
            if id(tracker) in wanted or not ICompositeTracker.providedBy(
                    tracker):
                continue
            parts = [c for c in tracker.components if id(c) in wanted]
            if parts:
                found.append((group_id, tracker, parts))
    return found


def check_remove(registry, group_id, name, detach=False, erase=False):
    """Refuse to remove the named trackers of the group (None: all) as
    ``remove`` would; return the names, the composites using them (see
    ``composites_using``) and, with *erase*, the composites to drop
    (``[(group id, composite)]``, see ``out_of_reach``).  Writes
    nothing."""
    group = group_of(registry, group_id)
    if group is None:
        return [], [], []
    if name is None:
        names = list(group.live) + list(group.done)
    else:
        names = [name] if isinstance(name, str) else list(name)
    leaving = [t for t in (group.find(n) for n in names) if t is not None]
    users = composites_using(registry, leaving)
    if users and not detach:
        tracker = users[0][2][0]
        raise ComponentInUseError(
            group_id, tracker.name,
            [(g, c.name) for g, c, parts in users
             if any(p is tracker for p in parts)])
    dropped = []
    if erase:
        dropped, users = out_of_reach(registry, leaving, users)
    for user_group, composite, parts in users:
        composite.check_remove_components(parts)
    return names, users, dropped


def forget_in_finished(registry, leaving):
    """For an erasure: take *leaving* out of every composite that is no
    longer live (``forget_components``); return how many changed.

    ``remove`` takes a forgotten group's trackers out of the live
    composites; a completed one kept them as its components, and with
    them the group's id and progress, reachable (and never packed
    away) for as long as the composite stays.  Those are in any group's
    completed trackers, which no index names: every group is read, as
    befits an erasure, which is rare."""
    wanted = {id(t) for t in leaving}
    if registry is None or not wanted:
        return 0
    changed = 0
    for group_id, group in registry.groups.items():
        for tracker in list(group.done.values()):
            if not ICompositeTracker.providedBy(tracker) or tracker.active:
                continue
            parts = [c for c in tracker.components if id(c) in wanted]
            if parts:
                tracker.forget_components(*parts)
                changed += 1
    return changed


def out_of_reach(registry, leaving, users):
    """For an erasure: the live composites that taking *leaving* out would
    leave unable to complete (no components, or fewer than an ``n_of``
    target), and the composites using those, and so on; returns
    ``(dropped, users)``: the composites to remove (``[(group id,
    composite)]``) and the others to take components out of, as
    ``composites_using`` names them.

    The right to erasure is not refused for a goal of another group (a
    team's roll-up over its only member): such a composite is removed
    with the member, as ``remove_tracker`` removes a goal; its history
    records stay (they are the team's).  A composite that waited for ever
    on parts that are gone would be the alternative; an ``all_of`` left
    with none would even complete with nothing done."""
    dropped, seen = [], set()
    while True:
        more = []
        for group_id, composite, parts in users:
            if id(composite) in seen:
                continue
            try:
                composite.check_remove_components(parts)
            except CompositeOutOfReachError:
                seen.add(id(composite))
                more.append((group_id, composite))
        if not more:
            return dropped, [u for u in users if id(u[1]) not in seen]
        dropped += more
        users = composites_using(
            registry, list(leaving) + [c for g, c in dropped])


def remove(registry, group_id, name, detach=False, now=None,
           dispatch=None, erase=False):
    """Take the named trackers (None: all of the group) out; return
    ``(removed, composites)``: the trackers, and the composites they were
    taken out of (*detach*), which were then evaluated at *now* with
    their events sent to *dispatch*.

    A tracker that a live composite uses (one not removed by this call)
    is refused (``ComponentInUseError``) unless *detach*; a composite it would leave
    out of reach is refused either way (``CompositeOutOfReachError``);
    with *erase* (``forget_group``) it is removed too, and returned among
    the removed (see ``out_of_reach``).  Both before the first write.
    """
    group = group_of(registry, group_id)
    if group is None:
        return [], []
    names, users, dropped = check_remove(registry, group_id, name, detach,
                                         erase)
    removed = []
    for n in names:
        tracker = group.discard(n)
        if tracker is not None:
            tracker._set_removed()
            removed.append(tracker)
    registry.prune(group_id)
    if removed:
        refresh_due(registry, group_id)
    for other_id, composite in dropped:
        if registry.get(other_id).discard(composite.name) is not None:
            composite._set_removed()
            removed.append(composite)
            registry.prune(other_id)
            refresh_due(registry, other_id)
    for user_group, composite, parts in users:
        composite.remove_components(*parts)
    return removed, settle(registry, [(g, c) for g, c, parts in users],
                           now, dispatch)


def settle(registry, composites, now, dispatch=None):
    """Evaluate *composites* (``[(group id, composite)]``) at *now*, then
    the live composites over those that changed, and so on (a school's
    roll-up over a team's); return every composite that changed.  As
    ``tick`` does, in rounds, at most one per composite."""
    changed_all, seen = [], set()
    limit = len(composites) + 1
    while composites and limit:
        limit -= 1
        moved = []
        for group_id, composite in composites:
            if not composite.active:
                continue
            changed, events = composite.tick(now)
            if not changed:
                continue
            moved.append(composite)
            if id(composite) not in seen:
                seen.add(id(composite))
                changed_all.append(composite)
            if composite.completed:
                registry.get(group_id).put(composite)  # to the completed
                refresh_due(registry, group_id)
            if dispatch is not None:
                dispatch.events(events)
        composites = [(g, c) for g, c, parts in
                      composites_using(registry, moved)]
        # A round more for each composite not seen yet: bounded, even
        # over composites that were made to use each other.
        limit += sum(1 for g, c in composites if id(c) not in seen)
    return changed_all


def remove_expired(registry, now):
    """Remove every tracker of every group expired at *now*; return them."""
    if registry is None:
        return []
    removed = []
    if registry.due is not None:
        # Every group with an expiry at or before *now* is due by then.
        groups = [(group_id, registry.groups[group_id])
                  for group_id in registry.due.due(now)]
    else:
        groups = list(registry.groups.items())
    for group_id, group in groups:
        gone = False
        for tracker in list(group.live.values()) + list(
                group.done.values()):
            if tracker.is_expired(now):
                group.discard(tracker.name)
                tracker._set_removed()
                removed.append(tracker)
                gone = True
        registry.prune(group_id)
        if gone:
            refresh_due(registry, group_id)
    return removed


def reset(registry, group_id, name, policy, now, options, dispatch):
    """Reset the named tracker and dispatch its events; False if there is
    no such tracker (or it expired)."""
    check_name(name)
    group = group_of(registry, group_id)
    tracker = group.find(name) if group is not None else None
    if tracker is None or tracker.is_expired(now):
        return False
    events = tracker.reset(policy, now, **options)
    refresh_due(registry, group_id)   # a reset may move a deadline
    dispatch.events(events)
    return True


def flush(registry):
    """Remove every tracker of every group; False if there was nothing."""
    if registry is None:
        return False
    for group in registry.groups.values():
        for tracker in list(group.live.values()) + list(
                group.done.values()):
            tracker._set_removed()
    registry.clear()
    return True


def redefine(registry, group_id, tracker, policy, now, dispatch):
    """Put *tracker* in place of the group's tracker of its name as the
    next version of its definition, by *policy* (see POLICIES)."""
    if policy not in POLICIES:
        raise ValueError("policy must be one of %s, got %r"
                         % (", ".join(map(repr, POLICIES)), policy))
    check_tracker(tracker)
    group = group_of(registry, group_id)
    old = group.find(tracker.name) if group is not None else None
    if old is None:
        raise TrackerLookupError(group_id, tracker.name)
    if tracker.group_id is not None and tracker.group_id != group_id:
        raise GroupIdAlreadySetError(tracker.group_id, group_id)
    if policy == "keep":
        tracker.take_over(old)   # checks before it changes anything
    else:
        tracker.succeed(old)
    replace(registry, group_id, tracker)
    dispatch.scored(registry, [tracker], now)


def by_hand(registry, group_id, name, kind, grantor, reason, now,
            dispatch):
    """Grant (*kind* ``granted``) the current stage of the live tracker
    *name*, or revoke (``revoked``) the last completed stage of the
    tracker *name*; record it with *grantor* and *reason*.  Returns the
    tracker.  Every check runs before the first write."""
    check_name(name)
    for label, value in (("grantor", grantor), ("reason", reason)):
        if not isinstance(value, str) or not value:
            raise TypeError("%s must be a non-empty str, got %r"
                            % (label, value))
        check_text(label, value)
    granting = kind == "granted"
    group = group_of(registry, group_id)
    tracker = None if group is None else (
        group.live.get(name) if granting else group.find(name))
    if tracker is None or tracker.is_expired(now):
        if granting and group is not None and name in group.done:
            raise TrackerAlreadyCompletedError(group_id, name, "grant")
        raise TrackerLookupError(group_id, name)
    was_completed = tracker.completed
    if granting:
        stage, events = tracker.current_stage, tracker.grant(now)
    else:
        stage, events = tracker.revoke(now), ()   # raises before writing
    if tracker.completed != was_completed:
        group.put(tracker)  # to the completed ones, or back
        refresh_due(registry, group_id)
    dispatch.record(group_id, name, kind, stage, tracker.progress, now,
                    grantor=grantor, reason=reason)
    dispatch.events(events, grantor=grantor)
    dispatch.scored(registry, [tracker], now)
    return tracker

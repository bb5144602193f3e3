"""Goals built from goals: all of / any of / N of, roll-ups, sequences.

See ``ICompositeTracker`` and ``ISequenceTracker``.  Two kinds:

*Composite trackers* look at other trackers, not at items.  They hold
direct references to their component trackers (persistent objects, in the
same group or in any other: a team's roll-up over its members' goals, a
course over its users', a roll-up over roll-ups), and their progress is
either the number of components that completed (all of, any of, N of) or
the sum of the components' progress (a team's points).  A composite
re-reads its components when it is evaluated: for each item of its own
group (after the trackers added before it, so add it after its components
when they share a group), and on ``tick``.  Reading a component never
writes it, so a roll-up over many groups adds no conflicts between the
writers of those groups; it is written only when its own progress changes.
Composites refuse conditions and limiters: they follow their components.

*Sequence trackers* ("A then B") look at items: a list of steps, each a
condition, to be met in that order, with optional ``max_gap`` seconds
between one step and the next, per group (a user) or per value of a key
(``per="runId"``: each run on its own).  Items in between that meet no step
do not break a sequence.  An item that meets the first step but not the
expected one starts the sequence again from it (a fresher start is never
worse under a maximum gap).  A partial sequence whose gap has passed is
dropped.  Each completed sequence adds 1 to progress.  Items are taken in
the order they come; one older than its sequence's last step is ignored
for that sequence.
"""

import time

from zope.interface import implementer

from cybertools_tracking.goals.conditions import All
from cybertools_tracking.goals.due import ALWAYS
from cybertools_tracking.goals.conditions import MISSING
from cybertools_tracking.goals.conditions import parse_path
from cybertools_tracking.goals.conditions import resolve
from cybertools_tracking.goals.interfaces import CompositeOutOfReachError
from cybertools_tracking.goals.interfaces import ICompositeTracker
from cybertools_tracking.goals.interfaces import ICondition
from cybertools_tracking.goals.interfaces import ISequenceTracker
from cybertools_tracking.goals.interfaces import ITracker
from cybertools_tracking.goals.limiters import _seconds
from cybertools_tracking.goals.trackers import LIMITED
from cybertools_tracking.goals.trackers import ResetPolicy
from cybertools_tracking.goals.trackers import Tracker
from cybertools_tracking.goals.trackers import TrackerProgress
from cybertools_tracking.goals.windows import ItemTime
from cybertools_tracking.goals.windows import check_count_targets
from cybertools_tracking.goals.windows import with_progress_class

__all__ = ["CompositeTracker", "all_of", "any_of", "n_of", "rollup",
           "SequenceTracker", "SequenceProgress", "MEASURES"]

MEASURES = ("completed", "progress")


def _components(components):
    if not isinstance(components, (list, tuple)) or not components:
        raise TypeError("components must be a non-empty list or tuple of "
                        "trackers, got %r" % (components,))
    for component in components:
        if not ITracker.providedBy(component):
            raise TypeError("components must provide ITracker, got %r"
                            % (component,))
    if len(set(map(id, components))) != len(components):
        raise ValueError("components holds the same tracker twice: %r"
                         % (components,))
    return tuple(components)


@implementer(ICompositeTracker)
class CompositeTracker(Tracker):
    """Progress from component trackers; see ``ICompositeTracker``.

    ``measure='completed'`` counts the components that completed (use
    ``all_of``, ``any_of``, ``n_of``); ``measure='progress'`` sums their
    progress (``rollup``).
    """

    _components = ()
    _measure = "completed"
    _all = False  # the target is "all components", however many

    def __init__(self, name, components, target, measure="completed",
                 group_id=None):
        if measure not in MEASURES:
            raise ValueError("measure must be one of %s, got %r"
                             % (", ".join(MEASURES), measure))
        components = _components(components)
        if target is None:
            if measure != "completed":
                raise ValueError("target None (all components) needs "
                                 "measure 'completed'")
            self._all = True
            target = len(components)
        # No reset policy: progress is measured, never reset.
        super().__init__(name, [], target, group_id=group_id,
                         reset_policy=ResetPolicy.NONE)
        if measure == "completed":
            check_count_targets(self._targets, "composite of completions")
            if self._targets[-1] > len(components):
                raise ValueError(
                    "target %r is more than the %d components can reach"
                    % (self._targets[-1], len(components)))
        self._components = components
        self._measure = measure

    components = property(lambda self: self._components)
    measure = property(lambda self: self._measure)

    def add_components(self, *trackers):
        """Add further components (a new team member's goal)."""
        self._forbid("add components to")
        components = _components(self._components + tuple(trackers))
        self._components = components
        if self._all:
            self._targets = (len(components),)
            self._changing().target = len(components)
        self._touch()

    def check_remove_components(self, trackers):
        """The components left without *trackers*; raises (see
        ``remove_components``) before anything changes."""
        leaving = [t for t in trackers]
        for tracker in leaving:
            if not any(c is tracker for c in self._components):
                raise ValueError("%r is not a component of the composite "
                                 "%r" % (tracker, self.name))
        left = tuple(c for c in self._components
                     if not any(c is t for t in leaving))
        if not left or (self._measure == "completed" and not self._all
                        and self._targets[-1] > len(left)):
            raise CompositeOutOfReachError(self._group_id, self.name,
                                           len(left), self._targets[-1])
        return left

    def remove_components(self, *trackers):
        """Take components out; see ``ICompositeTracker``."""
        self._forbid("take components out of")
        left = self.check_remove_components(trackers)
        self._components = left
        if self._all:
            self._targets = (len(left),)
            self._changing().target = len(left)
        self._touch()

    def forget_components(self, *trackers):
        """Drop *trackers* from a composite that is no longer live
        (completed, failed, expired, removed), for an erasure: its outcome
        is final, so nothing is checked or evaluated again; the references
        go, so that nothing of a forgotten group stays reachable from it.
        Raises ValueError on a live composite (use ``remove_components``)."""
        if self.active:
            raise ValueError("the composite %r is live: take components "
                             "out with remove_components" % self.name)
        self._components = tuple(c for c in self._components
                                 if not any(c is t for t in trackers))

    def _measured(self):
        if self._measure == "completed":
            return sum(1 for c in self._components if c.completed)
        total = 0
        for component in self._components:
            if not component.removed:
                total = total + component.progress
        return total

    def due_at(self):
        # Components may move in any group at any time: a live composite
        # is looked at by every tick (Tracker.due_at says so for every
        # ITimeDriven tracker; said here because it is the reason).
        if self._tally.state <= LIMITED:
            return ALWAYS
        return self._expire_at

    def track(self, data, now_ts=None):
        # The items themselves do not matter; the components do.
        if self._tally.state > LIMITED:
            self._forbid("track")
        return self.tick(now_ts)

    def tick(self, now_ts=None):
        tally = self._tally
        if tally.state > LIMITED:
            return False, ()
        measured = self._measured()
        changed = measured != tally.progress
        if changed:
            self._changing().progress = measured
        # At most one stage per evaluation, as for every tracker; a jump
        # over several targets completes the others on the next ones.
        if measured >= tally.target:
            now = time.time() if now_ts is None else now_ts
            return True, self._complete_stage(now)
        return changed, ()


def all_of(name, components, **options):
    """Completes when every component has completed (components added
    later included)."""
    return CompositeTracker(name, components, None, **options)


def any_of(name, components, **options):
    """Completes when one component has completed."""
    return CompositeTracker(name, components, 1, **options)


def n_of(name, n, components, **options):
    """Completes when *n* of the components have completed."""
    return CompositeTracker(name, components, n, **options)


def rollup(name, components, target, **options):
    """Completes when the components' progress adds up to *target*."""
    return CompositeTracker(name, components, target, measure="progress",
                            **options)


class SequenceProgress(TrackerProgress):
    """A sequence tracker's progress record: a ``TrackerProgress`` plus the
    partial sequences, ``{partition: (next step, time of the last step)}``.
    Records name this class; it keeps its module and name."""

    partials = {}  # replaced, never changed in place


@implementer(ISequenceTracker)
class SequenceTracker(ItemTime, Tracker):
    """Steps met in order ("A then B"); see ``ISequenceTracker``."""

    _steps = ()
    _max_gap = None
    _per = None
    _step = None
    _v_per = None

    def __init__(self, name, steps, target=1, conditions=(), max_gap=None,
                 per=None, group_id=None, limiters=None,
                 reset_policy=ResetPolicy.DEFAULT, loop_forever=False):
        if not isinstance(steps, (list, tuple)) or len(steps) < 2:
            raise TypeError("steps must be a list of at least two conditions "
                            "(or lists of conditions), got %r" % (steps,))
        checked = []
        for step in steps:
            if isinstance(step, (list, tuple)):
                step = All(*step)
            if not ICondition.providedBy(step):
                raise TypeError("each step must be a condition or a list of "
                                "conditions, got %r" % (step,))
            checked.append(step)
        if max_gap is not None:
            max_gap = _seconds("max_gap", max_gap)
        path = None if per is None else parse_path(per)
        super().__init__(name, list(conditions), target, group_id=group_id,
                         limiters=limiters, reset_policy=reset_policy,
                         loop_forever=loop_forever)
        check_count_targets(self._targets, "SequenceTracker")
        self._steps = tuple(checked)
        self._max_gap = max_gap
        self._per = per
        self._v_per = path
        with_progress_class(self, SequenceProgress)

    steps = property(lambda self: self._steps)
    max_gap = property(lambda self: self._max_gap)
    per = property(lambda self: self._per)
    partials = property(lambda self: dict(self._tally.partials))

    def _partition(self, data):
        if self._per is None:
            return None
        path = self._v_per
        if path is None:
            path = self._v_per = parse_path(self._per)
        value = resolve(data, path)
        try:
            hash(value)
        except TypeError:
            return MISSING
        return value

    def _add(self, progress, data):
        now = self._item_time()
        partition = self._partition(data)
        if partition is MISSING:
            return None  # no value to keep this item's sequence apart by
        partials = self._tally.partials
        gap = self._max_gap
        part = partials.get(partition)
        expired = part is not None and gap is not None and now - part[1] > gap
        if expired:
            part = None
        steps = self._steps
        if part is not None:
            index, last = part
            if now < last:
                return None
            if steps[index].check(data):
                part = (index + 1, now)
            elif steps[0].check(data):
                part = (1, now)
            else:
                return None
        elif steps[0].check(data):
            part = (1, now)
        elif expired:
            part = ()  # nothing to keep for this partition
        else:
            return None
        kept = dict(partials)
        if gap is not None:  # drop the partial sequences that ran out
            kept = {k: v for k, v in kept.items() if now - v[1] <= gap}
        done = part[:1] == (len(steps),)
        if done or not part:
            kept.pop(partition, None)
        else:
            kept[partition] = part
        self._changing().partials = kept
        return progress + 1 if done else None

    def _apply_reset(self, policy, now, options):
        if policy & ResetPolicy.PROGRESS:
            self._changing().partials = {}
        return super()._apply_reset(policy, now, options)

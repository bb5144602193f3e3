"""Trackers: persistent goals with stage targets (see ``ITracker``)."""

import copy
import decimal
import enum
import logging
import math
import numbers
import time
from decimal import Decimal
from fractions import Fraction

from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking.goals.conditions import KeyValueEQ
from cybertools_tracking.goals.conditions import MISSING
from cybertools_tracking.goals.conditions import parse_path
from cybertools_tracking.goals.conditions import resolve
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.events import EVENT_TRACKER_LIMITED
from cybertools_tracking.goals.events import EVENT_TRACKER_RESET
from cybertools_tracking.goals.events import EVENT_TRACKER_STAGE_COMPLETED
from cybertools_tracking.goals.events import make_event
from cybertools_tracking.goals.due import ALWAYS
from cybertools_tracking.goals.interfaces import ICondition
from cybertools_tracking.goals.interfaces import IDeadlineLimiter
from cybertools_tracking.goals.interfaces import IGrantableTracker
from cybertools_tracking.goals.interfaces import IIndexableTracker
from cybertools_tracking.goals.interfaces import ILimiter
from cybertools_tracking.goals.interfaces import ITimeDriven
from cybertools_tracking.goals.interfaces import ITrackerSnapshot
from cybertools_tracking.goals.interfaces import IVersionedTracker
from cybertools_tracking.goals.interfaces import TrackerAlreadyCompletedError
from cybertools_tracking.goals.interfaces import TrackerAlreadyRemovedError
from cybertools_tracking.goals.interfaces import TrackerStateError

__all__ = [
    "ResetPolicy", "Tracker", "TrackerProgress", "CountTracker",
    "AccumulationTracker", "TrackerSnapshot", "ACTIVE", "LIMITED", "COMPLETED",
    "REMOVED", "FLOAT_TOLERANCE", "DECIMAL_DIGITS",
]

logger = logging.getLogger("cybertools_tracking.goals")


class ResetPolicy(enum.IntFlag):
    """What a stage change or a reset clears; combine with ``|``."""

    NONE = 0
    PROGRESS = 1
    LIMITER = 2
    ALL = 3
    DEFAULT = 2  # an alias of LIMITER


# States are stored as small ints (cheap to compare in the hot path) and
# shown as names.
ACTIVE, LIMITED, COMPLETED, REMOVED = 0, 1, 2, 3
STATE_NAMES = ("active", "limited", "completed", "removed")

# The two answers of ``track`` that carry no events, shared to avoid
# allocating a tuple per evaluation.
_UNCHANGED = (False, ())
_CHANGED = (True, ())


def _check_policy(value):
    if (isinstance(value, bool) or not isinstance(value, int)
            or not 0 <= value <= ResetPolicy.ALL):
        raise ValueError("reset_policy must be a ResetPolicy (NONE, PROGRESS, "
                         "LIMITER, ALL or an | of them), got %r" % (value,))
    return int(value)


# -- numbers ------------------------------------------------------------------
#
# The number rule of ``ITracker`` ("Numbers").  A tracker counts in one *kind*
# of number: float, Decimal or Fraction, or None while everything is an int
# (ints are exact in every kind and go with all of them).  Its targets and
# init_progress fix the kind when one of them is not an int; otherwise the
# first amount that is not an int does, by becoming part of the progress.

#: Relative tolerance with which float progress reaches a target: reached
#: means ``progress >= target * (1 - FLOAT_TOLERANCE)``.  A sum of n floats
#: is off by at most about n * 1.1e-16 of the sum of their magnitudes, so
#: this absorbs the rounding of millions of additions of positive amounts and
#: stays far below any difference a user means.  No absolute tolerance:
#: targets are positive, and one would let a tiny target be reached at 0.
FLOAT_TOLERANCE = 1e-9

#: Significant digits of Decimal sums.  Decimal progress is exact within
#: IEEE 754 decimal128 (34 digits, exponents up to 6144): an amount whose
#: sum would need more is logged and skipped, never rounded.
DECIMAL_DIGITS = 34

_KINDS = (float, Decimal, Fraction)
_KIND_NAMES = {None: "int", float: "float", Decimal: "Decimal",
               Fraction: "Fraction"}

# Decimal sums: a result that would need rounding raises (Inexact), as do
# exponents out of range (Overflow and Inexact, for underflow); the caller
# refuses the amount.  The thread's own context plays no part.
_EXACT = decimal.Context(
    prec=DECIMAL_DIGITS, Emax=6144, Emin=-6143,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.Inexact, decimal.Overflow, decimal.InvalidOperation])

# Lap targets (a Decimal target plus the last target) that would need more
# digits than DECIMAL_DIGITS are rounded instead: that takes a target of
# some thirty significant digits and more laps than anyone will run, and a
# lap target must not fail.
_LAPS = _EXACT.copy()
_LAPS.clear_traps()

_UNSET = object()
_isfinite = math.isfinite


def _kind(value):
    """The kind of a checked number: float, Decimal, Fraction or None (int).
    """
    cls = value.__class__
    if cls is int:
        return None
    if cls in _KINDS:
        return cls
    for kind in _KINDS:
        if isinstance(value, kind):
            return kind
    return None


def _number_kind(what, values):
    """The one kind of *values* (None if all are ints), else ValueError."""
    kinds = {_kind(value) for value in values} - {None}
    if len(kinds) > 1:
        raise ValueError(
            "%s mix %s; a tracker counts in one kind of number (float, "
            "Decimal or Fraction; ints go with any)" % (what, " and ".join(
                sorted(_KIND_NAMES[kind] for kind in kinds))))
    return kinds.pop() if kinds else None


def _nearly(progress, target):
    """Whether *progress*, below *target*, is within FLOAT_TOLERANCE of it.

    Only asked when one of the two is a float: exact kinds compare exactly.
    """
    try:
        return progress >= target * (1 - FLOAT_TOLERANCE)
    except OverflowError:  # an int target beyond the range of floats
        return False


def _lap_target(target, last):
    if isinstance(target, Decimal):
        return _LAPS.add(target, last)
    return target + last


def _check_number(name, value):
    """*value* if it is a finite int, float, Decimal or Fraction.

    Instances of subclasses (an IntEnum, numpy's float64) are stored as the
    plain number, so records refer to nothing but the standard library.
    """
    if isinstance(value, bool) or not isinstance(value, (int,) + _KINDS):
        raise TypeError("%s must be a number, got %r (%s); numbers are int, "
                        "float, Decimal or Fraction"
                        % (name, value, type(value).__name__))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("%s must be finite, got %r" % (name, value))
        try:
            _EXACT.plus(value)
        except decimal.DecimalException:
            raise ValueError(
                "%s must be a Decimal that fits IEEE 754 decimal128 (%d "
                "significant digits, exponents up to 6144), got %r"
                % (name, DECIMAL_DIGITS, value)) from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("%s must be finite, got %r" % (name, value))
    if value.__class__ not in (int, float, Decimal, Fraction):
        for cls in (int,) + _KINDS:
            if isinstance(value, cls):
                return cls(value)
    return value


def _check_targets(target, after=None):
    """Return *target* (a number or a list/tuple of them) as a tuple."""
    targets = (tuple(target) if isinstance(target, (list, tuple))
               else (target,))
    if not targets:
        raise ValueError("target must not be an empty list")
    targets = tuple(_check_number("target", value) for value in targets)
    previous = after
    for value in targets:
        if value <= 0:
            raise ValueError("targets must be positive, got %r in %r"
                             % (value, target))
        if previous is not None and value <= previous:
            raise ValueError("stage targets must be strictly increasing, "
                             "got %r after %r" % (value, previous))
        previous = value
    return targets


def _describe(kind, name, target, targets, stage, progress, state):
    parts = ["target=%s" % (target,)]
    if len(targets) > 1:
        parts.append("stage=%d/%d" % (stage, len(targets)))
    parts.append("progress=%s" % (progress,))
    if state != ACTIVE:
        parts.append("state=%s" % STATE_NAMES[state])
    return "<%s %r (%s)>" % (kind, name, " ".join(parts))


def _item_weights(limiters, data):
    """Per limiter, the weight *data* uses (``weight_of``) for those with
    a ``weight_key``, else None; None if no limiter has one.  Raises what
    ``weight_of`` raises for a bad weight."""
    weights = None
    for position, limiter in enumerate(limiters):
        if getattr(limiter, "weight_key", None) is not None:
            if weights is None:
                weights = [None] * len(limiters)
            weights[position] = limiter.weight_of(data)
    return weights


def _record(limiters, weights, now):
    # A limiter without a weight_key records as ILimiter says: record(now).
    if weights is None:
        for limiter in limiters:
            limiter.record(now)
        return
    for limiter, weight in zip(limiters, weights):
        if weight is None:
            limiter.record(now)
        else:
            limiter.record(now, weight)


class TrackerProgress(Persistent):
    """How far a tracker got: the part of a tracker that items change.

    Every commit that moves a tracker writes this small record (progress,
    current target, stage, laps, state, completion time), not the tracker's
    own, which holds its conditions and settings and is written when the
    tracker is created or a setting changes.  The record holds numbers only,
    no references, which is the cheapest kind of record to write.

    A ``TrackerProgress`` belongs to exactly one tracker and is only changed
    through it.  Records name this class, so it keeps its module and name.
    """

    # Class-level defaults: values added later have one in old records, and
    # values at their default take no room.
    progress = 0
    target = 1
    stage = 1
    laps = 0
    state = ACTIVE
    completed_at = None

    def __repr__(self):
        return ("<TrackerProgress (progress=%s target=%s stage=%s state=%s)>"
                % (self.progress, self.target, self.stage,
                   STATE_NAMES[self.state]))


# Records written before the progress moved out of the tracker hold these
# attributes inline; ``Tracker.__setstate__`` moves them out.
_INLINE_PROGRESS = {
    "_progress": "progress", "_target": "target", "_stage": "stage",
    "_laps": "laps", "_state": "state", "_completed_at": "completed_at",
}


@implementer(IIndexableTracker, IGrantableTracker, IVersionedTracker)
class Tracker(Persistent):
    """Base class of the persistent trackers; see ``ITracker``.

    Subclasses define how much a matching item adds: a constant int
    ``_step``, or ``_step = None`` and an ``_add(progress, data)`` method.
    Either way the sum follows the number rule of ``ITracker``.

    The tracker's record holds its conditions and settings; what tracking
    changes is in its ``TrackerProgress`` (``_tally``).  Any change of the
    tracker's own record also writes the tally, so two transactions that
    change one tracker always meet on the tally's record and conflict, as
    they did when all of it was one record.
    """

    # Persistent state.  The class-level values are the defaults, so that
    # attributes added in later versions have a value in old pickles, and
    # attributes still at their default take no room in a record.
    _name = None
    _group_id = None
    _expire_at = None
    _conditions = ()
    _limiters = ()
    _targets = (1,)
    _init_progress = 0
    _reset_policy = int(ResetPolicy.DEFAULT)
    _loop_forever = False
    _version = 1   # of the definition; see ``IVersionedTracker``
    _tally = None  # set by __init__, or by __setstate__ for old records

    _step = 1
    _v_kind = _UNSET  # the kind of number, from _targets and _init_progress

    def __init__(self, name, conditions, target, group_id=None, limiters=None,
                 reset_policy=ResetPolicy.DEFAULT, loop_forever=False,
                 init_progress=0):
        if not isinstance(name, str) or not name:
            raise TypeError("name must be a non-empty str, got %r" % (name,))
        if group_id is not None and not isinstance(group_id, str):
            raise TypeError("group_id must be a str or None, got %r"
                            % (group_id,))
        if not isinstance(loop_forever, bool):
            raise TypeError("loop_forever must be a bool, got %r"
                            % (loop_forever,))
        self._name = name
        self._conditions = self._check_items(
            "conditions", conditions, ICondition)
        limiters = self._check_items(
            "limiters", () if limiters is None else limiters, ILimiter)
        if len(set(map(id, limiters))) != len(limiters):
            raise ValueError("limiters contains the same limiter twice: %r"
                             % (limiters,))
        if limiters:
            self._limiters = limiters
        self._targets = _check_targets(target)
        init_progress = _check_number("init_progress", init_progress)
        self._v_kind = _number_kind("targets and init_progress",
                                    self._targets + (init_progress,))
        tally = TrackerProgress()
        tally.target = self._targets[0]
        tally.progress = self._init_progress = init_progress
        self._tally = tally
        if reset_policy != ResetPolicy.DEFAULT:
            self._reset_policy = _check_policy(reset_policy)
        if group_id is not None:
            self._group_id = group_id
        if loop_forever:
            self._loop_forever = True

    @staticmethod
    def _check_items(name, items, interface):
        if not isinstance(items, (list, tuple)):
            raise TypeError("%s must be a list or tuple (evaluation follows "
                            "its order), got %r" % (name, items))
        for item in items:
            if not interface.providedBy(item):
                raise TypeError("%s must provide %s, got %r (%s)" % (
                    name, interface.__name__, item, type(item).__name__))
        return tuple(items)

    def __setstate__(self, state):
        if isinstance(state, dict) and "_tally" not in state:
            # A record from before the progress moved out of the tracker.
            # The tally made here is stored with the tracker's next record
            # (see _changing).
            state = dict(state)
            tally = TrackerProgress()
            for old, new in _INLINE_PROGRESS.items():
                if old in state:
                    setattr(tally, new, state.pop(old))
            state["_tally"] = tally
        Persistent.__setstate__(self, state)

    def _changing(self):
        """The tally, about to be changed."""
        tally = self._tally
        if tally._p_jar is None and self._p_jar is not None:
            # Made from an old record by __setstate__ and not stored yet: it
            # only reaches the database with a new record of the tracker.
            self._p_changed = True
        return tally

    def _kind(self):
        """The kind of number fixed by the targets and init_progress."""
        kind = self._v_kind
        if kind is _UNSET:
            kind = self._v_kind = _number_kind(
                "targets and init_progress",
                self._targets + (self._init_progress,))
        return kind

    def _touch(self):
        # Called by every change of the tracker's own record; see the class
        # docstring.
        self._changing()._p_changed = True

    # -- read-only view -------------------------------------------------------

    name = property(lambda self: self._name)
    group_id = property(lambda self: self._group_id)
    expire_at = property(lambda self: self._expire_at)
    conditions = property(lambda self: self._conditions)
    limiters = property(lambda self: self._limiters)
    targets = property(lambda self: self._targets)
    target = property(lambda self: self._tally.target)
    current_stage = property(lambda self: self._tally.stage)
    laps = property(lambda self: self._tally.laps)
    progress = property(lambda self: self._tally.progress)
    init_progress = property(lambda self: self._init_progress)
    completed_at = property(lambda self: self._tally.completed_at)
    state = property(lambda self: STATE_NAMES[self._tally.state])
    active = property(lambda self: self._tally.state == ACTIVE)
    limited = property(lambda self: self._tally.state == LIMITED)
    completed = property(lambda self: self._tally.state == COMPLETED)
    removed = property(lambda self: self._tally.state == REMOVED)

    @property
    def multi_target(self):
        """dictrack's name: the stage targets not reached yet, as a list."""
        return list(self._targets[self._tally.stage:])

    @property
    def reset_policy(self):
        return ResetPolicy(self._reset_policy)

    @reset_policy.setter
    def reset_policy(self, value):
        self._reset_policy = _check_policy(value)
        self._touch()

    @property
    def loop_forever(self):
        return self._loop_forever

    @loop_forever.setter
    def loop_forever(self, value):
        if not isinstance(value, bool):
            raise TypeError("loop_forever must be a bool, got %r" % (value,))
        self._loop_forever = value
        self._touch()

    def is_expired(self, now_ts=None):
        """True if the tracker has an expiry time at or before *now_ts*."""
        expire_at = self._expire_at
        if expire_at is None:
            return False
        return (time.time() if now_ts is None else now_ts) >= expire_at

    def __repr__(self):
        tally = self._tally
        return _describe(type(self).__name__, self._name, tally.target,
                         self._targets, tally.stage, tally.progress,
                         tally.state)

    def snapshot(self):
        return TrackerSnapshot(self)

    # -- when time alone changes it (see ITracker.due_at, goals/due.py) ------

    #: For classes whose ``track`` can move ``due_at`` other than by
    #: completing (a period tracker opening its next period): the name of
    #: the progress record's field that moves with it.  The hot loop
    #: compares that field before and after an item (cheaper than asking
    #: ``due_at`` twice) and refreshes the group's entry in the index of
    #: due times when it moved.  None: only completion moves it.
    due_moves_with_items = None

    def due_at(self):
        due = self._due_of_limits()
        if self._tally.state <= LIMITED and ITimeDriven.providedBy(self):
            return ALWAYS   # it cannot say when; tick must see it
        return due

    def _due_of_limits(self):
        # The expiry time, and the deadlines of a live tracker.
        due = self._expire_at
        if self._limiters and self._tally.state <= LIMITED:
            for limiter in self._limiters:
                if IDeadlineLimiter.providedBy(limiter):
                    deadline = limiter.deadline
                    if due is None or deadline < due:
                        due = deadline
        return due

    def due_records(self):
        return (self, self._tally) + tuple(
            limiter for limiter in self._limiters
            if IDeadlineLimiter.providedBy(limiter))

    def index_key(self):
        """``(key, value)`` if only items whose value at *key* equals
        *value* can change this tracker now, else None.

        That holds when ``track`` is this class's own, the tracker is active
        with no limiters (they are asked whatever the item) and no expiry
        time (expiry removes it whatever the item), and its first condition
        is a ``KeyValueEQ`` on a one-segment key: an item failing it stops
        the evaluation before anything else runs.  The candidate index
        (``candidates.py``) asks this; a subclass that evaluates otherwise
        returns None (a class whose ``track`` only prepares something
        before ``Tracker.track``, and never stores it, may answer through
        ``_first_condition_key``, as the window and sequence trackers do).
        """
        if type(self).track is not Tracker.track:
            return None
        return self._first_condition_key()

    def _first_condition_key(self):
        # index_key's answer, but for whether ``track`` is Tracker.track.
        if (self._limiters or self._expire_at is not None
                or self._tally.state != ACTIVE or not self._conditions):
            return None
        condition = self._conditions[0]
        if type(condition) is not KeyValueEQ or condition.flat_key is None:
            return None
        return condition.flat_key, condition.value

    # -- evaluation -----------------------------------------------------------

    def matches(self, data):
        for condition in self._conditions:
            if not condition.check(data):
                return False
        return True

    def _forbid(self, operation):
        state = self._tally.state
        if state == COMPLETED:
            raise TrackerAlreadyCompletedError(
                self._group_id, self._name, operation)
        if state == REMOVED:
            raise TrackerAlreadyRemovedError(
                self._group_id, self._name, operation)

    def track(self, data, now_ts=None):
        # The hot path: keep attribute lookups and allocations down.
        tally = self._tally
        state = tally.state
        if state > LIMITED:
            self._forbid("track")
        limiters = self._limiters
        if limiters:
            now = time.time() if now_ts is None else now_ts
            refusing = [lim for lim in limiters if not lim.allows(now)]
            if refusing:
                if state == LIMITED:
                    return _UNCHANGED
                self._changing().state = LIMITED
                return True, self._limited_events(refusing, now)
        # If limited: every limiter allows again (a time window opened).
        reactivate = state == LIMITED
        for condition in self._conditions:
            if not condition.check(data):
                if reactivate:
                    self._changing().state = ACTIVE
                    return _CHANGED
                return _UNCHANGED
        weights = None
        if limiters:
            # Weights from the item: asked (and refused) before any write.
            weights = _item_weights(limiters, data)
            if weights is not None:
                refusing = [lim for lim, weight in zip(limiters, weights)
                            if weight is not None
                            and not lim.peek(now, weight)]
                if refusing:
                    if reactivate:
                        return _UNCHANGED   # still limited, said before
                    self._changing().state = LIMITED
                    return True, self._limited_events(refusing, now)
        if reactivate:
            self._changing().state = ACTIVE
        step = self._step
        progress = tally.progress
        target = tally.target
        if step is not None and progress.__class__ is int:
            # Counting in ints: only the target may be a float.
            if step:
                self._changing().progress = progress = progress + step
            reached = progress >= target or (
                target.__class__ is float and _nearly(progress, target))
        else:
            added = self._add(progress, data)
            if added is not None:
                self._changing().progress = progress = added
            reached = progress >= target or (
                (progress.__class__ is float or target.__class__ is float)
                and _nearly(progress, target))
        if reached:
            now = time.time() if now_ts is None else now_ts
            if limiters:
                _record(limiters, weights, now)
            return True, self._complete_stage(now)
        if limiters:
            _record(limiters, weights, now)
            refusing = [lim for lim in limiters if not lim.allows(now)]
            if refusing:
                self._changing().state = LIMITED
                return True, self._limited_events(refusing, now)
        return _CHANGED

    def _add(self, progress, data):
        """*progress* plus what *data* adds, or None if it adds nothing."""
        return self._plus(progress, self._step, self._step)

    def _plus(self, progress, amount, value):
        """*progress* + *amount* by the number rule, or None (logged).

        *amount* is a finite int, float, Decimal or Fraction, read from the
        item's *value*, which the log names.
        """
        if not amount:
            return None
        if amount.__class__ is int and progress.__class__ is int:
            return progress + amount  # exact in every kind
        kind = self._kind() or _kind(progress)
        if kind is float or (kind is None and amount.__class__ is float):
            try:
                amount = float(amount)
                if math.isfinite(amount):
                    return progress + amount
            except OverflowError:
                pass
            return self._skip(value, "is beyond the range of floats")
        if amount.__class__ is float:
            return self._skip(value, "is a float; the tracker counts in %s, "
                                     "exactly" % _KIND_NAMES[kind])
        if kind is Fraction:
            return progress + Fraction(amount)
        if kind is Decimal and isinstance(amount, Fraction):
            try:
                amount = _EXACT.divide(Decimal(amount.numerator),
                                       amount.denominator)
            except decimal.DecimalException:
                return self._skip(value, "has no exact Decimal of at most %d "
                                         "digits" % DECIMAL_DIGITS)
        if kind is Decimal or isinstance(amount, Decimal):
            try:
                return _EXACT.add(progress, amount)
            except decimal.DecimalException:
                return self._skip(
                    value, "would make a sum beyond IEEE 754 decimal128 (%d "
                           "significant digits, exponents up to 6144)"
                           % DECIMAL_DIGITS)
        return progress + amount

    def _skip(self, value, reason):
        key = getattr(self, "_key", None)
        logger.warning("tracker %r of group %r: value %r%s %s; nothing added",
                       self._name, self._group_id, value,
                       "" if key is None else " at key %r" % (key,), reason)
        return None

    def _limited_events(self, limiters, now):
        snapshot = self.snapshot()
        return tuple(
            make_event(EVENT_TRACKER_LIMITED, snapshot, now,
                       limiter=copy.copy(limiter))
            for limiter in limiters)

    def _complete_stage(self, now):
        targets = self._targets
        tally = self._changing()
        stage = tally.stage
        if stage < len(targets) or self._loop_forever:
            completed = self.snapshot()
            if stage < len(targets):
                tally.stage = stage + 1
                tally.target = targets[stage]
            else:
                # Another lap of the last target, counted from here; a
                # PROGRESS reset below starts the lap from zero instead.
                tally.target = _lap_target(tally.target, targets[-1])
                tally.laps += 1
            events = self._apply_reset(self._reset_policy, now, {})
            return events + (make_event(
                EVENT_TRACKER_STAGE_COMPLETED, completed, now),)
        tally.state = COMPLETED
        tally.completed_at = now
        return (make_event(EVENT_TRACKER_ALL_COMPLETED, self.snapshot(), now),)

    # -- changes --------------------------------------------------------------

    def reset(self, reset_policy=None, now_ts=None, **options):
        self._forbid("reset")
        policy = (self._reset_policy if reset_policy is None
                  else _check_policy(reset_policy))
        now = time.time() if now_ts is None else now_ts
        return self._apply_reset(policy, now, options)

    def _apply_reset(self, policy, now, options):
        tally = self._changing()
        if policy & ResetPolicy.PROGRESS:
            tally.progress = 0
            tally.target = self._targets[tally.stage - 1]
        if policy & ResetPolicy.LIMITER:
            for limiter in self._limiters:
                limiter.reset(now_ts=now, **options)
            if tally.state == LIMITED:
                tally.state = ACTIVE
        return (make_event(EVENT_TRACKER_RESET, self.snapshot(), now),)

    def add_targets(self, *targets):
        self._forbid("add targets to")
        if len(targets) == 1 and isinstance(targets[0], (list, tuple)):
            targets = targets[0]
        tally = self._tally
        after = max(self._targets[-1], tally.target)
        added = _check_targets(list(targets), after)
        # The progress counts too: it has the kind of an open tracker.
        _number_kind("the targets and progress",
                     self._targets + added + (self._init_progress,
                                              tally.progress))
        self._targets = self._targets + added
        self._v_kind = _UNSET  # the targets changed; _kind() looks again
        self._touch()

    def _place(self, group_id, expire_at):
        """Note the group and expiry time the manager keeps the tracker under.
        """
        if (self._group_id, self._expire_at) != (group_id, expire_at):
            self._group_id = group_id
            self._expire_at = expire_at
            self._touch()

    def _set_removed(self):
        self._changing().state = REMOVED

    # -- definitions (see IVersionedTracker) ----------------------------------

    version = property(lambda self: self._version)

    def take_over(self, old):
        """Carry on from *old* (the definition this one replaces): its
        version plus one, its progress, stage and laps (as far as this
        definition's targets go) and, if this definition is reached there
        too, its completion.  Checks before changing anything.
        """
        self._check_successor(old)
        progress = old.progress
        _number_kind("the new targets and the progress taken over",
                     self._targets + (self._init_progress, progress))
        targets = self._targets
        stage = min(old.current_stage, len(targets))
        laps = old.laps if self._loop_forever and stage == len(targets) \
            else 0
        target = targets[stage - 1]
        if laps and not self._reset_policy & ResetPolicy.PROGRESS:
            for _ in range(laps):
                target = _lap_target(target, targets[-1])
        tally = self._tally
        tally.progress, tally.stage, tally.laps = progress, stage, laps
        tally.target = target
        if old.completed and stage == len(targets) and not laps \
                and not self._loop_forever and (
                    progress >= target or (_kind(progress) is float
                                           and _nearly(progress, target))):
            tally.state = COMPLETED
            tally.completed_at = old.completed_at
        self._version = old.version + 1

    def succeed(self, old):
        """Start afresh as the next version of *old*'s definition."""
        self._check_successor(old)
        self._version = old.version + 1

    def _check_successor(self, old):
        if (self is old or self._tally.state != ACTIVE
                or self._p_jar is not None
                or self._group_id not in (None, old.group_id)):
            raise TrackerStateError(
                "tracker %r must be a new one to replace the definition "
                "of %r" % (self._name, old))

    # -- by hand (see IGrantableTracker) --------------------------------------

    def grant(self, now_ts=None):
        """Complete the current stage (or lap) now, as if its target had
        been reached; return the events (as ``track`` does)."""
        self._forbid("grant")
        now = time.time() if now_ts is None else now_ts
        tally = self._changing()
        if not tally.progress >= tally.target:
            tally.progress = tally.target
        return self._complete_stage(now)

    def revoke(self, now_ts=None):
        """Take back the last completed stage (or lap); return its number.

        A completed tracker is live again at its last stage; otherwise the
        stage (or lap) before the current one is open again.  Progress goes
        back to where that stage started: the previous stage's target
        (``init_progress`` at the first stage, 0 when the reset policy
        clears progress at each stage).  Raises TrackerStateError if no
        stage was completed.
        """
        tally = self._tally
        if tally.state == REMOVED:
            raise TrackerAlreadyRemovedError(
                self._group_id, self._name, "revoke")
        targets = self._targets
        clears = bool(self._reset_policy & ResetPolicy.PROGRESS)
        if tally.state == COMPLETED:
            tally = self._changing()
            tally.state = ACTIVE
            tally.completed_at = None
        elif tally.laps:
            tally = self._changing()
            tally.laps -= 1
            if not clears:
                tally.target = _lap_target(tally.target, -targets[-1])
        elif tally.stage > 1:
            tally = self._changing()
            tally.stage -= 1
            tally.target = targets[tally.stage - 1]
        else:
            raise TrackerStateError(
                "cannot revoke a stage of tracker %r in group %r: it has "
                "completed none" % (self._name, self._group_id))
        stage = tally.stage
        if clears and (stage > 1 or tally.laps):
            start = 0
        elif tally.laps:
            start = _lap_target(tally.target, -targets[-1])
        elif stage > 1:
            start = targets[stage - 2]
        else:
            start = self._init_progress
        tally.progress = start
        return stage


class CountTracker(Tracker):
    """Counts the data items that satisfy its conditions.

    Each adds 1: progress and targets are numbers of items (plus
    ``init_progress``), whatever kind of number the targets are (see the
    number rule of ``ITracker``).
    """


class AccumulationTracker(Tracker):
    """Adds up the number found at *key* (a dotted path) in matching items.

    Progress and targets are in the unit of those numbers (currency units,
    minutes, metres ...); the tracker converts no units.  An amount is an
    int, float, Decimal or Fraction, or a string holding one, read in the
    tracker's kind of number (as a Decimal or Fraction when the tracker
    counts in one, else as an int or a float).  How kinds combine, which
    amounts are refused and how float progress meets its target is the
    number rule of ``ITracker``.

    A missing key, None and 0 add nothing.  NaN, infinities, booleans,
    other values and amounts the number rule refuses add nothing and are
    logged as a warning.
    """

    _key = None
    _step = None
    _v_path = None  # the parsed key, rebuilt after loading

    def __init__(self, name, conditions, target, key, group_id=None,
                 limiters=None, reset_policy=ResetPolicy.DEFAULT,
                 loop_forever=False, init_progress=0):
        self._v_path = parse_path(key)
        super().__init__(name, conditions, target, group_id=group_id,
                         limiters=limiters, reset_policy=reset_policy,
                         loop_forever=loop_forever,
                         init_progress=init_progress)
        self._key = key

    key = property(lambda self: self._key)

    def _add(self, progress, data):
        path = self._v_path
        if path is None:
            path = self._v_path = parse_path(self._key)
        value = resolve(data, path)
        cls = value.__class__
        # Fast paths, for an int added to int progress and a finite float
        # added to the int or float progress of a tracker that may count in
        # floats; the general path below gives the same results.
        if cls is int:
            if progress.__class__ is int:
                return progress + value if value else None
        elif cls is float and _isfinite(value):
            kind = self._v_kind
            if ((kind is None or kind is float)
                    and (progress.__class__ is float
                         or progress.__class__ is int)):
                try:
                    return progress + value if value else None
                except OverflowError:  # huge int progress; said below
                    pass
        if value is MISSING or value is None:
            return None
        kind = self._v_kind
        if kind is _UNSET:
            kind = self._kind()
        amount = self._number(value, kind or _kind(progress))
        if amount is None:
            return None
        if amount.__class__ is int and progress.__class__ is int:
            return progress + amount if amount else None  # a numeric string
        return self._plus(progress, amount, value)

    def _number(self, value, kind):
        """*value* as a finite int, float, Decimal or Fraction, else None.

        Strings are read in the tracker's *kind* of number.
        """
        number = value
        if isinstance(value, str):
            try:
                if kind is Decimal or kind is Fraction:
                    number = kind(value)
                else:
                    try:
                        number = int(value)
                    except ValueError:
                        number = float(value)
            except (ValueError, ArithmeticError):
                return self._skip(value, "is not a number")
        cls = number.__class__
        if cls is int or cls is Fraction:
            return number
        if isinstance(number, float):
            if math.isfinite(number):
                return float(number)
            return self._skip(value, "is not finite")
        if isinstance(number, Decimal):
            if number.is_finite():
                return Decimal(number)
            return self._skip(value, "is not finite")
        if isinstance(number, bool):
            return self._skip(value, "is not a number")
        if isinstance(number, numbers.Integral):
            return int(number)
        if isinstance(number, numbers.Rational):
            return Fraction(number.numerator, number.denominator)
        if isinstance(number, numbers.Real):
            number = float(number)
            if math.isfinite(number):
                return number
            return self._skip(value, "is not finite")
        return self._skip(value, "is not a number")


# Settings (and the state that goes with them) of trackers defined in other
# modules, copied into a snapshot when the tracker has them as properties.
_SETTINGS = ("window", "times", "latest", "calendar", "streak_target",
             "period", "met", "longest_streak", "steps", "max_gap", "per",
             "partials", "measure", "components")


@implementer(ITrackerSnapshot)
class TrackerSnapshot:
    """A tracker's state at one moment; see ``ITrackerSnapshot``."""

    def __init__(self, tracker):
        tally = tracker._tally
        self.kind = type(tracker).__name__
        self.name = tracker._name
        self.group_id = tracker._group_id
        self.conditions = tracker._conditions
        self.limiters = tuple(copy.copy(lim) for lim in tracker._limiters)
        self.targets = tracker._targets
        self.target = tally.target
        self.current_stage = tally.stage
        self.laps = tally.laps
        self.progress = tally.progress
        self.init_progress = tracker._init_progress
        self.reset_policy = ResetPolicy(tracker._reset_policy)
        self.loop_forever = tracker._loop_forever
        self._state = tally.state
        self.completed_at = tally.completed_at
        self.expire_at = tracker._expire_at
        self.key = getattr(tracker, "_key", None)
        # The settings of the time and composite trackers (window, calendar,
        # steps ...), so that a snapshot carries the whole definition (its
        # JSON form, ``serialize.py``, is read from events).  Components are
        # kept as (group_id, name): a snapshot holds no persistent object.
        cls = type(tracker)
        for name in _SETTINGS:
            if isinstance(getattr(cls, name, None), property):
                setattr(self, name, getattr(tracker, name))
        if hasattr(self, "components"):
            self.components = tuple((c.group_id, c.name)
                                    for c in self.components)
            self.all_components = getattr(tracker, "_all", False)
        if hasattr(self, "calendar"):
            self.keep_history = tracker._history is not None

    state = property(lambda self: STATE_NAMES[self._state])
    active = property(lambda self: self._state == ACTIVE)
    limited = property(lambda self: self._state == LIMITED)
    completed = property(lambda self: self._state == COMPLETED)
    removed = property(lambda self: self._state == REMOVED)

    def __repr__(self):
        return _describe(self.kind, self.name, self.target, self.targets,
                         self.current_stage, self.progress, self._state)

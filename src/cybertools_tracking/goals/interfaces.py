"""Contracts of the goal-evaluation layer.

Every public behaviour of ``cybertools_tracking.goals`` is written down here
once, in prose.  The implementations (``conditions``, ``trackers``,
``limiters``, ``events``, ``manager``) point back to these interfaces and keep
their own docstrings short.

The layer answers one question for each incoming data item (a ``dict``, for
example one track's data): which goals did this item move forward, and which
did it finish?  A *goal* is a tracker: conditions that select the items that
count, a target (or a list of stage targets) to reach, and optional limiters
that restrict when or how often it may count.  Trackers are persistent and are
kept, grouped by a ``group_id`` (a user, a device, a task ...), in a
``GoalRegistry`` inside a ZODB database, so their progress commits or rolls
back together with whatever else the caller's transaction does.

The last section defines the exceptions the layer raises.
"""

from zope.interface import Attribute
from zope.interface import Interface


# -- conditions ---------------------------------------------------------------

class ICondition(Interface):
    """A test of one data item: does it select the item or not?

    Conditions are small immutable values.  They are stored (pickled) inside
    persistent trackers, so they must stay picklable and must never change
    after construction; pickling stores the constructor arguments, so a
    condition loaded from the database is rebuilt by its constructor.

    Two conditions are equal, and hash alike, when they are of the same class
    and have the same key, operator, value and options:
    ``KeyExists('a') != KeyNotExists('a')`` and
    ``KeyValueContained('n', 'x') != KeyValueContained('n', 'x',
    case_sensitive=False)``.

    Key conditions address a value inside the data with a *dotted path*:
    ``"order.items.0.sku"`` walks into the dict under ``order``, the list under
    ``items``, its first element and that element's ``sku``.  A segment that
    is an integer (ASCII digits, optionally after a ``-``) indexes a list or
    tuple, counting from the end when negative as in Python and dictrack:
    ``"order.items.-1.sku"`` is the last item's ``sku``.  Inside a dict the
    segment is looked up as a string first and, if it is an integer and the
    string is absent, as an int.  ``\\.`` stands for a literal dot inside a
    segment and ``\\\\`` for a backslash.  The path is parsed once, in the
    constructor.

    The path starts at the top of the item the condition is offered, for
    every key condition alike (``KeyExists`` as much as ``KeyValueEQ``):
    the dict given to ``track(group_id, data)``, as in dictrack.  A
    tracking storage offers each track as one dict of its metadata and its
    data, ``{taskId, runId, userName, timeStamp, data}``, so there a key
    of the track's data is ``"data.page"``, never ``"page"`` (see
    ``tracked_goals``, which refuses such a path when the tracker is
    added).

    A key that cannot be reached (absent, index out of range at either end,
    walking into a scalar) is *missing*.  ``None`` is a value like any other:
    a key holding ``None`` is present.
    """

    def check(data):
        """Return ``True`` if *data* satisfies the condition, else ``False``.

        Never raises for any data: data that is not a mapping makes every
        condition ``False`` (including ``KeyNotExists``: conditions only look
        inside mappings); a missing key makes every key condition ``False``
        except ``KeyNotExists``; comparing values of types that cannot be
        compared (``'a' < 1``) is ``False``.
        """


# -- limiters -----------------------------------------------------------------

class ILimiter(Interface):
    """Restricts when or how often a tracker may count.

    A limiter belongs to exactly one tracker and is persistent (its state,
    such as the remaining count, commits with the tracker's progress).  The
    tracker asks its limiters at two moments while it evaluates one data item:

    * before the conditions are checked, ``allows(now_ts)``: if any limiter
      says no, the item is not evaluated and an active tracker becomes
      *limited*;
    * after an item matched and was counted, ``record(now_ts)`` and then
      ``allows(now_ts)`` again: a limiter that now says no limits the tracker,
      unless that very evaluation completed a stage or the whole tracker
      (a completing evaluation is never limited).

    A limited tracker keeps asking ``allows`` for every item it is offered; as
    soon as all its limiters allow again (a time window that has opened) it
    becomes active and evaluates that item.  Every time-dependent method takes
    ``now_ts`` (seconds since the epoch) so tests never have to sleep.
    """

    def allows(now_ts):
        """Return ``True`` if the tracker may evaluate an item at *now_ts*.

        Must not change the limiter's state.
        """

    def record(now_ts):
        """Take note of one evaluation in which the tracker's conditions held.

        A limiter with a ``weight_key`` (``ILimiterInfo``) is called as
        ``record(now_ts, weight)`` with the item's weight.
        """

    def reset(now_ts=None, **options):
        """Re-arm the limiter so that it allows again.

        ``now_ts`` defaults to the current time.  Options a limiter does not
        know are ignored, so one call can reset limiters of different kinds
        (``reset_count`` for count limiters, ``reset_seconds`` for time
        limiters).
        """


# -- trackers -----------------------------------------------------------------

class ITracker(Interface):
    """A persistent goal: conditions, stage targets, progress and state.

    Progress grows by an amount per matching data item (1 for a count
    tracker, a value read from the item for an accumulation tracker).  When
    progress reaches the current target, the current stage completes.  With
    several stage targets the tracker then moves to the next stage; after the
    last one it is *completed* (or, with ``loop_forever``, starts another lap
    of the last target).  At most one stage completes per data item.

    By default progress carries across stages, so stage targets are
    cumulative milestones: ``[3, 5]`` completes stage 1 at progress 3 and
    stage 2 at progress 5.  The reset policy (a ``ResetPolicy`` flag) decides
    what a stage change and ``reset()`` clear: ``PROGRESS`` sets progress back
    to 0 (the current stage keeps its target, so with ``PROGRESS`` the stage
    targets count from zero each), ``LIMITER`` resets every limiter, ``ALL``
    does both and ``NONE`` neither.  The default is ``LIMITER``.

    With ``loop_forever`` the tracker never completes: after the last stage
    each further lap needs the last target once more (counted from the
    progress at which the previous lap completed), and each lap completion is
    reported as a stage completion.

    Numbers.  Targets, ``init_progress``, amounts and so progress are ints,
    floats, ``decimal.Decimal`` or ``fractions.Fraction`` values (booleans
    are not numbers).  A tracker counts in one *kind* of number: the kind of
    those of its targets and ``init_progress`` that are not ints (mixing
    float, Decimal and Fraction there is a ``ValueError``), or, if they are
    all ints, the kind of the first amount that is not an int, which its
    progress takes on (until a ``PROGRESS`` reset sets it back to 0).  Ints
    are exact in every kind and always added (int progress plus an int stays
    an int).  Other amounts:

    * counting in float, every amount is converted to a float and added: the
      tracker is approximate by choice;
    * counting in Decimal, Decimals are added, and Fractions that have an
      exact Decimal value; floats are refused;
    * counting in Fraction, Decimals and Fractions are added (every Decimal
      is an exact Fraction); floats are refused.

    Floats are refused by exact trackers because a float is rarely the
    number that was meant (``0.1`` is 0.1000000000000000055...), and adding
    one would make exact progress approximate for good.  Decimal arithmetic
    is exact within IEEE 754 decimal128: ``trackers.DECIMAL_DIGITS`` (34)
    significant digits, exponents up to 6144 (Decimal targets and
    ``init_progress`` must fit); a sum that would need more is refused, never
    rounded, whatever the decimal context of the thread.  A refused amount
    adds nothing and is logged as a warning, as are NaN and infinities of
    every kind.

    Progress reaches a target when ``progress >= target``, compared exactly
    if both are exact (int, Decimal, Fraction).  If either is a float, it
    also reaches a target it is below by less than the relative tolerance
    ``trackers.FLOAT_TOLERANCE`` (1e-9): floats that add up to the target on
    paper reach it, although ``0.7 + 0.1`` is ``0.7999999999999999``.  The
    same comparison decides stages and laps; the progress shown is the sum
    as computed.

    States and what they allow:

    ``active``
        evaluates data items.
    ``limited``
        a limiter refused; items are offered to the limiters only, and the
        tracker becomes active again when all of them allow (or after a reset
        of its limiters).
    ``completed``
        the last stage was reached (``completed_at`` says when); it is kept
        for reference but no longer evaluated.  ``track``, ``reset`` and
        ``add_targets`` raise ``TrackerAlreadyCompletedError``.
    ``removed``
        taken out of its manager; every operation that changes it raises
        ``TrackerAlreadyRemovedError``.
    """

    name = Attribute("The tracker's name, unique within its group (str).")
    group_id = Attribute(
        "The group the tracker belongs to, or None before it is added.")
    conditions = Attribute(
        "Tuple of ICondition; all must hold for an item to count.")
    limiters = Attribute("Tuple of ILimiter, in the order given.")
    targets = Attribute(
        "Tuple of the stage targets, strictly increasing positive numbers "
        "of the tracker's kind (see Numbers).")
    target = Attribute(
        "The progress value at which the current stage (or lap) completes.")
    current_stage = Attribute(
        "The stage being worked on, counting from 1; stays at the last stage "
        "once that is reached.")
    laps = Attribute(
        "With loop_forever: how often the last target was reached (the last "
        "stage itself is the first lap).")
    progress = Attribute(
        "Current progress: init_progress plus the amounts added (a PROGRESS "
        "reset sets it to 0); a number of the tracker's kind, or an int.")
    init_progress = Attribute("The progress the tracker started with.")
    reset_policy = Attribute(
        "A ResetPolicy flag (NONE, PROGRESS, LIMITER, ALL).")
    loop_forever = Attribute(
        "True if the tracker repeats its last target forever.")
    state = Attribute("'active', 'limited', 'completed' or 'removed'.")
    active = Attribute("True if state is 'active'.")
    limited = Attribute("True if state is 'limited'.")
    completed = Attribute("True if state is 'completed'.")
    removed = Attribute("True if state is 'removed'.")
    completed_at = Attribute(
        "Time (seconds since the epoch) the tracker completed at, or None.")
    expire_at = Attribute(
        "Time the tracker stops counting at, or None; set by the manager.")

    def matches(data):
        """Return ``True`` if every condition holds for *data*."""

    def track(data, now_ts=None):
        """Evaluate one data item; return ``(changed, events)``.

        ``changed`` is ``True`` if the tracker's persistent state changed
        (progress, stage, state, or a limiter's state).  ``events`` is a
        tuple of IGoalEvent, in the order they happened: limited-before,
        reset, stage or all completed, limited-after.  The tracker does not
        dispatch events itself; its manager does.

        Raises ``TrackerAlreadyCompletedError`` or
        ``TrackerAlreadyRemovedError`` in those states.
        """

    def reset(reset_policy=None, now_ts=None, **options):
        """Clear what *reset_policy* (default: the tracker's own) says.

        ``options`` (e.g. ``reset_count``, ``reset_seconds``) are handed to
        every limiter when the policy includes ``LIMITER``; resetting the
        limiters makes a limited tracker active again.  Returns the tuple of
        events caused (one reset event).
        """

    def add_targets(*targets):
        """Append further stage targets (numbers, or one list of numbers).

        Each must be greater than the last existing target and than the
        current target, and of the tracker's kind of number or an int
        (a tracker whose targets are ints takes its progress's kind into
        account).  The stored tuple is replaced, never changed in place.
        """

    def snapshot():
        """Return a detached, non-persistent copy of the tracker's state.

        The copy has the same read-only attributes and repr as the tracker
        and does not change when the tracker does.
        """

    def due_at():
        """The earliest time (seconds UTC) at which ``tick`` may change
        this tracker without an item, or None if only items and calls can.

        The expiry time; for a live tracker also its deadlines and, for a
        period tracker, the end of its open period.  ``goals.due.ALWAYS``
        (minus infinity) for a live tracker ``tick`` must see every time: a
        composite, or an ``ITimeDriven`` tracker that does not say better.
        The index of due times (``goals/due.py``) keeps each group under
        the earliest of its trackers' answers.
        """

    def due_records():
        """The persistent records ``due_at`` reads (the tracker, its
        progress record, its deadline limiters), so that building the
        index can check they did not change under it."""


class ITrackerSnapshot(Interface):
    """The state of a tracker at one moment, as carried by events.

    Has the read-only attributes of ITracker (``name``, ``group_id``,
    ``progress``, ``target``, ``targets``, ``current_stage``, ``state`` and
    the state flags, ``conditions``, ``limiters`` as detached copies,
    ``completed_at`` ...) plus ``kind``, the tracker's class name.  It is not
    persistent and may be kept after the transaction ends.
    """

    kind = Attribute("Class name of the tracker the snapshot was taken of.")
    name = Attribute("The tracker's name.")
    progress = Attribute("Progress at the moment of the snapshot.")
    state = Attribute("State at the moment of the snapshot.")


# -- events -------------------------------------------------------------------

class IGoalEvent(Interface):
    """Something that happened to a tracker.

    Events are delivered three ways: to listeners registered with
    ``ITrackingManager.add_listener`` for the event's code, either at once
    (inside the transaction) or after the transaction committed; and through
    ``zope.event.notify`` at once, so Zope subscribers registered for these
    interfaces hear them too.
    """

    code = Attribute("The event code (1001 ... 1005, as in dictrack).")
    group_id = Attribute("The group of the tracker.")
    name = Attribute("The tracker's name.")
    tracker = Attribute(
        "An ITrackerSnapshot of the tracker, taken when the event happened.")
    timestamp = Attribute("When it happened (seconds since the epoch).")


class ITrackerAddedEvent(IGoalEvent):
    """A tracker was added to a manager (code 1001)."""


class IStageCompletedEvent(IGoalEvent):
    """A stage (or, with loop_forever, a lap) was completed (code 1002).

    The snapshot shows the tracker as it completed the stage: the completed
    stage, its target and the progress that reached it.
    """


class IAllCompletedEvent(IGoalEvent):
    """The tracker completed its last stage (code 1003)."""


class IResetEvent(IGoalEvent):
    """The tracker was reset, by hand or by a stage change (code 1004)."""


class ILimitedEvent(IGoalEvent):
    """A limiter stopped the tracker from counting (code 1005)."""

    limiter = Attribute("A detached copy of the limiter that refused.")


# -- the manager --------------------------------------------------------------

class ITrackingManager(Interface):
    """Keeps trackers per group in ZODB and feeds data items to them.

    The manager's state lives in a persistent registry inside a database, so
    every change it makes belongs to the current transaction of its
    connection.  The caller owns that transaction (``transaction.manager`` or
    the connection's transaction manager) and decides when to commit or abort.
    A manager that opened its own in-memory database (the dictrack-compatible
    ``TrackingManager(data_cache=MemoryDataCache(), data_store=None)``)
    commits after every call that changed something, on a transaction manager
    of its own.

    A manager uses one ZODB connection and so belongs to one thread.
    """

    transaction_manager = Attribute(
        "The transaction manager whose transactions hold the changes.")
    registry = Attribute(
        "The GoalRegistry in use, or None before the first tracker is added.")

    def add_tracker(group_id, tracker, expire=None, expire_at=None,
                    now_ts=None):
        """Add *tracker* to the group and announce it (event 1001).

        ``expire`` (seconds from now) or ``expire_at`` (a timestamp), not
        both, make the tracker stop counting at that time.  Raises
        ``ConflictingNameError`` if the group has a live tracker of that name
        (a completed one of that name is replaced), ``GroupIdAlreadySetError``
        if the tracker belongs to another group, and the state errors for
        completed or removed trackers.
        """

    def add_trackers(group_id, trackers, expire=None, expire_at=None,
                     now_ts=None):
        """Add several trackers; all are checked before any is added."""

    def get_trackers(group_id, name=None, include_completed=False,
                     now_ts=None):
        """Return a list of the group's trackers (the live persistent objects).

        ``name`` may be a name or a list of names (results follow that
        order; unknown names are skipped).  Expired trackers are never
        returned; completed ones only with ``include_completed``.
        """

    def update_tracker(group_id, tracker):
        """Store *tracker* in place of the group's tracker of the same name.

        Raises ``TrackerLookupError`` if there is no such tracker.
        """

    def remove_tracker(group_id, name=None, detach=False, now_ts=None):
        """Remove the named tracker(s), or the whole group if *name* is None.

        Returns the list of removed trackers, now in state 'removed'.

        A tracker that is a component of a live composite (in any group)
        not removed in the same call is refused with
        ``ComponentInUseError`` naming the composite: the composite's
        target counts it, so it would wait forever.  With
        ``detach=True`` the tracker is taken out of those composites as
        well (``ICompositeTracker.remove_components``: an ``all_of``
        then needs one fewer, a roll-up loses that contribution), and
        each re-reads its components at once (``now_ts``, seconds since
        the epoch, default now): one that is complete without the tracker
        completes, with its events.  ``CompositeOutOfReachError`` if that
        would leave a composite without components or below its count
        target.  Every check runs before the first write.
        """

    def reset_tracker(group_id, name, reset_policy=None, now_ts=None,
                      **options):
        """Reset the named tracker (see ``ITracker.reset``) and announce it.

        Returns ``False`` if the group has no live tracker of that name.
        """

    def track(group_id, data, now_ts=None):
        """Offer the data item to every live tracker of the group.

        Returns a ``TrackResult(ok, dirtied, completed, limited)`` named
        tuple: ``dirtied`` are the trackers this item changed, ``completed``
        those it completed, ``limited`` those that are limited after it.
        Trackers whose expiry time is at or before ``now_ts`` are removed
        without being evaluated.  Raises ``TypeError`` if *data* is not a
        mapping.
        """

    def remove_expired(now_ts=None):
        """Remove the expired trackers of every group; return them.

        ``track`` already drops the expired trackers of the group it works
        on; this is for a periodic sweep.
        """

    def flush(confirm=False):
        """Remove every tracker of every group; only if *confirm* is True."""

    def close():
        """Close the connection and database the manager opened itself."""

    def add_listener(code, callback, when="immediate"):
        """Call ``callback(event)`` for every event with *code*.

        ``when='immediate'`` calls it as the event happens, inside the
        transaction.  A transaction that is retried (``retry_transaction``,
        a conflict) runs its work again, and immediate listeners and
        ``zope.event`` subscribers hear the events again: *once per
        attempt*, including attempts that are then aborted.  Use them for
        work that belongs to the transaction (more goal changes), never for
        outside effects.

        ``when='after_commit'`` calls it after the transaction in which the
        event happened has committed: exactly once per committed event,
        never for an aborted transaction, a failed commit or work rolled
        back to a savepoint.  Use it for mail, HTTP calls, messages.  The
        transaction is the one of the connection holding the goals
        (``transaction_manager``), whichever transaction manager that is.

        A listener that raises is logged and the other listeners still
        run.  After-commit listeners run while the committed transaction is
        being finished (they are its after-commit hooks), so they must not
        change persistent objects through the same transaction manager.
        Listeners are configuration, not data: adding one is not undone by
        an abort.  Raises ValueError for an unknown code or ``when``.
        """

    def remove_listener(code, callback, when="immediate"):
        """Stop calling *callback*; return False if it was not registered."""


class IGoalHome(Interface):
    """Where a manager finds its registry: e.g. a tracking storage.

    ``TrackingManager(home)`` asks for both on every call, so a manager
    never holds on to a registry or a transaction manager of a transaction
    that has ended.
    """

    transaction_manager = Attribute(
        "The transaction manager of the connection holding the registry.")

    def goal_registry(create=False):
        """The ``GoalRegistry``, or None if there is none yet.

        With *create*, a missing registry is made in the current
        transaction (and is gone again if it aborts).
        """


# -- errors -------------------------------------------------------------------

class GoalError(Exception):
    """Base class of the errors raised by the goal layer."""


class TrackerStateError(GoalError, ValueError):
    """The tracker's state forbids the operation."""


class TrackerAlreadyCompletedError(TrackerStateError):
    """The tracker is completed: it can be read and removed, nothing else."""

    def __init__(self, group_id, name, operation="change"):
        super().__init__(
            "cannot %s tracker %r in group %r: it is completed"
            % (operation, name, group_id))
        self.group_id = group_id
        self.name = name


class TrackerAlreadyRemovedError(TrackerStateError):
    """The tracker was removed from its manager."""

    def __init__(self, group_id, name, operation="change"):
        super().__init__(
            "cannot %s tracker %r of group %r: it was removed"
            % (operation, name, group_id))
        self.group_id = group_id
        self.name = name


class ComponentInUseError(TrackerStateError):
    """A tracker to be removed is a component of a live composite that is
    not removed with it: without the tracker the composite would wait for
    it forever (its target counts it)."""

    def __init__(self, group_id, name, users):
        # *users*: [(group id, composite name)], in the order found.
        named = ", ".join("%r of group %r" % (c, g) for g, c in users)
        calls = ", ".join("remove_tracker(%r, %r)" % (g, c) for g, c in users)
        several = len(users) > 1
        super().__init__(
            "cannot remove tracker %r of group %r: it is a component of "
            "the live composite%s %s; remove %s first (%s), or call "
            "remove_tracker(..., detach=True) to take the tracker out of "
            "its composites too"
            % (name, group_id, "s" if several else "", named,
               "them" if several else "the composite", calls))
        self.group_id = group_id
        self.name = name
        self.users = list(users)


class CompositeOutOfReachError(TrackerStateError):
    """Taking components out of a composite would leave it unable to
    complete: no components at all, or fewer than its count target."""

    def __init__(self, group_id, name, left, target):
        super().__init__(
            "cannot take components out of the composite %r of group %r: "
            "%d would be left, and it needs %s; remove the composite first "
            "(remove_tracker(%r, %r)) or redefine it with a lower target"
            % (name, group_id, left, "at least one" if not left else
               "%d to complete" % target, group_id, name))
        self.group_id = group_id
        self.name = name
        self.left = left
        self.target = target


class GroupIdAlreadySetError(GoalError, ValueError):
    """The tracker already belongs to another group."""

    def __init__(self, old, new):
        super().__init__(
            "cannot add the tracker to group %r: it belongs to group %r"
            % (new, old))
        self.old = old
        self.new = new


class _MessageKeyError(GoalError, KeyError):
    # KeyError's str() shows the repr of its argument; show the message.
    def __str__(self):
        return str(self.args[0])


class ConflictingNameError(_MessageKeyError):
    """The group already has a live tracker of that name."""

    def __init__(self, group_id, name):
        super().__init__(
            "group %r already has a tracker named %r" % (group_id, name))
        self.group_id = group_id
        self.name = name


class TrackerLookupError(_MessageKeyError):
    """The group has no tracker of that name."""

    def __init__(self, group_id, name):
        super().__init__(
            "group %r has no tracker named %r" % (group_id, name))
        self.group_id = group_id
        self.name = name


# -- the shape of the manager (issue 12) --------------------------------------

class IIndexableTracker(ITracker):
    """A tracker that tells the candidate index which items can change it.

    The candidate index (``goals/candidates.py``) skips, for an item, the
    trackers that the item cannot change; it asks each tracker instead of
    reading its internals.
    """

    def index_key():
        """``(key, value)``, or None.

        ``(key, value)`` promises: while the tracker stays in the same
        place (the manager re-asks whenever a group's live trackers change),
        evaluating a dict item whose value under the one-segment *key* is
        not equal to *value* (or is missing) changes nothing and runs no
        code but that comparison.  None promises nothing: every item is
        offered.
        """


class IGrantableTracker(ITracker):
    """A tracker whose stages can be granted and revoked by hand."""

    def grant(now_ts=None):
        """Complete the current stage (or lap) at *now_ts*, as if its
        target had been reached (progress is raised to the target).

        Returns the events, like ``track``.  Raises the state errors for a
        completed or removed tracker.
        """

    def revoke(now_ts=None):
        """Take back the last completed stage (or lap); return the number
        of the stage that is open again.

        A completed tracker becomes active at its last stage.  Progress
        goes back to where that stage started (the previous target, or
        ``init_progress`` at stage 1, or 0 under a PROGRESS reset policy).
        Raises ``TrackerStateError`` if no stage was completed.
        """


# -- history (issue 12) -------------------------------------------------------

class IGoalHistory(Interface):
    """The durable record of outcomes, kept with a goal registry.

    A record is an ``Outcome``: ``(group_id, tracker, kind, stage,
    progress, time, track_id, grantor, reason)``.  *kind* is one of
    ``stage_completed``, ``completed``, ``reset``, ``limited``,
    ``expired``, ``granted``, ``revoked``; *stage* and *progress* are the
    tracker's as the outcome happened; *time* is seconds since the epoch
    (UTC; ``Outcome.when`` is an aware datetime); *track_id* names the
    track that caused it, if any; *grantor* and *reason* say who granted or
    revoked by hand, and why.

    Records are written in the transaction that caused them and never
    changed; they stay when the tracker is reset, removed or replaced.
    Writers of different groups do not conflict (records are sharded by
    group; see ``goals/history.py``).
    """

    def record(group_id, tracker, kind, stage=None, progress=None,
               time=None, track_id=None, grantor=None, reason=None):
        """Add a record and return it as an ``Outcome``.

        Raises TypeError or ValueError, before writing, for a group id or
        tracker name that is not encodable text, an unknown kind, a time
        that is not a finite number, a grantor or reason that is not text.
        """

    def query(group_id=None, tracker=None, kind=None, time_from=None,
              time_to=None, limit=None):
        """Records, newest first, as a list of ``Outcome``.

        *tracker* and *kind* may be a str or a list of them; the time range
        is inclusive and None leaves a side open; *limit* keeps the newest
        n.  With *group_id* the group's records are read directly (one
        range of one BTree); without, all groups' records are merged by
        time and filtered, which reads more the rarer the match.
        """

    def prune(before, limit=None):
        """Remove the records older than *before* (seconds since the
        epoch, UTC; a record at *before* stays), oldest shard by shard, at
        most *limit* of them (None: all), so a caller can remove them in
        batches of one transaction each.  Returns how many were removed.

        Retention only: trackers' progress and stages are not changed.
        Raises TypeError or ValueError, before removing anything, for a
        *before* that is not a number or a *limit* that is not an int >= 0.
        """

    def forget(group_id):
        """Remove every record of the group *group_id* (the right to
        erasure, GDPR art. 17); returns how many.  Raises like ``record``
        for a bad group id, before removing anything."""


class IOutcomeManager(Interface):
    """What a tracking manager (and ``storage.goals``) offers around the
    history of outcomes, besides ``ITrackingManager``."""

    def history(group_id=None, tracker=None, kind=None, time_from=None,
                time_to=None, limit=None):
        """``IGoalHistory.query`` on the manager's history; [] if there is
        none yet (a read never writes)."""

    def grant(group_id, name, grantor, reason, now_ts=None):
        """Complete the live tracker *name*'s current stage by hand.

        Records ``granted`` (with *grantor* and *reason*, both non-empty
        text) and then the usual stage or completion outcome, and
        dispatches the events.  Returns the tracker.  Raises
        ``TrackerLookupError`` if the group has no live tracker of that
        name, the state errors for a completed one; nothing is written
        then.
        """

    def revoke(group_id, name, grantor, reason, now_ts=None):
        """Take back the last completed stage of tracker *name* (live or
        completed) by hand; records ``revoked``.  Returns the tracker.
        Raises ``TrackerLookupError`` or ``TrackerStateError`` (nothing
        completed) before writing."""

    def prune_history(before, limit=None):
        """``IGoalHistory.prune`` on the manager's history: remove up to
        *limit* records older than *before* (seconds, UTC); returns how
        many (0 if there is no history).  Progress is not changed."""

    def forget_group(group_id):
        """Erase a group: remove its trackers (live and completed), every
        history record of it and its entries on every leaderboard, in
        every period (the right to erasure).  Returns
        ``(trackers, records, entries)`` removed.  Raises like the other
        methods for a bad group id, before writing.

        The group's trackers leave the live composites of other groups
        that use them (a team's ``all_of`` or roll-up), as
        ``remove_tracker(..., detach=True)`` does: the composite goes on
        without the forgotten member, and completes now if the others are
        enough.  Erasure is never refused for a goal: a composite that
        would be left without components or below its count target (a
        team's roll-up over this member alone) is removed with the group
        (state ``removed``, off its leaderboard, taken out of the
        composites using it in turn, as far as that goes); its history
        records stay, they are its own group's.  The count returned names
        this group's trackers only.  ``remove_tracker`` still refuses
        such a removal unless the composite goes first."""

    def composites_removed_with(group_id):
        """The composites of other groups that ``forget_group(group_id)``
        would remove with the group (left unable to complete), as
        ``[(group id, name)]``, to say so before or after an erasure.
        Reads only."""


# -- definitions and backfill (issue 12) --------------------------------------

class IVersionedTracker(ITracker):
    """A tracker whose definition can be replaced, keeping a version.

    The policy when a goal's definition changes (``redefine``):

    ``keep``
        the new definition carries on from the old one's progress, stage
        and laps (as far as its own targets go); stages the new targets put
        below that progress complete with the next matching item.  Nothing
        is read again; the history keeps what happened under the old one.
    ``restart``
        the new definition starts from its own ``init_progress``.
    ``recompute`` (``storage.goals`` only)
        restart, then count the stored tracks again, as a backfill does.

    Either way the new tracker's ``version`` is the old one's plus one.
    """

    version = Attribute("The definition's version: 1, then one more for "
                        "each redefinition.")

    def take_over(old):
        """Carry on from *old* (the ``keep`` policy); only a new tracker.

        Raises ``TrackerStateError`` for a tracker that was used or stored,
        ValueError if *old*'s progress is of another kind of number than
        the new targets; nothing changes then.
        """

    def succeed(old):
        """Become *old*'s next version with fresh progress (``restart``)."""


class IRedefiningManager(Interface):
    """Replacing a goal's definition (see ``IVersionedTracker``)."""

    def redefine(group_id, tracker, policy="keep", now_ts=None):
        """Put *tracker* in place of the group's tracker of the same name
        (live or completed) as its next version, by *policy*; return it.

        Raises ``TrackerLookupError`` if there is none, ValueError for an
        unknown policy, the state errors for a used tracker; nothing is
        written then.
        """


# -- leaderboards (issue 12) --------------------------------------------------

class ILeaderboard(Interface):
    """The groups ranked by the progress of their tracker of one name.

    The score of a group is its tracker's ``progress`` (live or completed;
    a removed or expired tracker leaves the board), updated in the
    transaction that moves it.  Higher scores rank first; equal scores
    share a rank (1, 2, 2, 4) and are listed by group id.  ``update``,
    ``rank`` and ``score`` take O(log n) for n groups, ``top(k)`` O(log n
    + k).  Writers of different groups do not conflict (see
    ``goals/leaderboard.py``).

    With a ``period`` (an object with ``key(time)``, e.g. a calendar
    period), every period has a board of its own; *at* (seconds, UTC;
    default now) picks it.
    """

    name = Attribute("The tracker name the board ranks.")
    period = Attribute("The period boards are kept per, or None.")

    def update(group_id, score, at=None):
        """Set the group's score; False if it was that already."""

    def discard(group_id, at=None):
        """Take the group off the board; False if it was not on it."""

    def forget(group_id):
        """Take the group off the boards of every period (the right to
        erasure); returns how many boards it was on."""

    def score(group_id, at=None):
        """The group's score, or None if it is not on the board."""

    def rank(group_id, at=None):
        """The group's rank (1 is the highest score), or None."""

    def top(n=10, at=None):
        """The first *n* entries as ``(rank, group_id, score)`` tuples."""

    def start(groups, now):
        """Put on the board the groups (``GoalGroup``) that have a tracker
        of its name, not expired at *now*, with their progress."""


class ILeaderboardManager(Interface):
    """Leaderboards of a tracking manager (and ``storage.goals``)."""

    def add_leaderboard(name, period=None):
        """Keep a leaderboard for the trackers named *name*; it starts
        with the groups that have such a tracker now.  Returns it.
        Raises ValueError if there is one already, or if no group has a
        tracker of that name (nor, for ``storage.goals``, a task template:
        a board of a misspelt name would stay empty); the message lists
        the known names.  Nothing is written when it raises."""

    def leaderboard(name):
        """The leaderboard of *name*, or None."""

    def remove_leaderboard(name):
        """Stop keeping the leaderboard of *name*; return it or None."""


# -- time: evaluation without an item (issue 12) -----------------------------

class ITimeDriven(Interface):
    """A tracker that can change because time passed, without an item.

    ``tick`` (``goals/ticks.py``, ``ITickingManager.tick``) calls it.
    """

    def tick(now_ts=None):
        """Bring the tracker up to *now_ts* (seconds UTC; default now).

        Returns ``(changed, events)`` like ``ITracker.track``.  Does nothing
        (``(False, ())``) for a completed or removed tracker.
        """


class ITickingManager(Interface):
    """A manager that evaluates time-driven goals on request."""

    def tick(now_ts=None, group_ids=None):
        """Do what time alone does to goals, at *now_ts* (default now).

        In this order, for every group (or the groups in *group_ids*):
        trackers whose expiry time has come are removed (event 1013);
        live trackers with a ``DeadlineLimiter`` whose deadline passed are
        failed and removed (event 1012); every live ``ITimeDriven``
        tracker is ticked (period trackers close their periods, event
        1011); then composites are ticked until none changes, so roll-ups
        over roll-ups settle in one call.  Events go to the listeners as
        for ``track``, inside the caller's transaction (after-commit
        listeners after it commits); expiries and failures are recorded in
        the history and every changed tracker moves on its leaderboards.
        Returns a ``TickResult(closed, failed, expired, changed)`` of lists
        of trackers.  Reads only the groups the registry's index of due
        times (``goals/due.py``) holds at or before *now_ts* (a registry
        made before the index gets it, and its groups the sharded map,
        on the first such tick: see ``goals/upgrade.py``), or the groups
        of *group_ids*; meant for a periodic job, not per request.
        """

    def groups_without_trackers(group_ids):
        """The groups of *group_ids* that hold no tracker (completed ones
        count), once each, in the order given: ``tick`` passes them over.
        Not an error: the registry forgets a group with its last tracker
        (an expiry, a failed deadline), so a periodic job's list names
        such groups normally; front ends report them so that a misspelt
        group is seen (``goals tick --group``, ``POST /goals/tick``).
        Reads only."""


# -- time: rolling windows (issue 12) -----------------------------------------

class IWindowTracker(ITracker):
    """At least N matching items in the last D seconds (``windows.py``).

    A counting tracker whose progress is the number of matching items in a
    window of ``window`` seconds ending at the newest matching item's time
    ``t``: the items in ``(t - window, t]``, times in seconds UTC as given
    by ``now_ts`` (a storage gives the track's time stamp), never the wall
    clock.  Progress can therefore fall as well as grow; it is recomputed
    with every matching item and capped at the last target.  Targets are
    counts (ints); reaching one completes the stage as for ``ITracker``.

    Out-of-order items (the rule of gamification engines' "N in D days"
    badges, stated exactly): an item older than the newest one seen
    (``latest``) by less than ``window`` counts in the window ending at
    ``latest``; an item ``window`` or more older is too late and adds
    nothing.  So the result does not depend on the order in which the
    items of one window arrive.

    With ``loop_forever`` every lap needs the last target again, counted
    from items after the previous lap (the items of a lap are used up).
    Raises ``TypeError`` for targets that are not ints and ``ValueError``
    for a window that is not a positive number of seconds (or timedelta).
    """

    window = Attribute("The window's length in seconds (int or float).")
    times = Attribute(
        "Tuple of the kept item times, ascending: the newest matching items "
        "inside the window, at most the last target of them.")
    latest = Attribute("The newest matching item time seen, or None.")

    def count_at(now_ts=None):
        """Kept items inside ``(now_ts - window, now_ts]`` (read only).

        Shows how the window empties as time passes; no item is needed.
        """


# -- limiters: introspection and direct use (issue 12) -----------------------

class ILimiterInfo(ILimiter):
    """A limiter that answers questions without changing (``limiters.py``).

    The questions the ``limits`` library answers for rate limits: how much
    is left, when more will be allowed, would this item be allowed.  All
    take ``now_ts`` (seconds UTC, default: the current time) and a
    ``weight``: how many units an item uses (an int >= 1; default the
    limiter's own ``weight``, which a tracker's items use).  A bad weight
    raises ``TypeError`` or ``ValueError`` naming it.
    """

    weight = Attribute("Units each counted item uses (int, default 1).")
    weight_key = Attribute(
        "A dotted path into the item (``data.cost``) to read an item's "
        "weight from, or None (every item uses ``weight``).")

    def weight_of(data):
        """The weight of the item *data*: the int at ``weight_key`` (the
        limiter's ``weight`` without a key or a value there).  Raises
        TypeError or ValueError naming the key and the value for anything
        but an int >= 1.  A tracker asks this for each matching item
        before it changes anything, refuses the item (and is limited) if
        ``peek`` with that weight says no, and passes it to
        ``record(now_ts, weight)``."""
    remaining = Attribute(
        "``remaining_at()`` at the current time; for a CountLimiter the "
        "stored allowance, as before.")

    def peek(now_ts=None, weight=None):
        """Would an item of *weight* be allowed at *now_ts*?  Changes nothing.
        """

    def hit(now_ts=None, weight=None):
        """Use the limiter on its own: if ``peek`` allows, record the item
        and return True; else return False and change nothing."""

    def remaining_at(now_ts=None):
        """Units that may still be used at *now_ts* (int >= 0), or None if
        the limiter does not limit a number (a time window that is open)."""

    def resets_at(now_ts=None):
        """When the limiter will next allow more than at *now_ts* without a
        ``reset`` (a timestamp), or None if only a reset will."""


# -- time: events of time-driven goals (issue 12) ----------------------------

class IPeriodClosedEvent(IGoalEvent):
    """A calendar period of a period tracker closed (code 1011).

    Sent when an item of a later period arrives or ``tick`` passes the
    period's end.  ``tracker`` shows the tracker as the period closed (its
    progress is the period's); ``period`` is the ``ClosedPeriod`` record
    kept in the tracker's history.
    """

    period = Attribute("The ClosedPeriod (key, start, end, progress, "
                       "target, met_at).")


class ITrackerFailedEvent(IGoalEvent):
    """A tracker's deadline passed before it completed (code 1012).

    Sent by ``tick``; the tracker is then taken out of its group (state
    'removed'), like an expired one.
    """


class ITrackerExpiredEvent(IGoalEvent):
    """``tick`` removed a tracker whose expiry time had come (code 1013)."""


# -- time: calendar periods and streaks (issue 12) ---------------------------

class ICalendar(Interface):
    """Daily, weekly (ISO 8601) or monthly periods in an IANA time zone.

    An immutable value (``periods.Calendar``), stored inside trackers.
    Raises ``ValueError`` for an unknown period or time zone name.
    """

    period = Attribute("'daily', 'weekly' or 'monthly'.")
    tz = Attribute("The IANA time zone name, e.g. 'Europe/Berlin'.")

    def period_of(ts):
        """The ``Period(key, start, end)`` holding *ts* (seconds UTC).

        ``start <= ts < end``, both in seconds UTC: the first instants of
        the period's first local day and of the next period's.  Keys:
        ``'2026-03-29'``, ``'2026-W13'`` (ISO year and week), ``'2026-03'``.
        Raises ``ValueError`` for a time no calendar can show.
        """

    def following(period):
        """The period that starts where *period* ends."""


class IPeriodTracker(ITracker, ITimeDriven):
    """A goal per calendar period, with history and streaks (``periods.py``).

    Progress and targets are those of the *open* period; an item or a
    ``tick`` at or after its end closes it (a ``ClosedPeriod`` in the
    history, event 1011) and opens the period of that time with progress 0
    (and, with the ``LIMITER`` reset policy, its limiters reset: "three a
    day" with a ``CountLimiter(3)``).  Items earlier than the open period
    count for nothing.  Reaching the last target meets the period's goal:
    event 1002, the streak grows (see ``streaks.py``), and the tracker counts
    nothing more until the next period.  The tracker never completes, unless
    ``streak_target`` periods in a row are met (event 1003).
    ``loop_forever`` is refused (``ValueError``): periods repeat anyway.
    """

    calendar = Attribute("The ICalendar of the tracker.")
    period = Attribute("The open Period, or None before the first item.")
    met = Attribute("True if the open period's goal is met.")
    streak_target = Attribute(
        "Met periods in a row that complete the tracker, or None.")
    longest_streak = Attribute("The most met periods in a row so far.")

    def streak_at(now_ts=None):
        """Met periods in a row up to the period holding *now_ts*.

        Counts the open period if it is met, and is still alive if only the
        period before it was: a period breaks the streak once it is over.
        """

    def closed_periods(limit=None):
        """The ClosedPeriods kept, newest first (at most *limit*).

        Empty when the tracker was made with ``keep_history=False``.
        """

    def tick(now_ts=None):
        """Close the open period if *now_ts* is at or after its end.

        Returns ``(changed, events)`` like ``track``; no item is needed.
        """


# -- goals built from goals (issue 12) ---------------------------------------

class ICompositeTracker(ITracker, ITimeDriven):
    """Progress taken from other trackers (``composite.py``).

    ``measure='completed'``: progress is how many components completed;
    targets are counts up to the number of components (``all_of``,
    ``any_of``, ``n_of``).  ``measure='progress'``: progress is the sum of
    the live components' progress (``rollup``: a team's points, a course's
    minutes); components may be trackers of other groups, and composites
    themselves (a roll-up over a group of groups).  A composite re-reads
    its components when its own group is tracked and on ``tick``; it takes
    no conditions, limiters or reset policy (its progress is measured).
    Raises ``TypeError`` for components that are not trackers and
    ``ValueError`` for a count target beyond the number of components.
    """

    components = Attribute("Tuple of the component trackers.")
    measure = Attribute("'completed' or 'progress'.")

    def add_components(*trackers):
        """Add components (a new member's goal); checked like the first."""

    def remove_components(*trackers):
        """Take components out (a member who left, a tracker removed with
        ``detach=True``).  With target None (``all_of``) the target
        becomes the number left; a roll-up no longer counts their
        progress.  Takes effect at the next ``tick``.  Raises
        ``ValueError`` for a tracker that is not a component and
        ``CompositeOutOfReachError`` if no components, or fewer than a
        count target, would be left; nothing changes then."""

    def forget_components(*trackers):
        """Drop *trackers* from a composite that is no longer live, for
        an erasure (``forget_group``): its outcome is final and stays;
        only the references go.  Raises ``ValueError`` on a live
        composite (``remove_components`` is for those)."""

    def tick(now_ts=None):
        """Re-read the components; ``(changed, events)`` like ``track``."""


class ISequenceTracker(ITracker):
    """Steps met in order, "A then B" (``composite.py``).

    ``steps`` are conditions (a list of conditions is their ``All``), at
    least two.  An item that passes the tracker's own ``conditions`` and
    meets the next step moves its sequence on; one that meets the first
    step instead starts it again; others change nothing.  With ``max_gap``
    (seconds or a timedelta) a step more than that after the previous one
    does not continue the sequence.  ``per`` (a dotted key, e.g.
    ``'runId'``) keeps one sequence per value found there; items without
    it do not count.  Each completed sequence adds 1 to progress; targets
    are counts of sequences.  Times are the items' ``now_ts``.
    """

    steps = Attribute("Tuple of the step conditions.")
    max_gap = Attribute("Seconds allowed between steps, or None.")
    per = Attribute("The dotted key sequences are kept apart by, or None.")
    partials = Attribute(
        "A copy of the open sequences: {value of per (None without per): "
        "(index of the next step, time of the last step met)}.")


class IDeadlineLimiter(ILimiterInfo):
    """A goal must be completed by a time (``limiters.DeadlineLimiter``).

    Allows until ``deadline`` (seconds UTC, included), then refuses; the
    manager's ``tick`` fails a tracker whose deadline passed.
    """

    deadline = Attribute("The deadline, seconds UTC.")

    def passed(now_ts=None):
        """True if *now_ts* is after the deadline."""

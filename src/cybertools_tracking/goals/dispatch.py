"""Event dispatch: where a manager's events go.

A manager makes events (a tracker added, a stage completed ...) in the
middle of its work, inside the caller's transaction.  ``Dispatcher`` hands
each one to the manager's ``Listeners`` (immediate ones now, after-commit
ones queued in the transaction of the connection that holds the goals; see
``listeners.py``) and keeps the outcomes among them in the history
(``history.py``), in the same transaction.  It asks the manager's home for
the registry and transaction manager on every event, so a pooled
connection opened again with another transaction manager is followed.

A stage change always makes a reset event (the reset policy is applied,
even when it clears nothing), just before the stage-completed event; the
history keeps the stage and not that reset.  A reset by hand is kept.
"""

from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.events import EVENT_TRACKER_EXPIRED
from cybertools_tracking.goals.events import EVENT_TRACKER_FAILED
from cybertools_tracking.goals.events import EVENT_TRACKER_LIMITED
from cybertools_tracking.goals.events import EVENT_TRACKER_RESET
from cybertools_tracking.goals.events import EVENT_TRACKER_STAGE_COMPLETED
from cybertools_tracking.goals.history import history_of
from cybertools_tracking.goals.leaderboard import boards_of

__all__ = ["Dispatcher", "RECORDED"]

#: Event code -> the kind of history record it makes.
RECORDED = {
    EVENT_TRACKER_STAGE_COMPLETED: "stage_completed",
    EVENT_TRACKER_ALL_COMPLETED: "completed",
    EVENT_TRACKER_RESET: "reset",
    EVENT_TRACKER_LIMITED: "limited",
    EVENT_TRACKER_FAILED: "failed",      # a deadline passed (``tick``)
    EVENT_TRACKER_EXPIRED: "expired",    # its expiry time came (``tick``)
}


class Dispatcher:
    """Delivers a manager's events and records its outcomes."""

    __slots__ = ("listeners", "home")

    def __init__(self, listeners, home):
        #: The ``Listeners`` events are delivered to.
        self.listeners = listeners
        #: The ``IGoalHome`` whose registry and transaction hold the goals.
        self.home = home

    def __call__(self, event, cause=None, grantor=None):
        """Record (if an outcome) and deliver one event."""
        kind = RECORDED.get(event.code)
        if kind is not None:
            self._record_event(event, kind, cause, grantor)
        self.deliver(event, self.home.transaction_manager)

    def events(self, events, cause=None, grantor=None):
        """Record and deliver the events of one tracker's evaluation."""
        staged = len(events) > 1 and any(
            event.code == EVENT_TRACKER_STAGE_COMPLETED for event in events)
        tm = self.home.transaction_manager
        for event in events:
            kind = RECORDED.get(event.code)
            if kind is not None and not (
                    staged and event.code == EVENT_TRACKER_RESET):
                self._record_event(event, kind, cause, grantor)
            self.deliver(event, tm)

    def deliver(self, event, transaction_manager):
        """Hand one event to the listeners; a subclass may also keep it
        elsewhere in the same transaction (the storage's outbox)."""
        self.listeners.dispatch(event, transaction_manager)

    def _record_event(self, event, kind, cause, grantor):
        snapshot = event.tracker
        self.record(event.group_id, event.name, kind, snapshot.current_stage,
                    snapshot.progress, event.timestamp, cause, grantor)

    def expired(self, trackers, now):
        """Record that *trackers* expired at *now* (no event exists)."""
        for tracker in trackers:
            self.record(tracker.group_id, tracker.name, "expired",
                        tracker.current_stage, tracker.progress, now)

    def scored(self, registry, trackers, now):
        """Move the groups of *trackers* on the leaderboards of their
        names (off them, for removed trackers), if there are any."""
        boards = boards_of(registry)
        if not boards:
            return
        for tracker in trackers:
            board = boards.get(tracker.name)
            if board is not None:
                if tracker.removed:
                    board.discard(tracker.group_id, now)
                else:
                    board.update(tracker.group_id, tracker.progress, now)

    def record(self, group_id, name, kind, stage, progress, time,
               cause=None, grantor=None, reason=None):
        history = history_of(self.home.goal_registry(create=True),
                             create=True)
        return history.record(group_id, name, kind, stage, progress, time,
                              cause, grantor, reason)

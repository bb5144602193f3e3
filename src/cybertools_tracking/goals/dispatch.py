"""Event dispatch: where a manager's events go.

A manager makes events (a tracker added, a stage completed ...) in the
middle of its work, inside the caller's transaction.  ``Dispatcher`` hands
each one to the manager's ``Listeners`` (immediate ones now, after-commit
ones queued in the transaction of the connection that holds the goals; see
``listeners.py``).  It asks the manager's home for that transaction
manager on every event, so a pooled connection opened again with another
transaction manager is followed.
"""

__all__ = ["Dispatcher"]


class Dispatcher:
    """Calling it with an event delivers the event; see the module."""

    __slots__ = ("listeners", "home")

    def __init__(self, listeners, home):
        #: The ``Listeners`` events are delivered to.
        self.listeners = listeners
        #: The ``IGoalHome`` whose transaction manager holds the goals.
        self.home = home

    def __call__(self, event):
        self.listeners.dispatch(event, self.home.transaction_manager)

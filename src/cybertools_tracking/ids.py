"""Number allocation for tracks and runs."""

from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking.interfaces import IIdAllocator

__all__ = ['Counter']


@implementer(IIdAllocator)
class Counter(Persistent):
    """A sequence of numbers 1, 2, 3 ... in its own small record.

    Kept apart from the storage object so that writing a track rewrites
    these few bytes, not the storage's state. It deliberately does not
    resolve conflicts: two transactions that took the same number must
    not both commit.
    """

    value = 0

    def allocate(self):
        self.value += 1
        return self.value

    def peek(self):
        """The number the next ``allocate`` will return."""
        return self.value + 1

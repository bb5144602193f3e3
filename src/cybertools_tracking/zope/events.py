"""Subscribers: what container events mean for a tracking storage.

A storage removes a track and its index entries in ``removeTrack`` (and
``del storage[id]``). Zope code that removes objects the container way
(zope.container's ``uncontained()``, or anything that notifies an
``IObjectRemovedEvent`` for a track) says so by an event instead; the
subscriber here makes that a ``removeTrack``, so that no index entry
points to a track that is gone.
"""

from zope.component import adapter
from zope.lifecycleevent.interfaces import IObjectRemovedEvent

from cybertools_tracking.interfaces import ITrack, ITrackingStorage

__all__ = ['unindexRemovedTrack']


@adapter(ITrack, IObjectRemovedEvent)
def unindexRemovedTrack(track, event):
    """Remove ``track`` from the storage it was removed from
    (``event.oldParent``), with its index entries, if it is still there.

    A track the storage no longer holds (``removeTrack`` sends no event,
    but a caller might after it) is left alone, as is one removed from
    something that is not a tracking storage.
    """
    storage = event.oldParent
    if not ITrackingStorage.providedBy(storage):
        return
    if event.oldName is not None and storage.get(event.oldName) is track:
        storage.removeTrack(track)

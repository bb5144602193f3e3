"""``cybertools.tracking.browser`` as the loops framework knew it: the
views of a tracking storage and its tracks (needs the ``zope`` extra)."""

from cybertools_tracking.timestamps import timeStamp2ISO
from cybertools_tracking.zope.browser import TrackingStorageView, TrackView

__all__ = ['TrackingStorageView', 'TrackView', 'timeStamp2ISO']

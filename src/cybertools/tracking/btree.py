"""``cybertools.tracking.btree`` as the loops framework knew it."""

from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.timestamps import getTimeStamp, timeStamp2ISO
from cybertools_tracking.track import Run, Track

__all__ = ['TrackingStorage', 'Track', 'Run', 'getTimeStamp', 'timeStamp2ISO']

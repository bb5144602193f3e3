"""cybertools-tracking: record and evaluate user and device activity in ZODB.

The public names; everything else is reached through its module.
"""

from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.timestamps import getTimeStamp, timeStamp2ISO
from cybertools_tracking.track import Run, Track

__all__ = ['TrackingStorage', 'Track', 'Run', 'getTimeStamp', 'timeStamp2ISO']

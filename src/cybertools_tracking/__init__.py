"""cybertools-tracking: record and evaluate user and device activity in ZODB.

The public names; everything else is reached through its module.
"""

from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.timestamps import getTimeStamp, timeStamp2ISO
from cybertools_tracking.track import Run, Track
# The goal glue registers IStorageGoals(storage), i.e. ``storage.goals``.
import cybertools_tracking.tracked_goals  # noqa: E402,F401  isort:skip

__all__ = ['TrackingStorage', 'Track', 'Run', 'getTimeStamp', 'timeStamp2ISO']

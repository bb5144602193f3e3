"""``cybertools.tracking.btree`` as the loops framework knew it."""

from cybertools_tracking import storage as _storage
from cybertools_tracking.timestamps import getTimeStamp, timeStamp2ISO
from cybertools_tracking.track import Run, Track

__all__ = ['TrackingStorage', 'Track', 'Run', 'getTimeStamp', 'timeStamp2ISO']


class TrackingStorage(_storage.TrackingStorage):
    """The storage under loops' name, with loops' one rule the new name
    drops: query criteria it has no index for are ignored, not refused.
    loops relies on it: its repair scripts (``removeRecords``) pass
    their loop options (``step``, ``stop``) to ``query`` with the
    criteria. Databases written by loops name this class, so they keep
    the rule; a storage of the new class gets it with
    ``storage.ignoreUnknownCriteria = True``."""

    ignoreUnknownCriteria = True

"""``cybertools.tracking.interfaces`` as the loops framework knew it."""

from cybertools_tracking.interfaces import IRun, ITrack, ITrackingStorage

__all__ = ['IRun', 'ITrack', 'ITrackingStorage']

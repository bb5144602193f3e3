"""Browser views of a tracking storage and its tracks (``views.py``),
registered by ``configure.zcml`` in this folder."""

from cybertools_tracking.zope.browser.views import TrackingStorageView
from cybertools_tracking.zope.browser.views import TrackView

__all__ = ['TrackingStorageView', 'TrackView']

"""Notifications on a tracking storage: ``Notification`` and the
``NotificationManager`` adapter (loops' ``cybertools.tracking.notify``).

A storage for notifications is an ordinary ``TrackingStorage`` made with
``trackFactory=Notification``; the manager adapts it::

    component.provideAdapter(NotificationManager)
    manager = INotificationManager(TrackingStorage(trackFactory=Notification))
    manager.notify('obj01', 'user01', 'object_changed')
"""

from zope.component import adapter
from zope.interface import implementer

from cybertools_tracking.interfaces import ITrackingStorage
from cybertools_tracking.track import Track
from cybertools_tracking.validation import check_name, copy_data
from cybertools.tracking.notify.interfaces import INotification
from cybertools.tracking.notify.interfaces import INotificationManager

__all__ = ['Notification', 'NotificationManager']


def _fromData(name):
    """An attribute read from the track's data (None when missing)."""
    def get(self):
        return self.data.get(name)
    get.__name__ = name
    return property(get, doc='``data[%r]``, or None.' % name)


@implementer(INotification)
class Notification(Track):
    """See INotification. The attributes of a notification (``state``,
    ``media``, ...) are its data's values: change them with ``update``."""

    typeName = 'Notification'

    # The names INotification adds to ITrack, each read from the data.
    for _name in ('type', 'state', 'priority', 'parent', 'eventType',
                  'media', 'timingType', 'timing', 'deliveryInfo',
                  'actionsPossible', 'actionsTaken'):
        locals()[_name] = _fromData(_name)
    del _name


@implementer(INotificationManager)
@adapter(ITrackingStorage)
class NotificationManager:
    """See INotificationManager."""

    def __init__(self, context):
        self.context = context

    def notify(self, taskId, userName, ntfType, media=None, priority=None,
               **kw):
        data = dict(media=['inbox'] if media is None else media,
                    state='new', type=ntfType)
        if priority is not None:
            data['priority'] = priority
        data.update(kw)
        # Checked before the run is started: a refused notification
        # leaves no empty run behind.
        check_name('taskId', taskId)
        check_name('userName', userName)
        copy_data(data)
        runId = self.context.startRun()
        self.context.saveUserTrack(taskId, runId, userName, data)

    def query(self, **criteria):
        return self.context.query(**criteria)

    def cleanUp(self, age=1, removeIgnored=False):
        return None

"""The contracts of notifications (loops' ``cybertools.tracking.notify``).

A notification is a track: its task id names the object it is about, its
user name the user to be told, and notifications caused by the same
event share a run. What it says is in its data, and each key below is
also an attribute of the notification (None where the data lacks it).
"""

from zope.interface import Attribute, Interface

from cybertools_tracking.interfaces import ITrack

__all__ = ['INotification', 'INotificationManager', 'types', 'states',
           'priorities', 'media', 'timingTypes', 'actionTypes']

# The tokens loops uses, for forms and vocabularies; nothing enforces them.
types = ('object_changed', 'object_new', 'invitation', 'assignment')
states = ('new', 'active', 'deferred', 'done', 'ignored')
priorities = ('critical', 'important', 'normal', 'info')
media = ('inbox', 'mail', 'im', 'rss')
timingTypes = ('immediate', 'hourly', 'daily', 'explicit')
actionTypes = ('accept', 'reject', 'ignore', 'note', 'delegate')


class INotificationManager(Interface):
    """Creates and finds the notifications of a tracking storage; an
    adapter of ``ITrackingStorage``."""

    def notify(taskId, userName, type, media=None, priority=None, **kw):
        """Save a new notification of ``type`` (a token, see ``types``)
        about ``taskId`` for ``userName``, in a new run; returns None.

        Its data: ``type``, ``state`` 'new', ``media`` (default
        ``['inbox']``), ``priority`` if given, and the keyword arguments.
        Bad arguments raise the storage's ValidationError and nothing is
        saved.
        """

    def query(**criteria):
        """The storage's ``query``: a list of notifications."""

    def cleanUp(age=1, removeIgnored=False):
        """Meant to remove old finished runs and done notifications
        (``removeIgnored``: ignored ones too) older than ``age`` days.
        Not implemented in loops either: does nothing."""


class INotification(ITrack):
    """A track that informs a user (or another party) of an event."""

    type = Attribute('What happened, a token (see ``types``).')
    state = Attribute('Where the notification is in its life, a token '
                      '(see ``states``): new, active, deferred, done or '
                      'ignored.')
    priority = Attribute('How important it is, a token (see '
                         '``priorities``).')
    parent = Attribute('The id of the notification that caused this one, '
                       'or None.')
    eventType = Attribute('The kind of event behind it (a token or title).')
    media = Attribute('The ways it is shown or sent, a list of tokens (see '
                      '``media``).')
    timingType = Attribute('When it is shown or sent, a token (see '
                           '``timingTypes``).')
    timing = Attribute('Times for the timing type, e.g. a range.')
    deliveryInfo = Attribute('What delivery needs, e.g. an e-mail address.')
    actionsPossible = Attribute('What the receiver may do in response (see '
                                '``actionTypes``).')
    actionsTaken = Attribute('What the receiver did in response.')

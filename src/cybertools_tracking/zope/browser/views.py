"""The tracks listing and the track view.

The attribute names are the ones loops' ``TrackView`` subclasses and
templates use (``id``, ``url``, ``metadata``, ``additionalMetadataFields``,
``task``, ``taskTitle``, ``taskUrl``, ``run``, ``user``, ``userTitle``,
``userUrl``, ``timeStamp``, ``getMetadataTarget``): a subclass that
overrides ``taskTitle`` to show a task's title instead of its id, say,
works unchanged. The listing asks for each track's ``index.html`` view, so
a track class with a view of its own is listed through it.
"""

from functools import cached_property

from zope.browserpage import ViewPageTemplateFile
from zope.component import queryMultiAdapter
from zope.publisher.browser import BrowserPage
from zope.traversing.browser import absoluteURL

from cybertools_tracking.timestamps import timeStamp2ISO
from cybertools_tracking.validation import TIMESTAMP_MIN

__all__ = ['TrackView', 'TrackingStorageView']

CORE_METADATA = ('taskId', 'runId', 'userName', 'timeStamp')


class TrackView(BrowserPage):
    """A track's metadata and data (``index.html`` of a track)."""

    template = ViewPageTemplateFile('track.pt')

    def __call__(self):
        return self.template()

    @cached_property
    def id(self):
        return self.context.__name__

    @cached_property
    def url(self):
        return absoluteURL(self.context, self.request)

    @cached_property
    def metadata(self):
        return self.context.metadata

    @cached_property
    def additionalMetadataFields(self):
        """Metadata names of a track class beyond the four of every track."""
        return [name for name in self.metadata if name not in CORE_METADATA]

    @cached_property
    def task(self):
        return self.metadata['taskId']

    @property
    def taskTitle(self):
        """What the listing shows for the task: here its id."""
        return self.task

    taskUrl = None      # a subclass may link the task's object

    @cached_property
    def run(self):
        return self.metadata['runId']

    @cached_property
    def user(self):
        return self.metadata['userName']

    @property
    def userTitle(self):
        return self.user

    userUrl = None

    @cached_property
    def timeStamp(self):
        """The time as 'YYYY-MM-DD HH:MM' (UTC, ``timeStamp2ISO``)."""
        return timeStamp2ISO(self.metadata['timeStamp'])

    def getMetadataTarget(self, key):
        """``dict(title, url, obj)`` for an additional metadata field;
        ``url`` None means "no link"."""
        value = self.metadata.get(key)
        return dict(title=value, url=None, obj=value)

    @cached_property
    def dataItems(self):
        """The data as (key, value) pairs, sorted by key."""
        return sorted(self.context.data.items(), key=lambda kv: str(kv[0]))


class TrackingStorageView(BrowserPage):
    """The tracks of a storage, newest first, in batches
    (``index.html`` of a storage; ``?b_start=40&b_size=20``)."""

    template = ViewPageTemplateFile('tracks.pt')
    batchSize = 20
    maxBatchSize = 500

    def __call__(self):
        return self.template()

    def _number(self, name, default, lowest, highest):
        try:
            value = int(self.request.form.get(name, default))
        except (TypeError, ValueError):
            return default
        return min(max(value, lowest), highest)

    @cached_property
    def start(self):
        """The index of the first track shown (0: the newest)."""
        return self._number('b_start', 0, 0, max(len(self.context) - 1, 0))

    @cached_property
    def size(self):
        return self._number('b_size', self.batchSize, 1, self.maxBatchSize)

    @cached_property
    def total(self):
        return len(self.context)

    def newestTracks(self, limit=None):
        """The tracks, newest first (time, then id), at most ``limit``."""
        return self.context.query(timeFrom=TIMESTAMP_MIN, newestFirst=True,
                                  limit=limit)

    def trackView(self, track):
        """The track's own ``index.html`` view, else a ``TrackView``."""
        view = queryMultiAdapter((track, self.request), name='index.html')
        return view if view is not None else TrackView(track, self.request)

    def getTracks(self):
        """Views of all tracks, newest first (loops' name)."""
        for track in self.newestTracks():
            yield self.trackView(track)

    @cached_property
    def items(self):
        """Views of the tracks of this batch."""
        tracks = self.newestTracks(limit=self.start + self.size)
        return [self.trackView(t) for t in tracks[self.start:]]

    def _batchUrl(self, start):
        return '%s/@@index.html?b_start=%d&b_size=%d' % (
            absoluteURL(self.context, self.request), start, self.size)

    @cached_property
    def previousUrl(self):
        if self.start <= 0:
            return None
        return self._batchUrl(max(self.start - self.size, 0))

    @cached_property
    def nextUrl(self):
        if self.start + self.size >= self.total:
            return None
        return self._batchUrl(self.start + self.size)

    @cached_property
    def last(self):
        """The 1-based number of the last track shown."""
        return min(self.start + self.size, self.total)

"""``Comment``, a track class for discussions (loops'
``cybertools.tracking.comment``).

A storage of comments is a ``TrackingStorage(trackFactory=Comment)``; it
indexes ``parent`` besides the usual metadata, so a comment finds its
replies without reading the others.
"""

from zope.interface import implementer

from cybertools_tracking.track import Track
from cybertools.tracking.comment.interfaces import IComment

__all__ = ['Comment']

_SORTS = {'default': True, 'oldest': False}    # sort -> newest first?


@implementer(IComment)
class Comment(Track):
    """See IComment."""

    typeName = 'Comment'
    index_attributes = Track.index_attributes + ('parent',)

    @property
    def parent(self):
        return self.data.get('parent')

    @property
    def subject(self):
        return self.data.get('subject', IComment['subject'].default)

    @property
    def text(self):
        return self.data.get('text', IComment['text'].default)

    @property
    def contentType(self):
        return self.data.get('contentType', IComment['contentType'].default)

    def getChildren(self, sort='default'):
        if sort not in _SORTS:
            raise ValueError('sort must be one of %s, got %r'
                             % (', '.join(sorted(_SORTS)), sort))
        storage = self.__parent__
        if storage is None or self.__name__ is None:
            return []
        replies = storage.query(parent=self.__name__)
        replies.sort(key=lambda c: (c.timeStamp, c.__name__),
                     reverse=_SORTS[sort])
        return [c.__name__ for c in replies]

    def getChildrenTree(self, sort='default', depth=0):
        tree = []
        for childId in self.getChildren(sort):
            if depth == 1:
                subtree = []
            else:
                child = self.__parent__[childId]
                subtree = child.getChildrenTree(sort, max(depth - 1, 0))
            tree.append((childId, subtree))
        return tree

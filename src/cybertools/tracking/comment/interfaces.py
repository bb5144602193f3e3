"""The contract of comments (loops' ``cybertools.tracking.comment``).

A comment is a track: its task id names the object commented on, its
user name the author, and the comments of one discussion share a run. A
reply names the comment it answers as its ``parent``. The fields are
kept in the data and read as attributes.
"""

from zope import schema
from zope.interface import Attribute

from cybertools_tracking.interfaces import ITrack

__all__ = ['IComment']


class IComment(ITrack):
    """A user's text about an object."""

    parent = Attribute('The id of the comment this one answers; None for '
                       'the first comment of a discussion.')

    subject = schema.TextLine(
        title='Subject',
        description='One line saying what the comment is about.',
        default='',
        required=True)
    text = schema.Text(
        title='Text',
        description='The comment itself.',
        default='',
        required=True)
    contentType = schema.BytesLine(
        title='Content type',
        description='The format of the text.',
        default=b'text/restructured',
        required=True)

    def getChildren(sort='default'):
        """The ids of the direct replies, newest first (``sort='default'``)
        or oldest first (``sort='oldest'``); any other sort is a
        ValueError."""

    def getChildrenTree(sort='default', depth=0):
        """The replies as a tree: a list of ``(id, subtree)`` pairs in the
        order of ``getChildren(sort)``. ``depth`` > 0 stops after that many
        levels (their subtrees are empty lists)."""

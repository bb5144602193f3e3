"""The Zope add-on: ZCML, permissions, a local utility and browser views.

Needs the ``zope`` extra (``pip install 'cybertools-tracking[zope]'``).
A Zope application includes it with::

    <include package="cybertools_tracking" />

(or ``package="cybertools.tracking"``, the loops name). Importing this
package declares what Zope needs to know about the storage's classes, so
the plain classes stay free of Zope imports:

- ``Track``, ``Run`` and ``TrackingStorage`` provide ``IContained`` (an
  ``ILocation``): a container, or zope.site's site management folder,
  takes them as they are instead of wrapping them in a ``ContainedProxy``
  (which would be stored instead of the object).

The rest is in ZCML: ``configure.zcml`` (security declarations,
subscribers, adapters), ``permissions.zcml``, ``browser/configure.zcml``
and ``site.py`` (the storage as a local utility).

doctests/zope.txt walks through the add-on.
"""

from zope.location.interfaces import IContained
from zope.interface import classImplements
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.track import Run, Track

__all__ = ['MANAGE_TRACKS']

# The permission that guards every change (permissions.zcml defines it);
# reading needs zope.View.
MANAGE_TRACKS = 'cybertools.tracking.ManageTracks'

# Each of them carries __parent__ and __name__ (a Run's are None: runs are
# not traversed to).
for _class in (Track, Run, TrackingStorage):
    classImplements(_class, IContained)


del _class

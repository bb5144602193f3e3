"""A tracking storage as a local utility of a Zope site.

Application code finds the storage of its site with
``zope.component.getUtility(ITrackingStorage)``, wherever in the site it
runs. ``addTrackingStorage`` puts one there: the storage is kept in the
site manager's ``default`` folder (so it is persistent with the site and
has a location, for URLs and security) and registered as the site's
``ITrackingStorage`` utility.

Two ways to call it:

- from the application's own setup code (a generation, an installer,
  a test), ``addTrackingStorage(site)``;
- for every new site, by including ``site.zcml``, which subscribes
  ``addStorageToNewSite`` to zope.site's ``INewLocalSite`` event (sent when
  a folder becomes a site).
"""

from zope.component import adapter
from zope.site.interfaces import INewLocalSite

from cybertools_tracking.interfaces import ITrackingStorage
from cybertools_tracking.storage import TrackingStorage

__all__ = ['addTrackingStorage', 'addStorageToNewSite', 'DEFAULT_NAME']

DEFAULT_NAME = 'tracking'


def addTrackingStorage(site, name=DEFAULT_NAME, storage=None,
                       utilityName=''):
    """Add ``storage`` (default: a new ``TrackingStorage``) to ``site``.

    ``site`` is a Zope site (``site.getSiteManager()`` answers: see
    zope.site). The storage is stored as ``name`` in the site manager's
    ``default`` folder and registered as the ``ITrackingStorage`` utility
    named ``utilityName`` (unnamed by default). Returns the storage.

    Refused, with nothing changed: a ValueError if ``name`` is taken in
    the folder or the site manager has an ``ITrackingStorage`` of that
    utility name already (its own, not one of a parent site); a TypeError
    if ``storage`` is not an ``ITrackingStorage``.
    """
    if storage is None:
        storage = TrackingStorage()
    elif not ITrackingStorage.providedBy(storage):
        raise TypeError('storage must provide ITrackingStorage, got %r'
                        % (storage,))
    if not isinstance(name, str) or not name:
        raise ValueError('name must be a non-empty string, got %r' % (name,))
    manager = site.getSiteManager()
    folder = manager['default']
    if name in folder:
        raise ValueError('%r is taken in the site manager folder of %r'
                         % (name, site))
    existing = _ownStorage(manager, utilityName)
    if existing is not None:
        raise ValueError('the site %r has an ITrackingStorage utility named '
                         '%r already: %r' % (site, utilityName, existing))
    folder[name] = storage
    manager.registerUtility(storage, ITrackingStorage, utilityName)
    return storage


@adapter(INewLocalSite)
def addStorageToNewSite(event):
    """Give a new site a tracking storage (``site.zcml`` subscribes it).

    A site that has one already (copied with its site manager, say) is
    left as it is.
    """
    manager = event.manager
    if _ownStorage(manager, '') is None:
        addTrackingStorage(manager.__parent__)


def _ownStorage(manager, utilityName):
    """The storage registered in ``manager`` itself (not in a parent
    site's) as the ITrackingStorage named ``utilityName``, or None."""
    for registration in manager.registeredUtilities():
        if (registration.provided is ITrackingStorage
                and registration.name == utilityName):
            return registration.component
    return None

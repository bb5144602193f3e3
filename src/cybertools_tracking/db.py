"""Opening a database and finding the tracking storage in it.

A database is named by a URI, resolved by zodburi:

- ``file://var/tracking.fs`` or a plain path: a FileStorage (the default,
  ``var/tracking.fs`` below the current directory). A FileStorage serves
  one process at a time; a second process gets ``DatabaseLockedError``.
  To share a database between processes, serve it with ZEO or use
  RelStorage.
- ``memory://``: an in-memory database, gone when closed.
- anything else zodburi knows (``zeo://``, ``zconfig://`` ...).

Transactions belong to the caller. ``tracking_transaction`` is the short
way: one connection, one transaction, committed on success and aborted on
an exception.
"""

import contextlib
import os

import ZODB
import zc.lockfile
import zodburi

from cybertools_tracking.storage import TrackingStorage

__all__ = ['DEFAULT_URI', 'DEFAULT_CACHE_SIZE', 'DatabaseLockedError',
           'open_db', 'get_storage', 'tracking_transaction']

DEFAULT_URI = 'file://var/tracking.fs'
DEFAULT_NAME = 'tracking'
# Objects per connection cache. zodburi's 10,000 is too few to keep the
# index buckets of a million tracks in memory; 100,000 costs tens of MB.
DEFAULT_CACHE_SIZE = 100_000


class DatabaseLockedError(RuntimeError):
    """The FileStorage is open in another process."""


def as_uri(uri_or_path):
    """A URI for a URI or a file path (a path means a FileStorage)."""
    if uri_or_path is None:
        return DEFAULT_URI
    uri_or_path = os.fspath(uri_or_path)
    if '://' in uri_or_path:
        return uri_or_path
    return 'file://' + os.path.abspath(uri_or_path)


def _file_path(uri):
    if not uri.startswith('file://'):
        return None
    return os.path.normpath(uri[len('file://'):].split('?', 1)[0])


def open_db(uri=None, **dbkw):
    """Open the database named by ``uri`` (default ``var/tracking.fs``).

    Keyword arguments go to ``ZODB.DB`` and win over the URI's.
    """
    uri = as_uri(uri)
    factory, kw = zodburi.resolve_uri(uri)
    if 'cache_size=' not in uri:
        kw['cache_size'] = DEFAULT_CACHE_SIZE
    kw.update(dbkw)
    path = _file_path(uri)
    if path is not None:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
    try:
        storage = factory()
    except zc.lockfile.LockError as error:
        raise DatabaseLockedError(
            '%s is in use by another process: a FileStorage serves one '
            'process at a time. To use one database from several processes, '
            'serve it with ZEO (zeo://) or put it in RelStorage '
            '(postgres://); see README.rst, "Growing beyond one process".' % (path or uri)
        ) from error
    return ZODB.DB(storage, **kw)


def get_storage(connection, name=DEFAULT_NAME, trackFactory=None,
                create=True):
    """The TrackingStorage called ``name`` in the connection's root.

    With ``create`` a missing one is made (with ``trackFactory``); it is
    stored when the caller commits. Without, a missing one is a KeyError.
    """
    root = connection.root() if hasattr(connection, 'root') else connection
    storage = root.get(name)
    if storage is None:
        if not create:
            raise KeyError('no tracking storage %r in this database' % name)
        storage = root[name] = TrackingStorage(trackFactory=trackFactory)
    elif not isinstance(storage, TrackingStorage):
        raise TypeError('root[%r] is a %s, not a TrackingStorage'
                        % (name, type(storage).__name__))
    return storage


@contextlib.contextmanager
def tracking_transaction(db, name=DEFAULT_NAME, trackFactory=None):
    """Yield the storage in a transaction of its own, committed at the end
    of the block (aborted if the block raises)."""
    with db.transaction() as connection:
        yield get_storage(connection, name, trackFactory)

"""Opening a database and finding the tracking storage in it.

A database is named by a path or a URI:

- a path (``var/tracking.fs``, ``~/data/what?.fs``): a FileStorage at
  exactly that path, relative to the current directory unless absolute.
  A path is never read as a URI: ``?``, ``#``, ``%`` and spaces are part
  of the file's name. Only text that starts with a scheme and ``://``
  (or zodburi's ``demo:(``) is a URI.
- ``file://var/tracking.fs``: a FileStorage too, as zodburi reads it:
  everything after ``?`` are options (``?read_only=1``), nothing is
  percent-decoded. The default is ``var/tracking.fs`` below the current
  directory. A FileStorage serves one process at a time; a second process
  gets ``DatabaseLockedError``. To share a database between processes,
  serve it with ZEO or use RelStorage.
- ``memory://``: an in-memory database, gone when closed.
- ``zeo://host:port``: a ZEO server (``cybertools-tracking zeo`` starts one
  for a FileStorage). Opening waits ``wait_timeout`` seconds for it (a URI
  option or a keyword of ``open_db``; default 30, ZEO's), says after a
  second that it waits, and raises ``DatabaseUnavailableError`` naming the
  address if it does not answer. A server that goes away later is waited
  for as long in each call; the client then reconnects by itself.
- ``postgres://user[:password]@host[:port]/dbname``: RelStorage on
  PostgreSQL; needs the ``postgresql`` extra. ``sqlite://?data_dir=DIR``:
  RelStorage on SQLite. RelStorage URIs are history-free unless they say
  ``keep_history=true``: the choice is always made explicitly.
- anything else zodburi knows (``zconfig://`` ...).

Transactions belong to the caller. ``tracking_transaction`` is the short
way: one connection, one transaction, committed on success and aborted on
an exception. ``retry_transaction`` and ``run_in_transaction`` add retries
for the conflicts that concurrent writers (ZEO, RelStorage) meet.
"""

import contextlib
import os
import random
import re
import time
from urllib.parse import parse_qsl, unquote, urlsplit

import transaction
import ZODB
import zc.lockfile
import zodburi
from transaction.interfaces import TransientError
from ZODB.FileStorage import FileStorage

from cybertools_tracking.storage import TrackingStorage

__all__ = ['DEFAULT_URI', 'DEFAULT_CACHE_SIZE', 'DatabaseLockedError',
           'DatabaseUnavailableError', 'as_uri', 'file_path', 'open_db',
           'wait_for_server', 'get_storage', 'tracking_transaction',
           'retry_transaction', 'run_in_transaction', 'backoff_delay']

DEFAULT_URI = 'file://var/tracking.fs'
DEFAULT_NAME = 'tracking'
# Objects per connection cache. zodburi's 10,000 is too few to keep the
# index buckets of a million tracks in memory; 100,000 costs tens of MB.
DEFAULT_CACHE_SIZE = 100_000
# ... and at most about this many bytes of them (as ZODB estimates them,
# by pickle size): a record holds a combination's rows (see store), so
# 100,000 of them could be hundreds of MB. Measured on a 1M-track uniform
# import (benchmarks/RESULTS.md, issue 8): 32 MB peaks at 184 MB of RSS,
# 64 MB at 295 MB and imports 13% faster.
DEFAULT_CACHE_BYTES = 32 << 20
# Connections the pool keeps (ZODB's default is 7, and it warns above it):
# an app server's threads, each with its connection, plus the short ones
# that reserve track numbers (see ids.py).
DEFAULT_POOL_SIZE = 32


class DatabaseLockedError(RuntimeError):
    """The FileStorage is open in another process."""


class DatabaseUnavailableError(RuntimeError):
    """The database server did not answer within the time allowed."""

    def __init__(self, address, timeout):
        from cybertools_tracking.zeoclient import format_seconds
        self.address = address
        self.timeout = timeout
        super().__init__(
            'the ZEO server at %s did not answer for %s; is it running? '
            '("cybertools-tracking zeo" serves a FileStorage)'
            % (address, format_seconds(timeout)))


# A URI starts with a scheme and "://"; zodburi's demo: URIs have no
# slashes. Everything else is a path, however odd its characters.
_URI = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://|demo:\(')


def _is_uri(text):
    return _URI.match(text) is not None


def _text(uri_or_path):
    if uri_or_path is None:
        return DEFAULT_URI
    return os.fsdecode(os.fspath(uri_or_path))


def as_uri(uri_or_path):
    """A URI for a URI or a path (a path means a FileStorage).

    A path becomes ``file://`` and its absolute form. zodburi reads what
    follows a ``?`` in such a URI as options and has no way to escape it:
    for a path with ``?`` there is no such URI, and this raises ValueError
    (``open_db`` and ``file_path`` take the path itself).
    """
    text = _text(uri_or_path)
    if _is_uri(text):
        return text
    path = os.path.abspath(text)
    if '?' in path:
        raise ValueError('%r has no file:// URI: zodburi would read what '
                         'follows "?" as options; use the path itself'
                         % path)
    return 'file://' + path


def file_path(uri_or_path):
    """The FileStorage path a path or a ``file://`` URI names, or None.

    A path comes back absolute; a URI's path as zodburi reads it (up to
    ``?``, relative to the current directory unless absolute).
    """
    text = _text(uri_or_path)
    if not _is_uri(text):
        return os.path.abspath(text)
    if not text.startswith('file://'):
        return None
    return os.path.normpath(text[len('file://'):].split('?', 1)[0])


def _with_keep_history(uri):
    """RelStorage URIs state keep_history; ours default to history-free."""
    if 'keep_history=' in uri:
        return uri
    return uri + ('&' if '?' in uri else '?') + 'keep_history=false'


def _postgres_factory(uri):
    """A RelStorage factory for ``postgres://``; the DSN names only what
    the URI gives (zodburi's resolver writes user='None' for a URI without
    a user)."""
    from relstorage.adapters.postgresql import PostgreSQLAdapter
    from relstorage.options import Options
    from relstorage.storage import RelStorage
    parts = urlsplit(uri)
    query = dict(parse_qsl(parts.query))
    dsn = {'dbname': unquote(parts.path.lstrip('/')) or None,
           'user': parts.username and unquote(parts.username),
           'password': parts.password and unquote(parts.password),
           'host': parts.hostname, 'port': parts.port,
           'connect_timeout': query.pop('connect_timeout', None)}
    dsn = ' '.join("%s='%s'" % (k, str(v).replace("'", "\\'"))
                   for k, v in dsn.items() if v is not None)
    dbkw = {k: int(query.pop(k)) for k in ('cache_size', 'pool_size')
            if k in query}
    keep = query.pop('keep_history', 'false').lower() in ('1', 'true', 'yes',
                                                          'on')
    options = Options(keep_history=keep, **query)

    def factory():
        adapter = PostgreSQLAdapter(dsn=dsn, options=options)
        if not options.create_schema:
            return RelStorage(adapter=adapter, options=options)
        with _schema_lock(dsn):
            return RelStorage(adapter=adapter, options=options)
    return factory, dbkw


# RelStorage makes its tables when it finds none, without a lock: processes
# that open a new database at the same moment collide there (a duplicate
# table or type, a "tuple concurrently updated"), and all but one fail.
# Holding this advisory lock while the storage opens makes them take
# turns; the next one finds the tables made. RelStorage's own advisory
# locks are oids (0 and up) and -1, -2; this one is far from both.
SCHEMA_LOCK = -0x6374747261636b     # b'cttrack'


@contextlib.contextmanager
def _schema_lock(dsn):
    import psycopg2
    connection = psycopg2.connect(dsn)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute('SELECT pg_advisory_lock(%s)', (SCHEMA_LOCK,))
        yield
    finally:
        connection.close()          # which releases the lock


def _zeo_factory(uri, wait_timeout, on_wait):
    """A factory for ``zeo://`` with zodburi's options, making our
    ``ZEOClient`` and waiting for its server (see ``open_db``)."""
    from zodburi.resolvers import ClientStorageURIResolver

    from cybertools_tracking.zeoclient import DEFAULT_WAIT_TIMEOUT, ZEOClient
    try:
        _, dbkw = zodburi.resolve_uri(          # the DB's options, checked
            re.sub(r'([?&])wait_timeout=[^&]*&?', r'\1', uri))
    except ValueError as error:
        raise ValueError('%s: an option has a value of the wrong kind (%s)'
                         % (uri, error)) from None
    # The address and the client's options as zodburi reads them.
    parts = urlsplit(uri.replace('zeo://', 'http://', 1))
    if parts.netloc:
        address = (parts.hostname or '', parts.port or 9991)
    elif parts.path:
        address = os.path.normpath(parts.path)
    else:
        raise ValueError('%s names no ZEO server: give host:port or the '
                         'path of its socket' % uri)
    query = dict(parse_qsl(parts.query))
    in_uri = query.pop('wait_timeout', None)
    try:
        options, _ = ClientStorageURIResolver().interpret_kwargs(query)
    except ValueError as error:
        raise ValueError('%s: an option has a value of the wrong kind (%s)'
                         % (uri, error)) from None
    if wait_timeout is None and in_uri is not None:
        try:
            wait_timeout = float(in_uri)
        except ValueError:
            wait_timeout = in_uri
    if wait_timeout is None:
        wait_timeout = DEFAULT_WAIT_TIMEOUT
    if (isinstance(wait_timeout, bool)
            or not isinstance(wait_timeout, (int, float))
            or not 0 <= wait_timeout < float('inf')):
        raise ValueError('wait_timeout must be a number of seconds, 0 or '
                         'more, got %r' % (wait_timeout,))
    # ZEO's wait=false means: do not wait for the server on opening.
    opening = wait_timeout if options.pop('wait', 1) else 0
    options.update(wait=False, wait_timeout=wait_timeout)
    demo = options.pop('demostorage', 0)

    def factory():
        client = ZEOClient(address, on_wait=on_wait, **options)
        if not client.wait_for_server(opening):
            client.close()
            raise DatabaseUnavailableError(client.server_address, opening)
        if demo:
            from ZODB.DemoStorage import DemoStorage
            return DemoStorage(base=client)
        return client
    return factory, dbkw


def _sets_cache_size(uri):
    """Whether the URI sets the DB's cache size (``cache_size`` in our
    ``postgres://``, zodburi's ``connection_cache_size`` elsewhere; a ZEO
    URI's ``cache_size`` is the client's disk cache)."""
    query = uri.split('?', 1)[1] if '?' in uri else ''
    keys = {key for key, _ in parse_qsl(query)}
    if uri.startswith(('postgres://', 'postgresql://')):
        return 'cache_size' in keys
    return 'connection_cache_size' in keys


def open_db(uri=None, wait_timeout=None, on_wait=None, **dbkw):
    """Open the database named by ``uri``: a URI or the path of a
    FileStorage, taken literally (default ``var/tracking.fs``).

    For ``zeo://``, ``wait_timeout`` (seconds; default the URI's option of
    that name, else 30) bounds the wait for the server, on opening and in
    each call after the connection was lost; a server that does not answer
    on opening is a ``DatabaseUnavailableError``. ``on_wait(message)`` is
    told once per outage that the client waits (after a second without an
    answer on opening, at once when a connection is lost) and when it has
    connected again; it may be called from ZEO's thread, so it must be
    quick. Without it, the messages are warnings on the
    ``cybertools_tracking.zeoclient`` logger.

    Other keyword arguments go to ``ZODB.DB`` and win over the URI's.
    """
    text = _text(uri)
    path = file_path(text)
    if not _is_uri(text):
        def factory():
            return FileStorage(path)
        kw = {}
    elif text.startswith(('postgres://', 'postgresql://')):
        factory, kw = _postgres_factory(text)
    elif text.startswith('zeo://'):
        factory, kw = _zeo_factory(text, wait_timeout, on_wait)
    else:
        if text.startswith(('sqlite://', 'mysql://')):
            text = _with_keep_history(text)
        factory, kw = zodburi.resolve_uri(text)
    if not (_is_uri(text) and _sets_cache_size(text)):
        kw['cache_size'] = DEFAULT_CACHE_SIZE
        kw.setdefault('cache_size_bytes', DEFAULT_CACHE_BYTES)
    kw.setdefault('pool_size', DEFAULT_POOL_SIZE)
    kw.update(dbkw)
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
            '(postgres://); see README.rst, "Growing beyond one process".' % (path or text)
        ) from error
    return _db(storage, factory, kw)


def _db(storage, factory, kw):
    """``ZODB.DB(storage, **kw)``, opened again on a conflict.

    ZODB.DB makes the root object of a new database in a transaction of
    its own. Processes that open a new ZEO or RelStorage database at the
    same moment race there, and all but one fail (a ConflictError, or a
    ReadConflictError for a root committed after their view began); such
    a one closes its storage and opens a new one, which finds that root.
    """
    for attempt in range(ATTEMPTS):
        try:
            return ZODB.DB(storage, **kw)
        except TransientError:
            storage.close()
            if attempt + 1 == ATTEMPTS:
                raise
            time.sleep(backoff_delay(attempt))
            storage = factory()
        except BaseException:
            storage.close()
            raise


def wait_for_server(db, timeout=None):
    """Return once the database's ZEO server answers again; raise
    ``DatabaseUnavailableError`` when it has not answered for ``timeout``
    seconds (default: its ``wait_timeout``), counted from when it stopped.
    Other databases need no waiting: this returns at once."""
    storage = db.storage
    storage = getattr(storage, 'base', storage)     # DemoStorage
    wait = getattr(storage, 'wait_for_server', None)
    if wait is None:
        return
    if not wait(timeout):
        raise DatabaseUnavailableError(
            storage.server_address,
            storage.wait_seconds if timeout is None else timeout)


def get_storage(connection, name=DEFAULT_NAME, trackFactory=None,
                create=True):
    """The TrackingStorage called ``name`` in the connection's root.

    With ``create`` a missing one is made (with ``trackFactory``) and
    committed at once in a short transaction of its own, which the
    connection then sees; if another process made it meanwhile, that one
    is returned. A connection with changes of its own in the current
    transaction cannot move to a newer view without losing them: there
    (and for a root mapping that is not in a database) the new storage is
    stored when the caller commits. Without ``create``, a missing one is a
    KeyError.
    """
    root = connection.root() if hasattr(connection, 'root') else connection
    storage = root.get(name)
    if storage is None:
        if not create:
            raise KeyError('no tracking storage %r in this database' % name)
        storage = _create_storage(connection, root, name, trackFactory)
    if not isinstance(storage, TrackingStorage):
        raise TypeError('root[%r] is a %s, not a TrackingStorage'
                        % (name, type(storage).__name__))
    if storage.layout != 'rows':
        # Written before the row layout: see upgrade.
        from cybertools_tracking.upgrade import convert_on_open
        convert_on_open(storage)
    return storage


def _create_storage(connection, root, name, trackFactory):
    # Processes that start on a new database together all add the storage
    # to the root; in their callers' transactions, all but one would fail
    # at commit on the root, after doing their first work. Committed apart
    # and retried, a conflict costs an attempt here, and the retry finds
    # the storage the winner made.
    jar = connection if hasattr(connection, 'root') else getattr(
        root, '_p_jar', None)
    # _needs_to_join is ZODB's own "no changes in this transaction" (what
    # Connection.close checks); without it, do not risk the caller's work.
    if (jar is None or getattr(jar, 'before', None) is not None
            or not getattr(jar, '_needs_to_join', False)):
        storage = root[name] = TrackingStorage(trackFactory=trackFactory)
        if jar is not None:
            # In the connection at once, not at commit: what the storage
            # does before the commit (goals, events) then already belongs
            # to this connection's transaction manager.
            jar.add(storage)
        return storage
    manager = transaction.TransactionManager()
    apart = jar.db().open(manager)
    try:
        def create():
            apart_root = apart.root()
            if apart_root.get(name) is None:
                apart_root[name] = TrackingStorage(trackFactory=trackFactory)
        retry_transaction(create, manager)
        # Its cache, full of the new storage's objects, would make the
        # pool hand this connection out next, and its caller would take a
        # new block of track numbers (see ids) for nothing.
        apart.cacheMinimize()
    finally:
        manager.abort()
        apart.close()
    # What a new transaction would do for this connection alone: forget
    # what changed since its view began (the root), so that it sees the
    # storage. Safe, as it has no changes; the caller's transaction and
    # its other resources are untouched.
    jar.newTransaction(None)
    return root[name]


@contextlib.contextmanager
def tracking_transaction(db, name=DEFAULT_NAME, trackFactory=None):
    """Yield the storage in a transaction of its own, committed at the end
    of the block (aborted if the block raises)."""
    with db.transaction() as connection:
        yield get_storage(connection, name, trackFactory)


# Retrying the work of a transaction.
#
# Two writers that change the same record in overlapping transactions meet
# in a ConflictError (a TransientError) when the second commits. BTrees and
# some of our classes resolve many such conflicts; the rest are the
# caller's to retry: abort, wait a little, and do the work again in a new
# transaction. The pause comes after the abort, never inside a transaction
# (which would hold its snapshot and, on RelStorage, its locks), and grows
# exponentially with a random part, so that writers who collided once do
# not collide again in lockstep.

ATTEMPTS = 10
BASE_DELAY = 0.005
MAX_DELAY = 1.0


def backoff_delay(attempt, base=BASE_DELAY, cap=MAX_DELAY):
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` >= 0):
    half of a capped exponential plus a random part up to the other half."""
    ceiling = min(cap, base * 2 ** attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_transaction(work, transaction_manager=None, attempts=ATTEMPTS,
                      sleep=time.sleep, on_retry=None, started=False):
    """Call ``work()`` in a new transaction and commit; retry on conflicts.

    On a TransientError from ``work`` or from the commit, the transaction
    is aborted, ``on_retry(attempt, error)`` is called if given, and after
    ``backoff_delay(attempt)`` (no pause with ``sleep=None``, for tests)
    ``work`` runs again, up to ``attempts`` times in all; then the last
    error is raised. Any other error aborts and is raised at once. Returns
    what ``work`` returned in the attempt that committed (None if that was
    a ``started`` first attempt).

    ``started=True`` says the first attempt's work is already done in the
    current transaction (an import that saves each line as it reads it, to
    report a bad line by its number): it is committed, and ``work`` runs
    only for the retries.
    """
    manager = transaction_manager or transaction.manager
    for attempt in range(attempts):
        if not (started and attempt == 0):
            manager.begin()
        try:
            result = None if (started and attempt == 0) else work()
            manager.commit()
            return result
        except TransientError as error:
            manager.abort()
            if attempt + 1 == attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, error)
            if sleep is not None:
                sleep(backoff_delay(attempt))
        except BaseException:
            manager.abort()
            raise


def run_in_transaction(db, work, name=DEFAULT_NAME, trackFactory=None,
                       **retry):
    """``work(storage)`` in a connection of its own, retried as
    ``retry_transaction`` does; returns its result."""
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    try:
        return retry_transaction(
            lambda: work(get_storage(connection, name, trackFactory)),
            manager, **retry)
    finally:
        manager.abort()
        connection.close()

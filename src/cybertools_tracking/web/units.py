"""Units of work for requests, and what their errors mean in HTTP.

Each request gets a connection of its own from the DB's pool, on a
transaction manager of its own (threads never share one):

- ``read(app, work)``: ``work(storage)`` in a transaction that is always
  aborted. It never commits and never creates the storage: with none in
  the database, the request is a 404 saying so.
- ``write(app, work)``: ``work(storage)`` with ``retry_transaction``: a
  conflict aborts, waits (backoff with jitter) and runs ``work`` again;
  the result of the attempt that committed is returned. ``work`` must
  compute everything from the storage it is given (a retry starts from
  the database again).

Errors, as the library raises them:

- 400: a bad value (``ValidationError``, a goal definition the goal layer
  refused: ``ValueError``, ``TypeError``), with the library's message;
- 404: no such track, tracker or storage (``KeyError``, ``LookupError``);
- 409: an event id already names a track with other content, a goal
  of that name exists, a goal to remove is used by a live composite
  (``api_goals`` words it for HTTP);
- 503: the database does not answer (a ZEO server gone), or a conflict
  persisted through every retry; ``Retry-After`` says when to come back.
"""

import json

import transaction
from fastapi import HTTPException
from fastapi.encoders import jsonable_encoder
from transaction.interfaces import TransientError
from ZODB.POSException import POSError

from cybertools_tracking.db import DatabaseUnavailableError, get_storage
from cybertools_tracking.goals.interfaces import ConflictingNameError
from cybertools_tracking.db import retry_transaction
from cybertools_tracking.validation import close_names, shorten

try:
    from ZEO.Exceptions import ClientDisconnected
except ImportError:             # without ZEO nothing raises it
    class ClientDisconnected(Exception):
        pass

try:    # event ids come with the storage that has them
    from cybertools_tracking.eventids import EventIdConflictError
    from cybertools_tracking.eventids import conflict_message as _wording
except ImportError:
    class EventIdConflictError(Exception):
        pass

    def _wording(error, show):
        return str(error)

__all__ = ['read', 'write', 'write_counted', 'http_error', 'RETRY_AFTER',
           'short_validation_errors', 'ECHO_LIMIT', 'conflict_message',
           'as_json', 'did_you_mean']

RETRY_AFTER = '1'       # seconds, for a 503


_NO_STORAGE = ('no tracking storage %r in this database yet: it is made by '
               'the first write')


class NoStorageError(KeyError):
    """There is no tracking storage in the database yet."""


def _opened(app):
    manager = transaction.TransactionManager()
    return manager, app.state.db.open(manager)


def read(app, work):
    """``work(storage)`` in a read-only unit of work; its result."""
    manager, connection = _opened(app)
    try:
        try:
            storage = get_storage(connection, app.state.storage_name,
                                  create=False)
        except KeyError:
            raise NoStorageError(_NO_STORAGE % app.state.storage_name) \
                from None
        return _mapped(lambda: work(storage))
    finally:
        manager.abort()
        connection.close()


def write(app, work, response=None, create=True):
    """``work(storage)`` in a writing unit of work, retried on conflicts;
    the result of the attempt that committed. With a ``response``, its
    ``X-Attempts`` header says how many attempts that took. Without
    ``create``, a database without the storage is a 404 (as for reads)
    instead of getting one."""
    result, attempts = write_counted(app, work, create)
    if response is not None:
        response.headers['X-Attempts'] = str(attempts)
    return result


def write_counted(app, work, create=True):
    """``write`` returning (result, the number of attempts it took)."""
    manager, connection = _opened(app)
    name = app.state.storage_name
    retries = []

    def storage():
        try:
            return get_storage(connection, name, create=create)
        except KeyError:
            raise NoStorageError(_NO_STORAGE % name) from None
    try:
        result = _mapped(lambda: retry_transaction(
            lambda: work(storage()), manager,
            attempts=app.state.attempts,
            on_retry=lambda attempt, error: retries.append(attempt)))
    finally:
        manager.abort()
        connection.close()
    return result, len(retries) + 1


def http_error(error):
    """The HTTPException that stands for ``error`` (see the module doc),
    or ``error`` itself when it is none of the library's."""
    if isinstance(error, HTTPException):
        return error
    if isinstance(error, EventIdConflictError):
        return HTTPException(409, conflict_message(error))
    if isinstance(error, ConflictingNameError):
        return HTTPException(409, taken_message(error))
    if isinstance(error, (TransientError, DatabaseUnavailableError,
                          ClientDisconnected, POSError)):
        return HTTPException(503, '%s: %s' % (type(error).__name__, error),
                             headers={'Retry-After': RETRY_AFTER})
    if isinstance(error, LookupError):
        return HTTPException(404, _message(error))
    if isinstance(error, (ValueError, TypeError)):
        return HTTPException(400, str(error))
    return error


def _mapped(call):
    try:
        return call()
    except Exception as error:
        mapped = http_error(error)
        if mapped is error:
            raise
        raise mapped from None


def conflict_message(error):
    """The message of an ``EventIdConflictError`` with its values as JSON
    (what an HTTP client sent and reads back), not as Python reprs: the
    event id, and each difference "field FIRST, now NOW" (the wording of
    ``eventids.conflict_message``, which ``import`` shares)."""
    return _wording(error, as_json)


def as_json(value, limit=200):
    """``value`` as compact JSON, cut to ``limit`` characters with
    "..." (a 409 quotes what was sent, which may be long)."""
    text = json.dumps(value, ensure_ascii=False, default=str,
                      separators=(', ', ': '))
    return text if len(text) <= limit else text[:limit - 3] + '...'


def did_you_mean(name, names, what=''):
    """``'; did you mean "a" or "b"?'`` for the ``names`` close to
    ``name`` (``validation.close_names``, the command line's rule), quoted
    as JSON, each after ``what`` (``'group '``); ``''`` if none is close."""
    close = close_names(name, [n for n in names if isinstance(n, str)])
    if not close:
        return ''
    return '; did you mean %s?' % ' or '.join(what + as_json(n)
                                             for n in close[:3])


def taken_message(error):
    """The 409 of a ``ConflictingNameError``: the names as JSON."""
    return ('group %s already has a tracker named %s; remove it first '
            '(DELETE /goals) or choose another name'
            % (as_json(error.group_id), as_json(error.name)))


def _message(error):
    # A KeyError's str() is the repr of its argument; its message is that.
    if isinstance(error, KeyError) and len(error.args) == 1:
        return str(error.args[0])
    return str(error)


# Request bodies that fail their model's check come back in the 422's
# ``input``: FastAPI echoes them whole, so a batch of 20,000 tracks was
# answered with 1.5 MB. Inputs (and messages, which may quote a value)
# longer than this many characters of JSON are shortened.
ECHO_LIMIT = 300
_BATCH = ('body', 'tracks')


def short_validation_errors(errors):
    """FastAPI's validation ``errors`` (a list of dicts) as a 422's
    ``detail``: JSON, no input echoed longer than ``ECHO_LIMIT``
    characters (its ``shorten``ed repr instead), and a batch over its
    size said in a sentence."""
    detail = []
    for error in errors:
        error = dict(error)
        if error.get('type') == 'too_long' and tuple(
                error.get('loc', ())) == _BATCH:
            context = error.get('ctx') or {}
            error['msg'] = 'at most %s tracks per batch, got %s' % (
                context.get('max_length'), context.get('actual_length'))
            error.pop('input', None)
        if 'input' in error:
            encoded = jsonable_encoder(error['input'])
            if len(json.dumps(encoded, default=str)) > ECHO_LIMIT:
                encoded = _cut(error['input'])
            error['input'] = encoded
        error = jsonable_encoder(error)
        for key in ('msg', 'ctx'):
            if key in error and len(json.dumps(error[key])) > ECHO_LIMIT:
                error[key] = _cut(error[key])
        detail.append(error)
    return detail


def _cut(value):
    if isinstance(value, str):
        return '%s... (%d characters)' % (value[:ECHO_LIMIT], len(value))
    return shorten(value)

"""The checks a value passes before a storage writes anything.

Design rule: a TrackingStorage method that changes anything first checks
every argument and works out everything it will write; only then does it
write. A refused call therefore leaves the storage exactly as it was, and
the caller (the command line import, a web handler) can go on in the same
transaction. The errors raised here are the promise: a ``ValidationError``
means nothing was written. Every other error from a writing method means a
bug, and the transaction should be aborted.

What is checked, and why:

- task ids and user names are strings that UTF-8 can encode: they are
  hashed as UTF-8 to pick an index shard and printed by the command line,
  and a lone surrogate (JSON ``"\\udcff"`` decodes to one) can be neither;
- a name a write gives a track or run (``check_new_name``) is moreover
  not empty, has no ``*`` and no control character: a query reads a
  trailing ``*`` as a prefix (``'t*'`` finds every task starting with
  ``t``) and refuses one elsewhere, so such a name could not be asked
  for by itself, nor could an empty one, which the command line and HTTP
  read as no name given; and a control character (NUL, a line end)
  breaks the lines the command line prints and the tools reading them.
  Names stored before these rules are still read, queried and exported;
- timestamps and run ids are keys of 64-bit BTrees (LOBTree, LLTreeSet),
  so they must lie between -2**63 and 2**63 - 1 (run ids from 0); and
  timestamps are shown as dates (``repr``, the command line), so they are
  kept to the years 1 to 9999 that ``datetime`` can show, well inside;
- indexed values are strings or numbers, never NaN: a BTree finds its keys
  by comparing them, and NaN compares false with everything, so a NaN key
  hides its neighbours from every lookup;
- data is a mapping of plain values (see ``copy_data``), nested at most
  ``MAX_DEPTH`` levels: deeper data overflows the stack of pickle, copy and
  repr, at save time or, worse, at load time.
"""

import datetime
import decimal
import difflib
import fractions
import math
import re
import reprlib
from collections.abc import Mapping

__all__ = ['ValidationError', 'InvalidTypeError', 'InvalidValueError',
           'MAX_DEPTH', 'KEY_MAX', 'TIMESTAMP_MIN',
           'TIMESTAMP_MAX', 'shorten', 'close_names', 'guessed',
           'check_name', 'check_optional_name', 'check_new_name',
           'check_run_id', 'check_timestamp', 'check_index_value',
           'index_kind', 'copy_data']

# The most levels of containers in a track's data, the data mapping
# itself counting as the first. Pickling, copying and printing cost a
# few stack frames per level; 100 levels stay far below Python's limit
# of 1,000 frames, also when the caller is itself deep in the stack.
MAX_DEPTH = 100

KEY_MAX = 2 ** 63 - 1
# 0001-01-01 00:00:00 and 9999-12-31 23:59:59 UTC.
TIMESTAMP_MIN = -62135596800
TIMESTAMP_MAX = 253402300799


class ValidationError(Exception):
    """An argument was refused before anything was written."""


class InvalidTypeError(ValidationError, TypeError):
    """An argument of a type the storage cannot take."""


class InvalidValueError(ValidationError, ValueError):
    """An argument of the right type with a value the storage cannot take."""


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_repr.maxlong = 40


def shorten(value):
    """``repr(value)``, shortened for an error message; never fails."""
    try:
        return _repr.repr(value)
    except Exception:      # a hostile __repr__, an int too long to print
        if isinstance(value, int):
            return '<an int of %d bits>' % value.bit_length()
        return '<a %s object>' % type(value).__name__


def close_names(name, names, n=3):
    """The names of ``names`` (strings) an error's "did you mean" offers
    for the unknown ``name``: those that are the same but for case, then
    the closest others by ``difflib``, case aside (a ratio of at least
    0.6: ``from`` offers ``timeFrom``), at most ``n`` of those; a list,
    closest first. One rule for every front end
    (a user name of ``forget-user``, a query parameter of HTTP)."""
    folded = {}
    for other in sorted(set(names)):
        if other != name:
            folded.setdefault(other.casefold(), []).append(other)
    key = name.casefold()
    close = list(folded.get(key, ()))
    for match in difflib.get_close_matches(key, folded, n=n):
        if match != key:
            close += folded[match]
    return close


def guessed(name, names):
    """``name`` quoted, with the ``names`` it may stand for by
    ``close_names``: ``"'user' (did you mean 'userName'?)"``, or
    ``"'foo'"`` when none is close. For an error's list of unknown
    names (a query's criteria, HTTP's parameters)."""
    close = close_names(name, names)
    if not close:
        return repr(name)
    return '%r (did you mean %s?)' % (name, ' or '.join(map(repr, close)))


def _refuse_unencodable(argument, value):
    try:
        value.encode('utf-8')
    except UnicodeEncodeError as error:
        raise InvalidValueError(
            '%s must be text that UTF-8 can encode, got %s (a lone '
            'surrogate at position %d)'
            % (argument, shorten(value), error.start)) from None


def check_name(argument, value):
    """Return ``value``, a task id or user name, as a plain str."""
    if type(value) is not str:
        if not isinstance(value, str):
            raise InvalidTypeError('%s must be a string, got %s'
                                   % (argument, shorten(value)))
        value = str.__str__(value)     # a subclass would be pickled as such
    if not value.isascii():
        _refuse_unencodable(argument, value)
    return value


# C0 controls and DEL; a name is printed on one line of a terminal.
_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')


def check_new_name(argument, value):
    """Return ``value``, the task id or user name a write gives a track
    or run, as ``check_name`` does; InvalidValueError if it is empty or
    only white space, holds a ``*``, a control character (U+0000 to
    U+001F, U+007F to U+009F) or a line or paragraph separator (U+2028,
    U+2029): see the module docstring for why."""
    value = check_name(argument, value)
    if not value.strip():
        raise InvalidValueError(
            '%s must not be empty or only spaces, got %r: a track and a '
            'run name their task, and a track its user, by a string that '
            'shows' % (argument, value))
    if '*' in value:
        prefix = value.split('*', 1)[0]
        kind = 'task' if argument == 'taskId' else 'name'
        raise InvalidValueError(
            '%s must not contain *, got %s: a query reads a trailing * as '
            'a prefix (%s), so such a name could not be asked for by '
            'itself; use another character'
            % (argument, shorten(value),
               '%r finds every %s starting with %r' % (prefix + '*', kind,
                                                      prefix)
               if prefix else '* finds every %s' % kind))
    if not value.isprintable():         # a quick test; a control is rare
        control = _CONTROL.search(value)
        if control is not None:
            raise InvalidValueError(
                '%s must not contain control characters or line breaks '
                '(U+0000 to U+001F, U+007F to U+009F, U+2028, U+2029), got '
                '%s (U+%04X at position %d): names are printed one to a '
                'line' % (argument, shorten(value),
                                   ord(control.group()), control.start()))
    return value


def check_optional_name(argument, value):
    """Like ``check_name``, but None passes as None."""
    return None if value is None else check_name(argument, value)


def check_run_id(value, argument='runId'):
    """Return a run number (an int key), 0 for None (the current run)."""
    if value is None:
        return 0
    if type(value) is not int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidTypeError('%s must be an int, got %s'
                                   % (argument, shorten(value)))
        value = int(value)
    if value < 0:
        raise InvalidValueError('%s must not be negative, got %s'
                                % (argument, shorten(value)))
    if value > KEY_MAX:
        raise InvalidValueError('%s must be at most 2**63 - 1 (a 64-bit key), '
                                'got %s' % (argument, shorten(value)))
    return value


def check_timestamp(value, argument='timeStamp'):
    """Return whole seconds since the epoch from an int, float or datetime.

    Floats are rounded down, naive datetimes taken as local time. The
    result lies from ``TIMESTAMP_MIN`` to ``TIMESTAMP_MAX`` (the years 1
    to 9999, UTC), a 64-bit key that every date function can show.
    """
    kind = type(value)
    if kind is int:
        ts = value
    elif kind is float or (isinstance(value, (int, float))
                           and not isinstance(value, bool)):
        if not math.isfinite(value):
            raise InvalidValueError('%s must be finite, got %s'
                                    % (argument, shorten(value)))
        ts = math.floor(value)
    elif isinstance(value, datetime.datetime):
        try:
            ts = math.floor(value.timestamp())
        except (OverflowError, OSError, ValueError, TypeError) as error:
            raise InvalidValueError('%s: cannot convert %s to seconds (%s)'
                                    % (argument, shorten(value), error)
                                    ) from None
    else:
        raise InvalidTypeError('%s must be a number of seconds or a '
                               'datetime, got %s' % (argument, shorten(value)))
    if not TIMESTAMP_MIN <= ts <= TIMESTAMP_MAX:
        raise InvalidValueError('%s must be a second of the years 1 to 9999 '
                                '(%d to %d), got %s'
                                % (argument, TIMESTAMP_MIN, TIMESTAMP_MAX,
                                   shorten(value)))
    return ts


_INDEX_KINDS = {str: 'string', int: 'number', float: 'number', bool: 'number'}


def index_kind(value):
    """``'string'`` or ``'number'`` for a value an index may hold, else
    None."""
    return _INDEX_KINDS.get(type(value))


def check_index_value(name, value, kind=None):
    """Return the kind, ``'string'`` or ``'number'``, of ``value`` (not
    None) for the index ``name``, which holds values of ``kind`` (None:
    either). An index holds one kind, so that its keys always compare."""
    own = _INDEX_KINDS.get(type(value))
    if own is None:
        raise InvalidTypeError('value of index %r must be a string or a '
                               'number, got %s' % (name, shorten(value)))
    if own == 'string':
        if not value.isascii():
            _refuse_unencodable('value of index %r' % name, value)
    elif value != value:
        raise InvalidValueError('value of index %r must not be NaN (a BTree '
                                'cannot order it), got %s'
                                % (name, shorten(value)))
    if kind is not None and own != kind:
        raise InvalidTypeError('index %r holds %ss, got %s'
                               % (name, kind, shorten(value)))
    return own


# data

# Values kept as they are: immutable, small to pickle, loadable anywhere.
_SCALARS = frozenset((type(None), bool, int, float, str, bytes,
                      decimal.Decimal, fractions.Fraction, datetime.date,
                      datetime.datetime, datetime.time, datetime.timedelta))
# Subclasses of bool, int, float, str and bytes are stored as the base
# type (an IntEnum as an int): a subclass would be pickled with its class,
# and might not compare like the base type.
_KEYS = frozenset((str, int, float, bool, type(None)))   # what JSON can write
_EXPECTED = ('None, a bool, number, string, bytes, date, time, datetime, '
             'timedelta, or a list, tuple or dict of these')
# What reading a misbehaving mapping may raise.
_READ_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError)


class _Refused(Exception):
    """Raised inside the copy; ``keys`` collects the path on the way out.
    The message is ``before`` + the place (``data['a'][0]``) + ``after``."""

    def __init__(self, error, after, before=''):
        self.error = error
        self.before = before
        self.after = after
        self.keys = []


def copy_data(data, argument='data'):
    """Return a checked copy of the mapping ``data`` as a plain dict that
    shares nothing mutable with it.

    Values may be None, bools, numbers (int, float, Decimal, Fraction),
    strings (that UTF-8 can encode), bytes, dates, times, datetimes,
    timedeltas, and lists, tuples and mappings of these (copied as lists,
    tuples and dicts) with string, number, bool or None keys, nested at
    most ``MAX_DEPTH`` levels. Anything else raises InvalidTypeError or
    InvalidValueError naming the place (``data['a'][0]``), the value and
    what was expected. None is an empty dict.
    """
    if data is None:
        return {}
    if type(data) is dict:
        result = data.copy()
    else:
        result = _read_mapping(data, argument)
    # The common case first: a flat dict of ASCII strings and numbers.
    for key, value in result.items():
        if type(key) is not str or not key.isascii():
            break
        kind = type(value)
        if kind is str:
            if not value.isascii():
                break
        elif (kind is not int and kind is not float and value is not None
              and kind is not bool):
            break
    else:
        return result
    try:
        return _copy_dict(result, 1)
    except _Refused as refused:
        place = _place(argument, refused.keys[::-1])
        raise refused.error(refused.before + place + refused.after) from None


def _place(argument, keys):
    """``data['a'][0]``; for deep places only the first and last keys."""
    steps = ['[%s]' % shorten(key) for key in
             (keys if len(keys) <= 8 else keys[:4] + keys[-3:])]
    if len(keys) > 8:
        steps[4:4] = ['...']
    return argument + ''.join(steps)


def _read_mapping(data, argument):
    try:
        readable = not isinstance(data, type) and (
            isinstance(data, Mapping) or hasattr(data, 'keys'))
        if readable:
            return dict(data)
        problem = ''
    except _READ_ERRORS as error:
        problem = ', which failed to be read: %s' % _reason(error)
    raise InvalidTypeError('%s must be a mapping, got %s%s'
                           % (argument, shorten(data), problem)) from None


def _reason(error):
    text = str(error)
    return '%s: %s' % (type(error).__name__,
                       text if len(text) <= 100 else text[:97] + '...')


def _copy_dict(mapping, depth):
    result = {}
    for key, value in mapping.items():
        key = _copy_key(key)
        try:
            result[key] = _copy(value, depth)
        except _Refused as refused:
            refused.keys.append(key)
            raise
    return result


def _copy_key(key):
    if type(key) not in _KEYS:
        if not isinstance(key, tuple(_KEYS)):
            raise _Refused(InvalidTypeError,
                           ' must be strings, numbers, bools or None, got %s'
                           % shorten(key), before='the keys in ')
        key = _as_base(key)
    if type(key) is str and not key.isascii():
        try:
            key.encode('utf-8')
        except UnicodeEncodeError:
            raise _Refused(InvalidValueError,
                           ' must be text that UTF-8 can encode, got %s'
                           % shorten(key), before='the keys in ') from None
    return key


# How a subclass of a base type becomes the base type, without calling
# methods the subclass may have changed.
_TO_BASE = ((bool, bool), (int, int.__int__), (float, float.__float__),
            (str, str.__str__), (bytes, bytes))


def _as_base(value):
    for base, convert in _TO_BASE:
        if isinstance(value, base):
            return convert(value)
    return value


def _copy(value, depth):
    kind = type(value)
    if kind in _SCALARS:
        if kind is str:
            if not value.isascii():
                try:
                    value.encode('utf-8')
                except UnicodeEncodeError as error:
                    raise _Refused(InvalidValueError,
                                   ' must be text that UTF-8 can encode, got '
                                   '%s (a lone surrogate at position %d)'
                                   % (shorten(value), error.start)) from None
        elif kind is decimal.Decimal and value.is_snan():
            # A signalling NaN raises on every comparison, == included.
            raise _Refused(InvalidValueError, ' must not be a signalling '
                           'NaN, got %s' % shorten(value))
        return value
    if isinstance(value, (dict, list, tuple, Mapping)):
        if depth >= MAX_DEPTH:
            raise _Refused(InvalidValueError,
                           ' is nested more than %d levels deep' % MAX_DEPTH)
        if isinstance(value, (list, tuple)):
            items = []
            for position, item in enumerate(value):
                try:
                    items.append(_copy(item, depth + 1))
                except _Refused as refused:
                    refused.keys.append(position)
                    raise
            return items if isinstance(value, list) else tuple(items)
        if not isinstance(value, dict):
            try:
                value = dict(value)
            except _READ_ERRORS as error:
                raise _Refused(InvalidTypeError,
                               ' must be a mapping that can be read, got %s, '
                               'which failed: %s'
                               % (shorten(value), _reason(error))) from None
        return _copy_dict(value, depth + 1)
    if isinstance(value, (bool, int, float, str, bytes)):
        return _copy(_as_base(value), depth)
    raise _Refused(InvalidTypeError, ' must be %s, got %s'
                   % (_EXPECTED, shorten(value)))

"""Timestamps as the loops framework keeps them: whole seconds since the epoch."""

import calendar
import datetime
import math
import re
import time

from cybertools_tracking.validation import check_timestamp

__all__ = ['getTimeStamp', 'timeStamp2ISO', 'as_timestamp', 'parse_time',
           'whole_seconds',
           'TIME_FORMATS']


def getTimeStamp():
    """Return the current time as an int (seconds since the epoch)."""
    return int(time.time())


def timeStamp2ISO(ts):
    """Format a timestamp as local ``YYYY-MM-DD HH:MM``; '' for no timestamp."""
    if not ts:
        return ''
    return time.strftime('%Y-%m-%d %H:%M', time.localtime(ts))


def as_timestamp(value, argument='timeStamp'):
    """Turn an int, float or datetime into whole seconds, or complain.

    Floats are rounded down: the indexes work on whole seconds, like the
    original. Naive datetimes are taken as local time. The result fits a
    64-bit key; see ``validation.check_timestamp``.
    """
    return check_timestamp(value, argument)


_TIME_FORMATS = (  # (format, the unit it names: what --to extends to)
    ('%Y-%m-%d', datetime.timedelta(days=1)),
    ('%Y-%m-%dT%H:%M', datetime.timedelta(minutes=1)),
    ('%Y-%m-%dT%H:%M:%S', datetime.timedelta(seconds=1)),
)
# A time of day with an offset: Z, +HH:MM, +HHMM or +HH; seconds may
# have a fraction (ISO 8601).
_ZONED = re.compile(r'(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?)'
                    r'(Z|[+-]\d\d(?::?\d\d)?)', re.IGNORECASE)


def parse_time(text, end=False):
    """Seconds since the epoch (UTC) for an int, a local ISO date or time,
    or an ISO 8601 time with ``Z`` or an offset: the times the command
    line's options and ``import`` and the HTTP API's ``timeStamp`` take.

    With ``end`` a date or minute means its last second, so that
    ``--to 2024-01-16`` includes that day. Raises ValueError saying what
    is expected.
    """
    text = text.strip()
    if re.fullmatch(r'-?\d+', text):
        return int(text)
    normalized = text.replace(' ', 'T', 1)
    zoned = _ZONED.fullmatch(normalized)
    if zoned:
        local, zone = zoned.groups()
        zone = '+00:00' if zone.upper() == 'Z' else zone
        if len(zone) == 3:
            zone += ':00'
        elif ':' not in zone:
            zone = zone[:3] + ':' + zone[3:]
        try:
            moment = datetime.datetime.fromisoformat(local + zone)
        except ValueError:
            pass
        else:
            unit = (datetime.timedelta(minutes=1) if local.count(':') == 1
                    else datetime.timedelta(seconds=1))
            if end:
                return as_timestamp(moment + unit) - 1
            return as_timestamp(moment)
    for format, unit in _TIME_FORMATS:
        try:
            moment = datetime.datetime.strptime(normalized, format)
        except ValueError:
            continue
        if end:
            return as_timestamp(moment + unit) - 1
        return as_timestamp(moment)
    reason = _no_such_time(normalized)
    if reason:
        raise ValueError('%r does not exist: %s (accepted: %s)'
                         % (text, reason, TIME_FORMATS))
    raise ValueError('expected %s, got %r' % (TIME_FORMATS, text))


TIME_FORMATS = ('seconds since the epoch, YYYY-MM-DD[THH:MM[:SS]] (local) '
                'or ISO 8601 with Z or an offset')

# The shape of a date or time, whatever its numbers: to tell a time
# that does not exist (2024-02-30, 24:00) from one that is not written
# in an accepted format.
_SHAPE = re.compile(r'(\d{4})-(\d\d)-(\d\d)'
                    r'(?:T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?)?'
                    r'(?:Z|[+-]\d\d(?::?\d\d)?)?', re.IGNORECASE)
_MONTHS = ('January', 'February', 'March', 'April', 'May', 'June', 'July',
           'August', 'September', 'October', 'November', 'December')


def _no_such_time(text):
    """Why ``text``, written like a date or time, names none ('February
    2024 has 29 days'); '' if it is not written like one."""
    shape = _SHAPE.fullmatch(text)
    if shape is None:
        return ''
    year, month, day, hour, minute, second = (
        None if part is None else int(part) for part in shape.groups())
    for name, value, (low, high) in zip(
            ('month', 'hour', 'minute', 'second'),
            (month, hour, minute, second),
            ((1, 12), (0, 23), (0, 59), (0, 59))):
        if value is not None and not low <= value <= high:
            return 'the %s must be %02d to %d, not %02d' % (name, low, high,
                                                           value)
    if year == 0:
        return 'years start at 0001'
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return '%s %d has %d days' % (_MONTHS[month - 1], year, days)
    return ''


# A fraction of a second that is not zero, in an ISO 8601 time; a number
# of seconds with a decimal point, as text (a CSV cell).
_FRACTION = re.compile(r':\d\d\.\d*[1-9]')
_DECIMAL = re.compile(r'[+-]?\d+\.\d*')


def whole_seconds(value):
    """A time as a front end reads it (a number of seconds, or text for
    ``parse_time``), refused (ValueError, saying why and what to write)
    if it has a fraction of a second: the storage keeps whole seconds
    and would round a fraction down without a word (``check_timestamp``,
    which the Python API keeps for ``time.time()``); from a file or a
    request, 1.5 is more likely a mistake of units. An integral number
    (1.0, '1.0') is taken as the int; other text is parsed; anything else
    is returned for ``check_timestamp`` to judge. The rule of ``import``
    and HTTP alike."""
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value.strip()):
            value = float(value)
        elif _FRACTION.search(value):
            raise ValueError('%r has a fraction of a second; the storage '
                             'keeps whole seconds (leave the fraction out, '
                             'or round the time yourself)' % value)
        else:
            return parse_time(value)
    if type(value) is float and math.isfinite(value):
        if not value.is_integer():
            raise ValueError('expected whole seconds, got %r; the storage '
                             'keeps whole seconds (round it yourself: %d or '
                             '%d)' % (value, math.floor(value),
                                      math.ceil(value)))
        return int(value)
    return value

"""Timestamps as the loops framework keeps them: whole seconds since the epoch."""

import datetime
import math
import time

__all__ = ['getTimeStamp', 'timeStamp2ISO', 'as_timestamp']


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
    original. Naive datetimes are taken as local time.
    """
    if isinstance(value, bool):
        raise TypeError('%s must be a number of seconds or a datetime, got %r'
                        % (argument, value))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError('%s must be finite, got %r' % (argument, value))
        return math.floor(value)
    if isinstance(value, datetime.datetime):
        return math.floor(value.timestamp())
    raise TypeError('%s must be a number of seconds or a datetime, got %r'
                    % (argument, value))

"""Timestamps as the loops framework keeps them: whole seconds since the epoch."""

import time

from cybertools_tracking.validation import check_timestamp

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
    original. Naive datetimes are taken as local time. The result fits a
    64-bit key; see ``validation.check_timestamp``.
    """
    return check_timestamp(value, argument)

"""Argument and clock checks shared by the goal layer's modules.

One place for the small rules every entry point applies before it writes
(the house rule: validate, then write), so that the same value is refused
with the same message wherever it is given.  Times are seconds since the
epoch (UTC), as ``time.time()`` returns them.
"""

import math
import time

__all__ = ["now", "check_group_id", "check_time", "check_name",
           "check_names", "check_text"]


def now(now_ts=None):
    """*now_ts*, or the current time when it is None (seconds, UTC)."""
    return time.time() if now_ts is None else now_ts


def check_group_id(group_id):
    """Refuse a group id that no storage, JSON document or log can hold.

    Raises TypeError for a non-str, ValueError for a str with a lone
    surrogate.
    """
    if not isinstance(group_id, str):
        raise TypeError("group_id must be a str, got %r (%s)"
                        % (group_id, type(group_id).__name__))
    check_text("group_id", group_id)
    return group_id


def check_text(name, value):
    """*value* (a str) if UTF-8 can encode it, else ValueError."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError("%s must be text that UTF-8 can encode, got %r "
                             "(%s)" % (name, value, error.reason)) from None
    return value


def check_time(name, value, finite=False):
    """*value* if it is a number of seconds (int or float, not a bool).

    With *finite*, NaN and infinities are a ValueError too.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number of seconds, got %r (%s)"
                        % (name, value, type(value).__name__))
    if finite and not math.isfinite(value):
        raise ValueError("%s must be a finite number of seconds, got %r"
                         % (name, value))
    return value


def check_name(name):
    """A tracker name: a str."""
    if not isinstance(name, str):
        raise TypeError("name must be a str, got %r" % (name,))
    return name


def check_names(name):
    """*name* (a str, or a list or tuple of them, or None) as given."""
    if name is not None and not isinstance(name, (str, list, tuple)):
        raise TypeError("name must be a str, a list of str or None, "
                        "got %r" % (name,))
    return name

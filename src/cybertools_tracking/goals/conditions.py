"""Conditions: immutable tests of one data item (see ``ICondition``)."""

import operator
from collections.abc import Mapping

from zope.interface import implementer

from cybertools_tracking.goals.interfaces import ICondition

__all__ = [
    "Condition", "KeyExists", "KeyNotExists",
    "KeyValueComparison", "KeyValueEQ", "KeyValueNE", "KeyValueLT",
    "KeyValueLE", "KeyValueGT", "KeyValueGE",
    "KeyValueContained", "KeyValueNotContained",
    "KeyValueInList", "KeyValueNotInList",
    "KeyValueListHasItem", "KeyValueListHasNotItem",
    "All", "Any", "Not", "parse_path", "resolve",
]


class _Missing:
    """The marker for a key that cannot be reached."""

    __slots__ = ()

    def __repr__(self):
        return "MISSING"

    def __reduce__(self):
        return "MISSING"


MISSING = _Missing()


# -- dotted paths -------------------------------------------------------------

def parse_path(key):
    """Split a dotted key into a tuple of ``(segment, index)`` pairs.

    ``index`` is the segment as an int when it is one (ASCII digits, with an
    optional leading ``-``: ``-1`` is the last element of a list), else None.
    ``\\.`` is a literal dot and ``\\\\`` a literal backslash.
    """
    if not isinstance(key, str):
        raise TypeError("key must be a str, got %r (%s)"
                        % (key, type(key).__name__))
    if not key:
        raise ValueError("key must not be empty")
    segments, current, chars = [], [], iter(key)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt not in (".", "\\"):
                raise ValueError(
                    "key %r: a backslash must be followed by '.' or '\\'"
                    % (key,))
            current.append(nxt)
        elif ch == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(ch)
    segments.append("".join(current))
    if "" in segments:
        raise ValueError("key %r has an empty segment" % (key,))
    return tuple((seg, _index(seg)) for seg in segments)


def _index(segment):
    """*segment* as an int if it is ASCII digits with an optional ``-``."""
    digits = segment[1:] if segment[:1] == "-" else segment
    if digits.isdigit() and digits.isascii():
        return int(segment)
    return None


def resolve(data, path):
    """Return the value at *path* (from ``parse_path``) in *data*, or MISSING.

    The top level must be a mapping; below it, mappings and lists/tuples are
    walked into.
    """
    if type(data) is not dict and not isinstance(data, Mapping):
        return MISSING
    current = data
    for segment, index in path:
        if type(current) is dict or isinstance(current, Mapping):
            value = current.get(segment, MISSING)
            if value is MISSING and index is not None:
                try:
                    value = current.get(index, MISSING)
                except TypeError:  # a mapping that rejects int keys
                    return MISSING
        elif index is not None and isinstance(current, (list, tuple)):
            # Python's own rule, as in dictrack: -1 is the last element.
            if not -len(current) <= index < len(current):
                return MISSING
            value = current[index]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
        current = value
    return current


def _freeze(value):
    """A hashable stand-in for *value*, used for equality and hashing."""
    try:
        hash(value)
        return value
    except TypeError:
        pass
    if isinstance(value, (list, tuple)):
        return (type(value).__name__,) + tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return ("mapping", frozenset(
            (_freeze(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_freeze(v) for v in value))
    return ("repr", type(value).__name__, repr(value))


# -- base ---------------------------------------------------------------------

@implementer(ICondition)
class Condition:
    """Base class: immutable, equal by class and arguments, pickled by them.

    Subclasses set ``_args`` (the constructor arguments, which are what gets
    pickled) and ``_ident`` (what equality and hashing compare) in their
    constructor via ``_freeze_args``.
    """

    __slots__ = ("_args", "_ident", "_hash", "__weakref__")

    def _freeze_args(self, args, ident):
        object.__setattr__(self, "_args", args)
        object.__setattr__(self, "_ident", (type(self),) + ident)
        object.__setattr__(self, "_hash", hash(self._ident))

    def __setattr__(self, name, value):
        raise AttributeError("%s is immutable" % type(self).__name__)

    def __delattr__(self, name):
        raise AttributeError("%s is immutable" % type(self).__name__)

    def __reduce__(self):
        # Rebuild through the constructor: validation and path parsing run
        # again, and pickles stay valid when private attributes change.
        return (type(self), self._args)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __eq__(self, other):
        if not isinstance(other, Condition):
            return NotImplemented
        return self._ident == other._ident

    def __ne__(self, other):
        if not isinstance(other, Condition):
            return NotImplemented
        return self._ident != other._ident

    def __hash__(self):
        return self._hash

    def check(self, data):
        raise NotImplementedError


class _KeyCondition(Condition):
    """A condition on the value at one dotted key.

    The key is a path from the top of the item offered (``ICondition``),
    the same for every key condition: on a tracking storage the item is
    the track, ``{taskId, runId, userName, timeStamp, data}``, and a key
    of its data is ``data.<key>``.
    """

    __slots__ = ("key", "_path", "_first")

    def _set_key(self, key):
        path = parse_path(key)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "_path", path)
        # Fast path for the common flat key on a plain dict.
        first = path[0][0] if len(path) == 1 and path[0][1] is None else None
        object.__setattr__(self, "_first", first)

    @property
    def flat_key(self):
        """The key if it is one segment that is not a list index, else None.

        Such a key is looked up in a dict item as ``item.get(key)``; the
        candidate index (``candidates.py``) relies on that.
        """
        return self._first

    def _value(self, data):
        first = self._first
        if first is not None and type(data) is dict:
            return data.get(first, MISSING)
        return resolve(data, self._path)


class KeyExists(_KeyCondition):
    """True if the key is present (its value may be None)."""

    __slots__ = ()

    def __init__(self, key):
        self._set_key(key)
        self._freeze_args((key,), (key,))

    def __repr__(self):
        return "<%s (key=%s)>" % (type(self).__name__, self.key)

    def check(self, data):
        first = self._first
        if first is not None and type(data) is dict:
            return first in data
        return resolve(data, self._path) is not MISSING


class KeyNotExists(KeyExists):
    """True if the data is a mapping and the key is missing from it."""

    __slots__ = ()

    def check(self, data):
        first = self._first
        if first is not None and type(data) is dict:
            return first not in data
        if type(data) is not dict and not isinstance(data, Mapping):
            return False
        return resolve(data, self._path) is MISSING


# -- comparisons --------------------------------------------------------------

_OPERATORS = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
    "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}


class KeyValueComparison(_KeyCondition):
    """Compare the value at the key with *value*: ``data_value <op> value``.

    *op* is one of ``eq ne lt le gt ge`` (or the matching function of the
    ``operator`` module).  Values that cannot be compared give False.
    """

    __slots__ = ("value", "op", "_op")

    def __init__(self, key, value, op="eq"):
        if callable(op):
            op = getattr(op, "__name__", op)
        if op not in _OPERATORS:
            raise ValueError("op must be one of %s, got %r"
                             % (", ".join(_OPERATORS), op))
        self._set_key(key)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "_op", _OPERATORS[op])
        self._freeze_args((key, value, op), (key, op, _freeze(value)))

    def __repr__(self):
        return "<%s (key=%s operator=%s value=%r)>" % (
            type(self).__name__, self.key, self.op, self.value)

    def check(self, data):
        first = self._first
        if first is not None and type(data) is dict:
            found = data.get(first, MISSING)
        else:
            found = resolve(data, self._path)
        if found is MISSING:
            return False
        try:
            return bool(self._op(found, self.value))
        except (TypeError, ValueError):
            return False


def _comparison(name, op, doc):
    def __init__(self, key, value):
        KeyValueComparison.__init__(self, key, value, op)

    def __reduce__(self):
        return (type(self), self._args[:2])

    return type(name, (KeyValueComparison,), {
        "__slots__": (), "__doc__": doc, "__init__": __init__,
        "__reduce__": __reduce__, "__module__": __name__})


KeyValueEQ = _comparison("KeyValueEQ", "eq", "True if the value == *value*.")
KeyValueNE = _comparison(
    "KeyValueNE", "ne", "True if the key is present and its value != *value*.")
KeyValueLT = _comparison("KeyValueLT", "lt", "True if the value < *value*.")
KeyValueLE = _comparison("KeyValueLE", "le", "True if the value <= *value*.")
KeyValueGT = _comparison("KeyValueGT", "gt", "True if the value > *value*.")
KeyValueGE = _comparison("KeyValueGE", "ge", "True if the value >= *value*.")


# -- substrings ---------------------------------------------------------------

class KeyValueContained(_KeyCondition):
    """True if *value* is a substring of the (string) value at the key."""

    __slots__ = ("value", "case_sensitive", "_needle")

    def __init__(self, key, value, case_sensitive=True):
        if not isinstance(value, str):
            raise TypeError("value must be a str, got %r (%s)"
                            % (value, type(value).__name__))
        if not isinstance(case_sensitive, bool):
            raise TypeError("case_sensitive must be a bool, got %r"
                            % (case_sensitive,))
        self._set_key(key)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "case_sensitive", case_sensitive)
        object.__setattr__(
            self, "_needle", value if case_sensitive else value.casefold())
        self._freeze_args((key, value, case_sensitive),
                          (key, value, case_sensitive))

    def __repr__(self):
        return "<%s (key=%s value=%r case_sensitive=%s)>" % (
            type(self).__name__, self.key, self.value, self.case_sensitive)

    def _contains(self, data):
        # True/False for a string value, None if the key is missing or the
        # value is not a string.
        found = self._value(data)
        if not isinstance(found, str):
            return None
        if not self.case_sensitive:
            found = found.casefold()
        return self._needle in found

    def check(self, data):
        return self._contains(data) is True


class KeyValueNotContained(KeyValueContained):
    """True if the value at the key is a string not containing *value*."""

    __slots__ = ()

    def check(self, data):
        return self._contains(data) is False


# -- lists --------------------------------------------------------------------

class KeyValueInList(_KeyCondition):
    """True if the value at the key is one of *value* (a list or tuple)."""

    __slots__ = ("value",)

    def __init__(self, key, value):
        if not isinstance(value, (list, tuple)):
            raise TypeError("value must be a list or tuple, got %r (%s)"
                            % (value, type(value).__name__))
        self._set_key(key)
        value = tuple(value)  # a private copy: the condition never changes
        object.__setattr__(self, "value", value)
        self._freeze_args((key, value), (key, _freeze(value)))

    def __repr__(self):
        return "<%s (key=%s value=%r)>" % (
            type(self).__name__, self.key, list(self.value))

    def _member(self, data):
        found = self._value(data)
        if found is MISSING:
            return None
        try:
            return found in self.value
        except (TypeError, ValueError):
            return None

    def check(self, data):
        return self._member(data) is True


class KeyValueNotInList(KeyValueInList):
    """True if the key is present and its value is none of *value*."""

    __slots__ = ()

    def check(self, data):
        return self._member(data) is False


class KeyValueListHasItem(_KeyCondition):
    """True if the value at the key is a list or tuple containing *value*."""

    __slots__ = ("value",)

    def __init__(self, key, value):
        self._set_key(key)
        object.__setattr__(self, "value", value)
        self._freeze_args((key, value), (key, _freeze(value)))

    def __repr__(self):
        return "<%s (key=%s value=%r)>" % (
            type(self).__name__, self.key, self.value)

    def _has(self, data):
        found = self._value(data)
        if not isinstance(found, (list, tuple)):
            return None
        try:
            return self.value in found
        except (TypeError, ValueError):
            return None

    def check(self, data):
        return self._has(data) is True


class KeyValueListHasNotItem(KeyValueListHasItem):
    """True if the value at the key is a list or tuple without *value*."""

    __slots__ = ()

    def check(self, data):
        return self._has(data) is False


# -- combinators --------------------------------------------------------------

def _conditions_arg(name, conditions):
    if len(conditions) == 1 and isinstance(conditions[0], (list, tuple)):
        conditions = tuple(conditions[0])
    if not conditions:
        raise ValueError("%s needs at least one condition" % name)
    for c in conditions:
        if not ICondition.providedBy(c):
            raise TypeError("%s takes conditions, got %r (%s)"
                            % (name, c, type(c).__name__))
    return tuple(conditions)


class All(Condition):
    """True if every one of the given conditions holds (in order, lazily)."""

    __slots__ = ("conditions",)

    def __init__(self, *conditions):
        conditions = _conditions_arg(type(self).__name__, conditions)
        object.__setattr__(self, "conditions", conditions)
        self._freeze_args(conditions, conditions)

    def __repr__(self):
        return "<%s %r>" % (type(self).__name__, list(self.conditions))

    def check(self, data):
        for condition in self.conditions:
            if not condition.check(data):
                return False
        return True


class Any(All):
    """True if at least one of the given conditions holds."""

    __slots__ = ()

    def check(self, data):
        for condition in self.conditions:
            if condition.check(data):
                return True
        return False


class Not(Condition):
    """True if the given condition does not hold.

    Note that ``Not(KeyValueEQ('a', 1))`` is also True when ``a`` is missing,
    unlike ``KeyValueNE('a', 1)``.
    """

    __slots__ = ("condition",)

    def __init__(self, condition):
        if not ICondition.providedBy(condition):
            raise TypeError("Not takes a condition, got %r (%s)"
                            % (condition, type(condition).__name__))
        object.__setattr__(self, "condition", condition)
        self._freeze_args((condition,), (condition,))

    def __repr__(self):
        return "<Not %r>" % (self.condition,)

    def check(self, data):
        return not self.condition.check(data)

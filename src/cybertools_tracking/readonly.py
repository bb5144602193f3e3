"""Read-only views of a track's data.

ZODB stores an object when it is marked changed, and assigning an
attribute is what marks it. ``track.data['score'] = 9`` changes a dict
inside the track without assigning anything: the process sees the change
until the track is next loaded, and the database never does. So a track
hands out its data as a view that refuses every change in place, naming
the calls that do store a change.

The views are dict and list subclasses, so that everything that reads a
dict or a list (``==``, ``repr``, ``json.dumps``, ``isinstance``) sees
one. They are made when the data is first read after a load, and never
stored: the track keeps (and pickles) plain dicts and lists, which are
smaller records and stay loadable without this module. ``copy.copy``,
``copy.deepcopy`` and ``pickle`` make plain dicts and lists again, and
``dict(view)`` is a plain (shallow) copy.
"""

import copy

__all__ = ['ReadOnlyDataError', 'ReadOnlyDict', 'ReadOnlyList', 'read_only']

_HOW = ('a track\'s data cannot be changed in place (the change would not '
        'be stored); use storage.updateTrack(track, data), '
        'storage.setTrackData(track, data) or track.update(data)')


class ReadOnlyDataError(TypeError):
    """A change in place of a track's data, which would not be stored."""


def _refuse(self, *args, **kw):
    raise ReadOnlyDataError(_HOW)


class ReadOnlyDict(dict):
    """A dict that refuses changes; see the module docstring."""

    __slots__ = ()

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    @classmethod
    def fromkeys(cls, iterable, value=None):
        return dict.fromkeys(iterable, value)

    def __copy__(self):
        return dict(self)

    def __deepcopy__(self, memo):
        result = memo[id(self)] = {}
        for key, value in self.items():
            result[key] = copy.deepcopy(value, memo)
        return result

    def __reduce_ex__(self, protocol):
        return dict, (), None, None, iter(self.items())


class ReadOnlyList(list):
    """A list that refuses changes; see the module docstring."""

    __slots__ = ()

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = _refuse
    reverse = sort = _refuse

    def __copy__(self):
        return list(self)

    def __deepcopy__(self, memo):
        result = memo[id(self)] = []
        result.extend(copy.deepcopy(value, memo) for value in self)
        return result

    def __reduce_ex__(self, protocol):
        return list, (), None, iter(self)


def read_only(value):
    """A read-only view of a plain value: dicts and lists (also inside
    tuples) become ReadOnlyDicts and ReadOnlyLists; anything else is
    returned as it is."""
    kind = type(value)
    if kind is dict:
        for item in value.values():
            if type(item) in _CONTAINERS:
                return ReadOnlyDict([(key, read_only(item))
                                     for key, item in value.items()])
        return ReadOnlyDict(value)
    if kind is list:
        return ReadOnlyList([read_only(item) for item in value])
    if kind is tuple:
        items = tuple([read_only(item) for item in value])
        return value if all(a is b for a, b in zip(items, value)) else items
    return value


_CONTAINERS = frozenset((dict, list, tuple))

"""Track and Run: what a storage hands out and keeps.

A Track made by the caller is a free object. A track a storage hands out
is a *view* of a row (see ``rows``): the storage's tracks are not records
of their own but rows inside the records of their combination. What is
assigned to a view's attributes (or deleted) is written back to its row
at once; its ``data`` changes through ``update``, the storage's
``updateTrack`` and ``setTrackData``, or by assigning ``data``. A view's
metadata set directly (``track.timeStamp = t``) is stored with the row,
which stays filed where it was until ``indexTrack`` or ``reindexTracks``
moves it, as the index entries of a track record stayed before.

Track stays persistent so that databases written before the row layout,
whose tracks are records, still load (``upgrade`` converts them)."""

import copy

from persistent import Persistent
from ZODB.POSException import ConflictError
from zope.interface import implementer

from cybertools_tracking.interfaces import IRun, ITrack
from cybertools_tracking.readonly import read_only
from cybertools_tracking.rows import VIEW_ONLY
from cybertools_tracking.timestamps import getTimeStamp, timeStamp2ISO
from cybertools_tracking.validation import copy_data

__all__ = ['Track', 'Run', 'copy_data']

# The attributes a track pickles by position. Anything else a subclass
# sets is pickled in a dict after them. (The data was called 'data' in
# pickles of the dict form; see __setstate__.)
_STATE = ('taskId', 'runId', 'userName', 'timeStamp', '_data', '__parent__',
          '_num')


@implementer(ITrack)
class Track(Persistent):
    """See ITrack.

    Subclasses declare extra indexed values by extending
    ``index_attributes``; ``typeName`` is what ``repr`` calls them.
    """

    metadata_attributes = ('taskId', 'runId', 'userName', 'timeStamp')
    index_attributes = metadata_attributes
    typeName = 'Track'

    # Class-level defaults: old pickles without these still load.
    __parent__ = None
    _num = None
    timeStamp = 0
    _data = None          # the stored data: plain dicts and lists
    _v_data = None        # its read-only view, made when first asked for
    _v_store = None       # the storage whose row this is a view of

    # The id is kept as the track number: an int pickles smaller than
    # '0000001', and a track is written far more often than read by name.
    @property
    def __name__(self):
        num = self._num
        return None if num is None else '%07i' % num

    @__name__.setter
    def __name__(self, value):
        self._num = None if value is None else int(value)

    def __getstate__(self):
        # A tuple instead of a dict: every object in a pickle costs a call
        # into ZODB's persistent_id, and attribute names are objects too.
        state = Persistent.__getstate__(self)
        core = tuple([state.pop(name, None) for name in _STATE])
        return core + (state,) if state else core

    def __setstate__(self, state):
        if not isinstance(state, dict):
            values = dict(zip(_STATE, state))
            if len(state) > len(_STATE):
                values.update(state[len(_STATE)])
            state = {k: v for k, v in values.items() if v is not None}
        elif 'data' in state:
            state = dict(state)
            state['_data'] = state.pop('data')
        Persistent.__setstate__(self, state)

    # A view changed in any way is no longer what its row makes: it
    # forgets the row it was made from (the storage then makes it again
    # from its row when it is next read; see TrackingStorage._views).

    def __setattr__(self, name, value):
        Persistent.__setattr__(self, name, value)
        store = self._v_store
        if store is not None and name[:3] not in ('_v_', '_p_'):
            self.__dict__.pop('_v_row', None)
            if name not in VIEW_ONLY:
                store._writeBack(self, name)

    def __delattr__(self, name):
        Persistent.__delattr__(self, name)
        store = self._v_store
        if store is not None and name[:3] not in ('_v_', '_p_'):
            self.__dict__.pop('_v_row', None)
            if name not in VIEW_ONLY:
                store._writeBack(self, name)

    def __init__(self, taskId, runId, userName, data=None, timeStamp=None):
        self.taskId = taskId
        self.runId = runId
        self.userName = userName
        self.timeStamp = getTimeStamp() if timeStamp is None else timeStamp
        self._data = copy_data(data)

    # The data is stored as plain dicts and lists, and shown as read-only
    # views of them (see readonly.py): a change in place would be lost.
    @property
    def data(self):
        view = self._v_data
        if view is None:
            data = self._data
            # Set in the dict: this is no change of the track (and
            # __setattr__ would cost a call into Python).
            view = self.__dict__['_v_data'] = read_only(
                {} if data is None else data)
        return view

    @data.setter
    def data(self, value):
        if self.__parent__ is not None:
            # The index entries must follow: let the storage do it.
            self.__parent__.setTrackData(self, value)
        else:
            self._setData(copy_data(value))

    def _setData(self, data):
        """Store ``data``, a plain dict made by ``copy_data`` or
        ``mergedData``; the storage's way to change data it has checked."""
        self._data = data
        self._v_data = None

    @property
    def metadata(self):
        return {attr: getattr(self, attr) for attr in self.metadata_attributes}

    @property
    def indexdata(self):
        return {attr: self.indexValue(attr) for attr in self.index_attributes}

    def indexValue(self, attr, data=None):
        """The value indexed for ``attr``: the attribute, else the data's
        (or ``data``'s, if given: the value a change would index)."""
        value = getattr(self, attr, None)
        if value is None and attr not in self.metadata_attributes:
            if data is None:
                data = self._data
            if data:
                value = data.get(attr)
        return value

    @property
    def name(self):
        return self.__name__

    def update(self, newData, overwrite=False):
        if self.__parent__ is not None:
            return self.__parent__.updateTrack(self, newData, overwrite)
        data = self.mergedData(newData, overwrite)
        if data is not None:
            self._setData(data)
            self.timeStamp = getTimeStamp()
        return None

    def mergedData(self, newData, overwrite=False):
        """The data ``update(newData, overwrite)`` would store, as a new
        plain dict, checked (see ``validation.copy_data``); None if the
        update would change nothing (no new data, no overwrite)."""
        newData = copy_data(newData)
        if not newData and not overwrite:
            return None
        if not overwrite and self._data:
            # A stored track's data is its read-only view (see rows):
            # deepcopy makes plain dicts and lists of it again.
            data = self._data
            merged = dict(data) if type(data) is dict else copy.deepcopy(data)
            merged.update(newData)
            return merged
        return newData

    def __repr__(self):
        md = self.metadata
        md['timeStamp'] = timeStamp2ISO(md['timeStamp'])
        return '<%s %r: %r>' % (self.typeName,
                                [md[a] for a in self.metadata_attributes],
                                self._data or {})


@implementer(IRun)
class Run(Persistent):
    """See IRun.

    A run is written by every transaction that moves its ``end``, so two
    writers to the same task meet here. Their changes can always be
    merged: ``end`` only grows, and a stop (``finished``) wins over a
    concurrent write that did not stop the run.
    """

    id = start = end = 0
    taskId = None
    finished = False
    # ILocation's attributes (declared by the Zope add-on): runs are not
    # reached by traversal, so they have no parent or name.
    __parent__ = __name__ = None

    def __init__(self, id, taskId=None, start=None):
        self.id = id
        self.taskId = taskId
        self.start = self.end = getTimeStamp() if start is None else start

    def extendTo(self, ts):
        """Move ``end`` to ``ts`` if that is later (writes only then)."""
        if ts > self.end:
            self.end = ts

    def __repr__(self):
        return '<Run %s>' % ', '.join((str(self.id),
                                       timeStamp2ISO(self.start),
                                       timeStamp2ISO(self.end),
                                       str(self.finished)))

    def _p_resolveConflict(self, oldState, savedState, newState):
        fields = set(oldState) | set(savedState) | set(newState)
        for name in fields - {'end', 'finished'}:
            if not (oldState.get(name) == savedState.get(name)
                    == newState.get(name)):
                raise ConflictError('concurrent changes to run field %r'
                                    % name)
        resolved = dict(newState)
        resolved['end'] = max(savedState.get('end', 0),
                              newState.get('end', 0))
        old_finished = oldState.get('finished', False)
        saved_finished = savedState.get('finished', False)
        if saved_finished != old_finished:
            # The other writer stopped (or reopened) the run: keep that
            # unless this writer changed the flag too.
            if newState.get('finished', False) == old_finished:
                resolved['finished'] = saved_finished
        return resolved

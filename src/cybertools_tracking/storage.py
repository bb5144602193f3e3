"""TrackingStorage: tracks and runs in ZODB, with their indexes."""

import weakref
from operator import attrgetter

from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking import eventids
from cybertools_tracking import query as _query
from cybertools_tracking.events import EventOutbox
from cybertools_tracking.ids import Counter, allocate_track_number
from cybertools_tracking.index import FieldIndex
from cybertools_tracking.interfaces import IStorageGoals
from cybertools_tracking.interfaces import ITrackingStorage
from cybertools_tracking.interfaces import ITrackObserver
from cybertools_tracking.partitions import PartitionedLength
from cybertools_tracking.rows import CORE, MISSING, extras_of, own_core
from cybertools_tracking.rows import view_state
from cybertools_tracking.runmaps import RunMapping
from cybertools_tracking.store import DIMENSIONS, TrackStore
from cybertools_tracking.timestamps import getTimeStamp
from cybertools_tracking.track import Run, Track
from cybertools_tracking.validation import KEY_MAX, InvalidTypeError
from cybertools_tracking.validation import InvalidValueError, ValidationError
from cybertools_tracking.validation import check_index_value, check_name
from cybertools_tracking.validation import check_new_name
from cybertools_tracking.validation import check_optional_name, check_run_id
from cybertools_tracking.validation import check_timestamp, copy_data, shorten

__all__ = ['TrackingStorage']

CORE_ATTRIBUTES = DIMENSIONS + ('timeStamp',)
OPTIONS = ('limit', 'newestFirst')


def _timeStampOrNow(value):
    return getTimeStamp() if value is None else check_timestamp(value)


@implementer(ITrackingStorage)
class TrackingStorage(Persistent):
    """See ITrackingStorage.

    The tracks are rows in the records of their combination, filed by
    second (see ``store`` and ``rows``); the tracks handed out are views
    of their rows (see ``track``). The storage object itself is written
    only when runs start or indexes are added.
    """

    trackFactory = Track
    __parent__ = __name__ = None
    # Told of every new track (the goals live here; see ``goals``).
    _observers = ()
    # The number of tracks is _count() + _counts(). Storages made before
    # _counts existed count in _count alone, which every writer changes.
    _counts = None
    # The unique index of event ids (eventids.py). Storages made before
    # event ids get theirs from their first save with one.
    _eventIds = None
    # Storages made before the outbox existed get one with their first
    # event (see ``events``).
    _outbox = None
    # The tracks. None in a storage of the layout before rows (a record
    # per track, in _tracks, and a CompositeIndex in _index): see upgrade.
    _store = None
    _upgrade = None       # how far a conversion got (see upgrade)
    # The views handed out, by number (see _views).
    _v_views = None

    def __getnewargs__(self):
        # ZODB writes references to objects whose class has __getnewargs__
        # as a bare oid, without the class name (a storage is always
        # loaded before the records that refer to it).
        return ()

    def __init__(self, trackFactory=None):
        if trackFactory is not None:
            if not (isinstance(trackFactory, type)
                    and hasattr(trackFactory, 'index_attributes')):
                raise TypeError('trackFactory must be a Track class, got %r'
                                % (trackFactory,))
            self.trackFactory = trackFactory
        self._store = TrackStore()
        self._count = Length()        # a base: reindexTracks corrects it
        self._counts = PartitionedLength()
        self._trackIds = Counter()
        self._runIds = Counter()
        self._runs = LOBTree()        # run id -> Run
        self.currentRuns = OOBTree()  # taskId -> id of its current run
        self._fields = {}             # extra attribute name -> FieldIndex
        self._eventIds = eventids.EventIdIndex()
        self._outbox = EventOutbox()
        self.setupIndexes()

    @property
    def layout(self):
        """'rows' (this version's), or 'records' for a storage written
        before the row layout, which ``upgrade`` converts."""
        return 'records' if self._store is None \
            or self._upgrade is not None else 'rows'

    @property
    def rowEncoding(self):
        """How rows are written: 'marshal', or 'pickle' for a storage made
        before marshal rows until ``upgrade`` switches it (see rows);
        None for a storage of the layout before rows."""
        return None if self._store is None else self._store.rowEncoding

    # views of rows

    def _views(self):
        """The views this storage object handed out (it is one per
        connection). A view is handed out again, in this transaction or a
        later one, only while it is what its row makes: made from the
        very row object read now (rows are decoded once per stored value,
        see ``rows.unpack``, so a changed or reverted row is a new
        object), and not changed since (``Track.__setattr__`` forgets its
        row then). So a track read again costs no new view, as a track
        record in ZODB's cache cost nothing before the row layout."""
        views = self._v_views
        if views is None:
            views = self._v_views = _Views()
        return views

    def _view(self, num, key, ts, row, track=None, views=None):
        """The view of the row ``row`` of track ``num`` filed under key
        and ts: the one handed out already (see _views), made
        current, or a new one; ``track`` (a view of the same track) is
        made current too. ``views``: ``_views()``, if the caller has it."""
        if views is None:
            views = self._views()
        ref = views.refs.get(num)
        mapped = None if ref is None else ref()
        data = row[1]
        if mapped is None:
            factory = self.trackFactory
            mapped = factory.__new__(factory)
            views.put(num, mapped)
            if track is None and not row[2]:
                # The common case (a new view of a row without extras):
                # its attributes set at once, as one new dict.
                _setDict(mapped, '__dict__', {
                    'taskId': key[0], 'runId': key[1], 'userName': key[2],
                    'timeStamp': ts, '_data': data, '__parent__': self,
                    '_num': num, '_v_store': self, '_v_row': row})
                return mapped
        elif track is None and mapped.__dict__.get('_v_row') is row \
                and type(mapped) is self.trackFactory:
            return mapped       # made from this very row: still current
        for view in (mapped, track):
            if isinstance(view, Track):
                d = view.__dict__
                if d:
                    d.clear()
                if row[2]:
                    d.update(view_state(num, key, ts, data, row[2], self))
                else:           # the common case, without a call
                    d.update({'taskId': key[0], 'runId': key[1],
                              'userName': key[2], 'timeStamp': ts,
                              '_data': data, '__parent__': self,
                              '_num': num})
                d['_v_store'] = self
                d['_v_row'] = row
        return mapped

    def _viewsOf(self, key, groups, add, views):
        """``add`` (a list's append) the view of each row of ``groups``
        (ts, rows) of the combination ``key``, as ``_view`` makes it: for
        readers of many rows. The common cases are taken here without a
        call per row (a cold read of a user's tracks makes ~1,000 views):
        a view still current, and a row without extras of which no view
        is handed out."""
        refs = views.refs
        factory = self.trackFactory
        made = []
        for ts, rows in groups:
            for row in rows:
                num = row[0]
                ref = refs.get(num)
                if ref is not None:
                    mapped = ref()
                    if mapped is not None \
                            and mapped.__dict__.get('_v_row') is row \
                            and type(mapped) is factory:
                        add(mapped)     # made from this very row: current
                        continue
                if ref is not None or row[2]:
                    add(self._view(num, key, ts, row, None, views))
                    continue
                mapped = factory.__new__(factory)
                _setDict(mapped, '__dict__', {
                    'taskId': key[0], 'runId': key[1], 'userName': key[2],
                    'timeStamp': ts, '_data': row[1], '__parent__': self,
                    '_num': num, '_v_store': self, '_v_row': row})
                made.append(mapped)
                add(mapped)
        if made:
            views.putAll(made)

    def _fetch(self, num):
        found = self._store.find(num)
        if found is None:
            raise KeyError(num)
        return self._view(num, *found)

    def _writeBack(self, track, name):
        """Store what was assigned to (or deleted from) ``name`` of a
        view: see ``track``."""
        num = track._num
        found = None if track.__parent__ is not self else \
            self._store.find(num)
        if found is None:
            raise KeyError('track %s is not stored in this storage (any '
                           'more): the change of %r is not stored'
                           % (track.__name__, name))
        key, ts, row = found
        if name in CORE or name in self._fields:
            # An index key: checked, then the row is filed (or the index
            # entry made) at once, so that queries find the track where
            # its attributes say. A refused value is not kept in the view.
            try:
                if name in CORE:
                    if name not in track.__dict__:
                        raise InvalidValueError(
                            'the %s of a stored track cannot be deleted'
                            % name)
                    if name in ('taskId', 'userName'):
                        check_new_name(name, track.__dict__[name])
                    newKey, newTs = self._coreOf(track)
                    run = self._runs.get(newKey[1])
                    if run is None or (run.taskId is not None
                                       and run.taskId != newKey[0]):
                        raise InvalidValueError(
                            'runId %s is not a run of task %s'
                            % (shorten(newKey[1]), shorten(newKey[0])))
                extraValues = self._extraValues(track, names=(name,))
            except ValidationError:
                self._view(num, key, ts, row, track)
                raise
            if name in CORE:
                self._refile(num, newKey, newTs, track)
            else:
                self._storeExtra(num, key, ts, row, track, name)
            for index, value in extraValues:
                index.index(num, value)
            return
        self._storeExtra(num, key, ts, row, track, name)

    def _storeExtra(self, num, key, ts, row, track, name):
        """Keep the value of the view's attribute ``name`` (not one of the
        core ones) in the extras of its row."""
        extras = dict(row[2] or ())
        value = track.__dict__.get(name, MISSING)
        if value is MISSING:
            extras.pop(name, None)
        else:
            extras[name] = value
        row = (num, row[1], extras or None)
        self._store.rewrite(key, ts, num, row[1], row[2])
        mapped = self._views().get(num)
        if mapped is not None and mapped is not track:
            self._view(num, key, ts, row)

    # indexes of extra attributes

    @property
    def indexAttributes(self):
        return tuple(self.trackFactory.index_attributes)

    def _extraAttributes(self):
        return [a for a in self.indexAttributes if a not in CORE_ATTRIBUTES]

    def setupIndexes(self):
        """Create indexes for extra attributes the track factory declares
        and that have none yet, and fill them. Returns the names added."""
        added = [a for a in self._extraAttributes() if a not in self._fields]
        if added:
            # Every value is checked before the first index is made.
            kinds, entries = {}, []
            for trackId, track in self.items():
                for name in added:
                    value = track.indexValue(name)
                    if value is not None:
                        try:
                            kinds[name] = check_index_value(
                                name, value, kinds.get(name))
                        except ValidationError as error:
                            raise _aboutTrack(trackId, error) from None
                        entries.append((name, track._num, value))
            fields = dict(self._fields)
            for name in added:
                fields[name] = FieldIndex(name)
            for name, num, value in entries:
                fields[name].index(num, value)
            self._fields = fields
        return added

    def _extraValues(self, track, data=None, names=None, kinds=None):
        """[(index, value)] for a track (with ``data`` instead of its own,
        if given), for every extra index or those in ``names``; checked
        before anything is written against what each index holds, or
        against ``kinds`` (name -> kind, filled in as values are seen)."""
        result = []
        for name, index in self._fields.items():
            if names is not None and name not in names:
                continue
            value = track.indexValue(name, data)
            if value is not None:
                if kinds is None:
                    index.check(value)
                else:
                    kinds[name] = check_index_value(name, value,
                                                    kinds.get(name))
            result.append((index, value))
        return result

    def _coreOf(self, track):
        """The checked (key, timestamp) a stored track is to be filed
        under: its own metadata."""
        key = (check_name('taskId', track.taskId),
               check_run_id(track.runId),
               check_name('userName', track.userName))
        return key, check_timestamp(track.timeStamp)

    # ids and the mapping protocol

    def _allocateNum(self):
        counter = self._trackIds
        if counter._p_oid is None:
            # Not yet in a database: nobody else can see this storage.
            return counter.allocate()
        return allocate_track_number(counter)

    def idFromNum(self, num):
        return '%07i' % (num)

    def _num(self, trackId):
        if isinstance(trackId, str) and trackId.isascii() \
                and trackId.isdigit():
            num = int(trackId)
        elif isinstance(trackId, int) and not isinstance(trackId, bool):
            num = int(trackId)
        else:
            raise KeyError(trackId)
        if not 0 < num <= KEY_MAX:      # no such track, and no 64-bit key
            raise KeyError(trackId)
        return num

    def _numOf(self, track):
        """The number of a track stored here, given as object or id."""
        if isinstance(track, (str, int)):
            num = self._num(track)
            if num not in self._store:
                raise KeyError('no track with id %r' % (track,))
            return num
        # A view, or a view behind a security proxy (Zope), which
        # isinstance does not see through; its parent is then a proxy of
        # this storage, and == compares the objects behind (a persistent
        # object equals itself only).
        name = getattr(track, '__name__', None)
        parent = getattr(track, '__parent__', None)
        num = self._num(name) if isinstance(name, str) and name else None
        if num is None or not (parent is self or parent == self) \
                or num not in self._store:
            raise KeyError('track %r is not stored in this storage'
                           % (track,))
        return num

    def __len__(self):
        counts = self._counts
        return self._count() + (0 if counts is None else counts())

    def _changeCount(self, num, delta):
        if self._counts is None:
            self._count.change(delta)
        else:
            self._counts.change(num, delta)

    def __getitem__(self, trackId):
        try:
            return self._fetch(self._num(trackId))
        except KeyError:
            raise KeyError(trackId) from None

    def get(self, trackId, default=None):
        try:
            return self[trackId]
        except KeyError:
            return default

    def __contains__(self, trackId):
        try:
            return self._num(trackId) in self._store
        except KeyError:
            return False

    def __iter__(self):
        return self.keys()

    def keys(self):
        return (self.idFromNum(num) for num in self._store.numbers())

    def values(self):
        return (track for trackId, track in self.items())

    def items(self):
        for num, key, ts in self._store.locations():
            found = self._store.find(num)
            if found is not None:
                yield self.idFromNum(num), self._view(num, *found)

    @property
    def _tracks(self):
        """num -> track, for repair tools and the tests of ``check``:
        ``pop(num)`` removes a track's row and nothing else."""
        return _Rows(self)

    def __delitem__(self, trackId):
        self.removeTrack(trackId)

    # goals and other observers of new tracks

    @property
    def goals(self):
        """See ITrackingStorage.goals."""
        # Adapting keeps this layer below the goal glue: the glue
        # (tracked_goals.py) registers the adapter, this module imports
        # only the interface.
        return IStorageGoals(self)

    @property
    def events(self):
        """See ITrackingStorage.events."""
        outbox = self._outbox
        if outbox is None:
            # A storage older than the outbox: its first event writes the
            # storage once (a read never commits, so a read leaves none).
            outbox = self._outbox = EventOutbox()
        return outbox

    @property
    def lastGoalOutcome(self):
        return IStorageGoals(self).lastOutcome

    def addTrackObserver(self, observer):
        if not ITrackObserver.providedBy(observer):
            raise TypeError('observer must provide ITrackObserver, got %r'
                            % (observer,))
        self._observers = self._observers + (observer,)

    def removeTrackObserver(self, observer):
        if observer not in self._observers:
            raise ValueError('%r is not an observer of this storage'
                             % (observer,))
        self._observers = tuple(o for o in self._observers
                                if o is not observer)

    def trackObservers(self):
        return self._observers

    # runs

    def startRun(self, taskId=None, current=True):
        if taskId is not None:
            taskId = check_new_name('taskId', taskId)
        return self._startRun(taskId, current=bool(current)).id

    def _startRun(self, taskId, start=None, current=True):
        run = Run(self._runIds.allocate(), taskId, start)
        self._runs[run.id] = run
        if taskId is not None:
            if current:
                self.currentRuns[taskId] = run.id
            if self._store is not None:     # None: the layout before rows
                self._store.runStarted(taskId, run.id)
        return run

    def stopRun(self, taskId=None, runId=0, finish=True):
        taskId = check_optional_name('taskId', taskId)
        runId = check_run_id(runId)
        finish = bool(finish)
        if taskId is not None and not runId:
            runId = self.currentRuns.get(taskId) or 0
        run = self._runs.get(runId) if runId else None
        if run is None:
            return 0
        # A stopped run is no task's current run, however it was named
        # (loops left a run stopped by number alone current). A run named
        # with another task is stopped, as loops did.
        for owner in {taskId, run.taskId} - {None}:
            if self.currentRuns.get(owner) == runId:
                del self.currentRuns[owner]
        run.extendTo(getTimeStamp())
        run.finished = finish
        return runId

    def getRun(self, taskId=None, runId=0):
        if isinstance(taskId, int) and not isinstance(taskId, bool):
            taskId, runId = None, runId or taskId
        runId = check_run_id(runId)
        if not runId and taskId is not None:
            runId = self.currentRuns.get(check_name('taskId', taskId))
        if runId:
            return self._runs.get(runId)
        return None

    def getRuns(self, taskId=None, finished=None):
        taskId = check_optional_name('taskId', taskId)
        return [run for run in self._runs.values()
                if (taskId is None or run.taskId == taskId)
                and (finished is None or run.finished == bool(finished))]

    def getCurrentRuns(self):
        return dict(self.currentRuns.items())

    # loops' names, read-only (runmaps.py)
    runs = property(lambda self: RunMapping(self, finished=False),
                    doc='The unfinished runs: run number -> Run.')
    finishedRuns = property(lambda self: RunMapping(self, finished=True),
                            doc='The finished runs: run number -> Run.')

    def _resolveRun(self, taskId, runId):
        """The run a track of ``taskId`` is saved into: run ``runId``, or
        for 0 the task's current run (None if it has none yet)."""
        if not runId:
            current = self.currentRuns.get(taskId)
            return None if current is None else self._runs[current]
        run = self._runs.get(runId)
        if run is None:
            raise InvalidValueError('runId %r: there is no such run'
                                    % (runId,))
        if run.taskId is not None and run.taskId != taskId:
            raise InvalidValueError('runId %r belongs to task %s, not to %s'
                                    % (runId, shorten(run.taskId),
                                       shorten(taskId)))
        return run

    # writing

    def saveUserTrack(self, taskId, runId, userName, data, update=False,
                      timeStamp=None, overwrite=False, replace=False,
                      eventId=None):
        # Everything that can fail happens before the first write: the
        # arguments here, the data in the track factory (or mergedData),
        # the extra index values in _extraValues.
        taskId = check_new_name('taskId', taskId)
        userName = check_new_name('userName', userName)
        runId = check_run_id(runId)
        ts = _timeStampOrNow(timeStamp)
        if replace:
            update = overwrite = True
        if eventId is not None:
            eventId = eventids.check_save(eventId, update)
        run = self._resolveRun(taskId, runId)
        if update and run is not None:
            key = (taskId, run.id, userName)
            last = self._store.last(key)
            if last is not None:
                track = self._view(last[1][0], key, last[0], last[1])
                return self._update(track, data, overwrite, ts)
        if eventId is None and self.trackFactory is Track \
                and not self._fields and not self._observers:
            return self._saveRow(taskId, run, userName, copy_data(data), ts)
        effectiveRunId = self._runIds.peek() if run is None else run.id
        track = self.trackFactory(taskId, effectiveRunId, userName, data)
        track.timeStamp = ts
        extraValues = self._extraValues(track)
        if eventId is not None:
            content = eventids.EventContent(
                taskId, userName, track.data, ts, timeStamp is not None)
            known = eventids.known(self._eventIds, self, eventId, content,
                                   track)
            if known is not None:
                return known
        if run is None:
            run = self._startRun(taskId, start=ts)
        num = self._allocateNum()
        key = (taskId, run.id, userName)
        state = track.__dict__
        self._store.add(key, ts, num, state['_data'],
                        extras_of(state, key, ts))
        self._changeCount(num, 1)
        for index, value in extraValues:
            if value is not None:
                index.index(num, value)
        run.extendTo(ts)
        if eventId is not None:
            if self._eventIds is None:      # a storage made before them
                self._eventIds = eventids.EventIdIndex()
            self._eventIds.add(eventId, num, content)
        # Now a view of its row.
        state['__parent__'] = self
        state['_num'] = num
        state['_v_store'] = self
        self._views().put(num, track)
        for observer in self._observers:
            try:
                observer.trackAdded(self, track)
            except BaseException:
                self._doom()
                raise
        return self.idFromNum(num)

    def _saveRow(self, taskId, run, userName, data, ts):
        """Save a new track as a row and nothing more: for a plain Track
        with no extra index, observer or event id, where no Track object
        is needed (a view is made when the track is read). ``data`` is
        checked (``copy_data``, what Track.__init__ stores), the other
        arguments too."""
        if run is None:
            run = self._startRun(taskId, start=ts)
        num = self._allocateNum()
        self._store.add((taskId, run.id, userName), ts, num, data)
        self._changeCount(num, 1)
        run.extendTo(ts)
        return '%07i' % num

    def _doom(self):
        # An observer failed half-way (a zope.event subscriber raised, say):
        # the track and part of its goal changes are written. Nothing may
        # commit that, even a caller that catches the error and goes on.
        jar = self._p_jar
        if jar is not None:
            jar.transaction_manager.get().doom()

    def updateTrack(self, track, data, overwrite=False, timeStamp=None):
        num = self._numOf(track)
        ts = _timeStampOrNow(timeStamp)
        return self._update(self._fetch(num), data, overwrite, ts, track)

    def _update(self, track, data, overwrite, ts, given=None):
        newData = track.mergedData(data, overwrite)
        if newData is None:
            return track.__name__
        self._changeData(track, newData, ts, given)
        run = self._runs.get(track.runId)
        if run is not None:
            run.extendTo(ts)
        return track.__name__

    def setTrackData(self, track, data):
        num = self._numOf(track)
        self._changeData(self._fetch(num), copy_data(data), None, track)
        return self.idFromNum(num)

    def _changeData(self, track, data, ts, given=None):
        """Give a view ``data`` (a checked plain dict) and, unless ``ts``
        is None, the time ``ts`` (a checked int), and reindex it;
        ``given`` (another view of it) is made current too."""
        extraValues = self._extraValues(track, data)
        num = track._num
        key, filed, row = self._store.find(num)
        extras = row[2]
        if ts is None:
            ts = filed
        elif extras and 'timeStamp' in extras:
            extras = {k: v for k, v in extras.items() if k != 'timeStamp'}
            extras = extras or None
        if ts != filed:
            self._store.take(key, filed, num)
            self._store.add(key, ts, num, data, extras)
        else:
            self._store.rewrite(key, ts, num, data, extras)
        self._view(num, key, ts, (num, data, extras), given)
        for index, value in extraValues:
            index.index(num, value)

    def removeTrack(self, track):
        num = self._numOf(track)
        key, ts, row = self._store.find(num)
        self._store.take(key, ts, num)
        for index in self._fields.values():
            index.unindex(num)
        self._changeCount(num, -1)
        if self._eventIds is not None:
            self._eventIds.discard(num)
        # The track given becomes a free object; other views of it (the
        # one handed out, which may be from an earlier transaction) refuse
        # changes with a KeyError (see _writeBack).
        self._views().pop(num)
        if isinstance(track, Track) and track._num == num:
            track.__dict__.pop('_v_store', None)

    def getTrackByEventId(self, eventId):
        eventId = eventids.check_event_id(eventId)
        num = None if self._eventIds is None else \
            self._eventIds.find(eventId)
        if num is None:
            return None
        try:
            return self._fetch(num)
        except KeyError:
            return None

    def getEventId(self, track):
        num = self._numOf(track)
        return None if self._eventIds is None else \
            self._eventIds.eventIdOf(num)

    def indexTrack(self, num, track, idx=None):
        if idx is not None and idx not in self.indexAttributes:
            raise InvalidValueError(
                'index %s not available; the indexes are %s'
                % (shorten(idx), ', '.join(self.indexAttributes)))
        given = track if isinstance(track, Track) else None
        num = self._storedNum(num, track)
        track = self._fetch(num)           # its row, as stored
        core = idx is None or idx in CORE_ATTRIBUTES
        try:
            key, ts = self._coreOf(track) if core else (None, None)
            extras = self._extraValues(track, names=(
                None if idx is None else (idx,)))
        except ValidationError as error:
            raise _aboutTrack(track.__name__, error) from None
        if core:
            self._refile(num, key, ts, given)
        for index, value in extras:
            index.index(num, value)

    def _storedNum(self, num, track):
        """The number of ``track`` stored here, given or found (for 0 or
        None)."""
        if not num:
            return self._numOf(track)
        if not isinstance(num, (int, str)) or isinstance(num, bool):
            raise InvalidTypeError('num must be a track number (an int), '
                                   'got %s' % shorten(num))
        found = self._num(num)
        if not (isinstance(track, Track) and track.__parent__ is self
                and track._num == found and found in self._store):
            raise KeyError('track %s is not stored here under number %s'
                           % (shorten(track), shorten(num)))
        return found

    def _refile(self, num, key, ts, given=None):
        """File track ``num`` under its checked metadata ``key`` and ``ts``
        (dropping them from its extras), and let its run end no earlier
        than the track."""
        filedKey, filedTs, row = self._store.find(num)
        extras = row[2]
        if extras:
            extras = {k: v for k, v in extras.items() if k not in CORE}
            extras = extras or None
        if (filedKey, filedTs) != (key, ts):
            self._store.take(filedKey, filedTs, num)
            self._store.add(key, ts, num, row[1], extras)
        elif extras is not row[2]:
            self._store.rewrite(key, ts, num, row[1], extras)
        self._view(num, key, ts, (num, row[1], extras), given)
        run = self._runs.get(key[1])
        if run is not None:
            run.extendTo(ts)

    def reindexTracks(self):
        # Check every track before anything is changed, so that a track
        # the indexes cannot hold does not leave them half rebuilt. The
        # rows are read twice rather than kept in memory as views.
        kinds = {}
        for trackId, track in self.items():        # in id order
            try:
                self._coreOf(track)
                self._extraValues(track, kinds=kinds)
            except ValidationError as error:
                raise _aboutTrack(trackId, error) from None
        rows = []
        for key, ts, group in self._store.everything():
            for row in group:
                ownKey, ownTs = own_core(key, ts, row[2])
                rows.append((row[0], ownKey, ownTs, row))
        self._store.clear()
        for index in self._fields.values():
            index.clear()
        for num, key, ts, row in rows:
            key, ts = self._coreOf(self._view(num, key, ts, row))
            self._refileRow(num, key, ts, row)
        for num, track in self._allViews():
            for index, value in self._extraValues(track):
                if value is not None:
                    index.index(num, value)
        if len(self) != len(rows):
            self._count.change(len(rows) - len(self))

    def _refileRow(self, num, key, ts, row):
        extras = row[2]
        if extras:
            extras = {k: v for k, v in extras.items() if k not in CORE}
            extras = extras or None
        self._store.add(key, ts, num, row[1], extras)
        self._view(num, key, ts, (num, row[1], extras))
        run = self._runs.get(key[1])
        if run is not None:
            run.extendTo(ts)

    def _allViews(self):
        """(num, view) of every track, combination by combination."""
        for key, ts, group in self._store.everything():
            for row in group:
                yield row[0], self._view(row[0], key, ts, row)

    # reading

    def getUserTracks(self, taskId, runId, userName):
        key = self._userKey(taskId, runId, userName)
        if key is None:
            return []
        result = []
        self._viewsOf(key, self._store.groups(key), result.append,
                      self._views())
        result.sort(key=_num)
        return result

    def getLastUserTrack(self, taskId, runId, userName):
        key = self._userKey(taskId, runId, userName)
        last = None if key is None else self._store.last(key)
        if last is None:
            return None
        ts, row = last
        return self._view(row[0], key, ts, row)

    def _userKey(self, taskId, runId, userName):
        taskId = check_name('taskId', taskId)
        userName = check_name('userName', userName)
        runId = check_run_id(runId) or self.currentRuns.get(taskId)
        return None if runId is None else (taskId, runId, userName)

    def getUserNames(self, taskId):
        return self._store.userNames(check_name('taskId', taskId))

    def getTaskIds(self):
        return self._store.taskIds()

    # Unknown query criteria are an error (see query.plan); loops' own
    # class (cybertools.tracking.btree) ignores them as loops' storage
    # did. Set on a storage, it is kept with it: what an existing loops
    # database whose storages were made by this class needs.
    ignoreUnknownCriteria = False

    def _plan(self, criteria):
        return _query.plan(criteria, self._fields, self._extraAttributes,
                           self.ignoreUnknownCriteria)

    def query(self, **criteria):
        return _query.execute(self._plan(criteria), self)

    def queryRecords(self, **criteria):
        return _query.records(self._plan(criteria), self)

    # checking

    def check(self, limit=100):
        """See ``check.check_storage``."""
        from cybertools_tracking.check import check_storage
        return check_storage(self, limit)


class _Views:
    """num -> the view of a track handed out by a storage object, held
    weakly (a plain dict of weak references, swept of dead ones as it
    grows: cheaper than a WeakValueDictionary, and a view is made for
    every track read); the last RECENT ones also strongly, so that a
    track looked up again soon is not made again (about 600 bytes each:
    at most ~10 MB per connection, beside ZODB's cache of 32 MB)."""

    __slots__ = ('refs', 'limit', 'recent', 'next')
    RECENT = 16384

    def __init__(self):
        self.refs = {}
        self.limit = 10_000
        self.recent = []      # grows to RECENT, then a ring
        self.next = 0

    def get(self, num):
        ref = self.refs.get(num)
        return None if ref is None else ref()

    def put(self, num, view):
        self.refs[num] = weakref.ref(view)
        self._keep((view,))

    def putAll(self, views):
        """``put`` each of ``views`` (a list of views made from rows)."""
        refs = self.refs
        ref = weakref.ref
        for view in views:
            refs[view._num] = ref(view)
        self._keep(views)

    def _keep(self, views):
        # Dead references swept as the map grows; the newest views kept
        # in the ring of recent ones.
        refs = self.refs
        if len(refs) >= self.limit:
            for dead in [k for k, ref in refs.items() if ref() is None]:
                del refs[dead]
            self.limit = max(10_000, 2 * len(refs))
        recent = self.recent
        room = self.RECENT - len(recent)
        if room > 0:
            recent.extend(views[:room])
            views = views[room:]
        for view in views[-self.RECENT:]:
            recent[self.next] = view
            self.next = (self.next + 1) % self.RECENT

    def pop(self, num):
        # The view may stay among the recent ones until its place there
        # is taken: finding it would cost a scan of RECENT places.
        ref = self.refs.pop(num, None)
        return None if ref is None else ref()


class _Rows:
    """The tracks of a storage by number; see ``TrackingStorage._tracks``."""

    def __init__(self, storage):
        self._storage = storage

    def get(self, num, default=None):
        found = self._storage._store.find(num)
        return default if found is None else self._storage._view(num, *found)

    def __getitem__(self, num):
        return self._storage._fetch(num)

    def __contains__(self, num):
        return num in self._storage._store

    def keys(self):
        return self._storage._store.numbers()

    def items(self):
        return ((track._num, track) for trackId, track
                in self._storage.items())

    def values(self):
        return self._storage.values()

    def pop(self, num):
        """Remove track ``num``'s row only (see ``TrackStore.dropRow``)."""
        found = self._storage._store.find(num)
        if found is None:
            raise KeyError(num)
        track = self._storage._view(num, *found)
        self._storage._store.dropRow(num)
        track.__dict__.pop('_v_store', None)
        return track


# Views sort by number: within a combination rows are filed by time, and
# a user's tracks are in id order.
_num = attrgetter('_num')


# Sets a new view's __dict__ without Track.__setattr__ (which would write
# back to the row).
_setDict = Persistent.__setattr__


def _aboutTrack(trackId, error):
    """``error`` (a ValidationError) again, saying which track it is about."""
    return type(error)('track %s: %s' % (trackId, error))

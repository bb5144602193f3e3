"""TrackingStorage: tracks and runs in ZODB, with their indexes."""

from BTrees.Length import Length
from BTrees.LLBTree import LLTreeSet
from BTrees.LLBTree import intersection as ll_intersection
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from zope.interface import implementer

from cybertools_tracking import eventids
from cybertools_tracking.events import EventOutbox
from cybertools_tracking.ids import Counter, allocate_track_number
from cybertools_tracking.index import DIMENSIONS, CompositeIndex, FieldIndex
from cybertools_tracking.index import Prefix
from cybertools_tracking.interfaces import IStorageGoals
from cybertools_tracking.interfaces import ITrackingStorage
from cybertools_tracking.interfaces import ITrackObserver
from cybertools_tracking.partitions import PartitionedLength, PartitionedTree
from cybertools_tracking.runmaps import RunMapping
from cybertools_tracking.timestamps import getTimeStamp
from cybertools_tracking.track import Run, Track
from cybertools_tracking.validation import KEY_MAX, InvalidTypeError
from cybertools_tracking.validation import InvalidValueError, ValidationError
from cybertools_tracking.validation import check_index_value, check_name
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

    The storage object itself is written only when runs start or indexes
    are added: tracks, counters, runs and index entries live in records
    of their own, so that a write touches as few records as possible.
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

    def __getnewargs__(self):
        # ZODB writes references to objects whose class has __getnewargs__
        # as a bare oid, without the class name. Every track refers to its
        # storage (__parent__), so this saves ~50 bytes per track record.
        # The price, a load to learn the class of a ghost, is never paid:
        # a storage is always loaded before its tracks.
        return ()

    def __init__(self, trackFactory=None):
        if trackFactory is not None:
            if not (isinstance(trackFactory, type)
                    and hasattr(trackFactory, 'index_attributes')):
                raise TypeError('trackFactory must be a Track class, got %r'
                                % (trackFactory,))
            self.trackFactory = trackFactory
        self._tracks = PartitionedTree()    # num -> track
        self._count = Length()        # a base: reindexTracks corrects it
        self._counts = PartitionedLength()
        self._trackIds = Counter()
        self._runIds = Counter()
        self._runs = LOBTree()        # run id -> Run
        self.currentRuns = OOBTree()  # taskId -> id of its current run
        self._index = CompositeIndex()
        self._fields = {}             # extra attribute name -> FieldIndex
        self._eventIds = eventids.EventIdIndex()
        self._outbox = EventOutbox()
        self.setupIndexes()

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
            for num, track in self._tracks.items():
                for name in added:
                    value = track.indexValue(name)
                    if value is not None:
                        try:
                            kinds[name] = check_index_value(
                                name, value, kinds.get(name))
                        except ValidationError as error:
                            trackId = self.idFromNum(num)
                            raise _aboutTrack(trackId, error) from None
                        entries.append((name, num, value))
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
        """The checked (key, timestamp) a stored track is indexed under."""
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
        if isinstance(track, Track):
            num = self._num(track.__name__ or '')
            if self._tracks.get(num) is not track:
                raise KeyError('track %r is not stored in this storage'
                               % (track,))
            return num
        num = self._num(track)
        if num not in self._tracks:
            raise KeyError('no track with id %r' % (track,))
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
        return self._tracks[self._num(trackId)]

    def get(self, trackId, default=None):
        try:
            return self[trackId]
        except KeyError:
            return default

    def __contains__(self, trackId):
        try:
            return self._num(trackId) in self._tracks
        except KeyError:
            return False

    def __iter__(self):
        return self.keys()

    def keys(self):
        return (self.idFromNum(num) for num in self._tracks.keys())

    def values(self):
        return iter(self._tracks.values())

    def items(self):
        return ((self.idFromNum(num), track)
                for num, track in self._tracks.items())

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

    def startRun(self, taskId=None):
        taskId = check_optional_name('taskId', taskId)
        return self._startRun(taskId).id

    def _startRun(self, taskId, start=None):
        run = Run(self._runIds.allocate(), taskId, start)
        self._runs[run.id] = run
        if taskId is not None:
            self.currentRuns[taskId] = run.id
        return run

    def stopRun(self, taskId=None, runId=0, finish=True):
        taskId = check_optional_name('taskId', taskId)
        runId = check_run_id(runId)
        finish = bool(finish)
        if taskId is not None:
            current = self.currentRuns.get(taskId)
            runId = runId or current or 0
            if runId and runId == current:
                del self.currentRuns[taskId]
        run = self._runs.get(runId) if runId else None
        if run is None:
            return 0
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
        taskId = check_name('taskId', taskId)
        userName = check_name('userName', userName)
        runId = check_run_id(runId)
        ts = _timeStampOrNow(timeStamp)
        if replace:
            update = overwrite = True
        if eventId is not None:
            eventId = eventids.check_save(eventId, update)
        run = self._resolveRun(taskId, runId)
        if update and run is not None:
            num = self._index.last((taskId, run.id, userName))
            if num is not None:
                return self._update(num, self._tracks[num], data,
                                    overwrite, ts)
        effectiveRunId = self._runIds.peek() if run is None else run.id
        track = self.trackFactory(taskId, effectiveRunId, userName, data)
        track.timeStamp = ts
        extras = self._extraValues(track)
        if eventId is not None:
            digest = eventids.content_digest(
                taskId, userName, track.data,
                None if timeStamp is None else ts)
            known = eventids.known(self._eventIds, self, eventId, digest,
                                   track)
            if known is not None:
                return known
        if run is None:
            run = self._startRun(taskId, start=ts)
        num = self._allocateNum()
        trackId = self.idFromNum(num)
        track.__parent__ = self
        track.__name__ = trackId
        self._tracks[num] = track
        self._changeCount(num, 1)
        self._index.insert((taskId, run.id, userName), ts, num)
        for index, value in extras:
            if value is not None:
                index.index(num, value)
        run.extendTo(ts)
        if eventId is not None:
            if self._eventIds is None:      # a storage made before them
                self._eventIds = eventids.EventIdIndex()
            self._eventIds.add(eventId, num, digest)
        for observer in self._observers:
            try:
                observer.trackAdded(self, track)
            except BaseException:
                self._doom()
                raise
        return trackId

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
        return self._update(num, self._tracks[num], data, overwrite, ts)

    def _update(self, num, track, data, overwrite, ts):
        newData = track.mergedData(data, overwrite)
        if newData is None:
            return track.__name__
        self._changeData(num, track, newData, ts)
        run = self._runs.get(track.runId)
        if run is not None:
            run.extendTo(ts)
        return track.__name__

    def setTrackData(self, track, data):
        num = self._numOf(track)
        track = self._tracks[num]
        self._changeData(num, track, copy_data(data), track.timeStamp)
        return track.__name__

    def _changeData(self, num, track, data, ts):
        """Give a track ``data`` (a checked plain dict) and the time ``ts``,
        and reindex it."""
        extras = self._extraValues(track, data)
        track._setData(data)
        if track.timeStamp != ts:
            self._unindexCore(num, track)
            track.timeStamp = ts
            self._index.insert((track.taskId, track.runId, track.userName),
                               ts, num)
        for index, value in extras:
            index.index(num, value)

    def removeTrack(self, track):
        num = self._numOf(track)
        track = self._tracks[num]
        self._unindexCore(num, track)
        for index in self._fields.values():
            index.unindex(num)
        del self._tracks[num]
        self._changeCount(num, -1)
        if self._eventIds is not None:
            self._eventIds.discard(num)

    def getTrackByEventId(self, eventId):
        eventId = eventids.check_event_id(eventId)
        num = None if self._eventIds is None else \
            self._eventIds.find(eventId)
        return None if num is None else self._tracks.get(num)

    def getEventId(self, track):
        num = self._numOf(track)
        return None if self._eventIds is None else \
            self._eventIds.eventIdOf(num)

    def indexTrack(self, num, track, idx=None):
        if idx is not None and idx not in self.indexAttributes:
            raise InvalidValueError(
                'index %s not available; the indexes are %s'
                % (shorten(idx), ', '.join(self.indexAttributes)))
        num = self._storedNum(num, track)
        track = self._tracks[num]         # the object, if given by id
        core = idx is None or idx in CORE_ATTRIBUTES
        try:
            key, ts = self._coreOf(track) if core else (None, None)
            extras = self._extraValues(track, names=(
                None if idx is None else (idx,)))
        except ValidationError as error:
            raise _aboutTrack(track.__name__, error) from None
        if core:
            self._setCore(track, key, ts)
            if not self._index.contains(key, ts, num):
                self._unindexCore(num, track)
                self._index.insert(key, ts, num)
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
        if self._tracks.get(found) is not track:
            raise KeyError('track %s is not stored here under number %s'
                           % (shorten(track), shorten(num)))
        return found

    def _setCore(self, track, key, ts):
        """Make a track's metadata the checked values it is indexed under
        (a float timestamp set behind the index's back becomes an int),
        and let its run end no earlier than the track."""
        for name, value in zip(DIMENSIONS, key):
            if getattr(track, name) is not value:
                setattr(track, name, value)
        if type(track.timeStamp) is not int or track.timeStamp != ts:
            track.timeStamp = ts
        run = self._runs.get(key[1])
        if run is not None:
            run.extendTo(ts)

    def _unindexCore(self, num, track):
        key = (track.taskId, track.runId, track.userName)
        ts = track.timeStamp
        if not self._index.contains(key, ts, num):
            # Changed behind the index's back: find where it was.
            found = self._index.locate(num, key)
            if found is None:
                return
            key, ts = found
        self._index.remove(key, ts, num)

    def reindexTracks(self):
        # Check every track before the indexes are cleared, so that a
        # track they cannot hold does not leave them half rebuilt. The
        # tracks are read twice rather than their entries kept in memory.
        kinds = {}
        count = 0
        for num, track in self._tracks.items():
            try:
                self._coreOf(track)
                self._extraValues(track, kinds=kinds)
            except ValidationError as error:
                raise _aboutTrack(self.idFromNum(num), error) from None
            count += 1
        self._index.clear()
        for index in self._fields.values():
            index.clear()
        for num, track in self._tracks.items():
            key, ts = self._coreOf(track)
            self._setCore(track, key, ts)
            self._index.insert(key, ts, num)
            for index, value in self._extraValues(track):
                if value is not None:
                    index.index(num, value)
        if len(self) != count:
            self._count.change(count - len(self))

    # reading

    def getUserTracks(self, taskId, runId, userName):
        key = self._userKey(taskId, runId, userName)
        if key is None:
            return []
        return [self._tracks[num] for num in self._index.nums(key)]

    def getLastUserTrack(self, taskId, runId, userName):
        key = self._userKey(taskId, runId, userName)
        num = None if key is None else self._index.last(key)
        return None if num is None else self._tracks[num]

    def _userKey(self, taskId, runId, userName):
        taskId = check_name('taskId', taskId)
        userName = check_name('userName', userName)
        runId = check_run_id(runId) or self.currentRuns.get(taskId)
        return None if runId is None else (taskId, runId, userName)

    def getUserNames(self, taskId):
        return self._index.userNames(check_name('taskId', taskId))

    def getTaskIds(self):
        return self._index.taskIds()

    def query(self, **criteria):
        dims, fields, times = {}, {}, None
        timeFrom = timeTo = None
        for name, value in criteria.items():
            if name in DIMENSIONS:
                dims[name] = _queryValues(name, value)
            elif name == 'timeStamp':
                times = set(_queryValues(name, value))
            elif name == 'timeFrom':
                timeFrom = _later(timeFrom, value, name)
            elif name == 'timeTo':
                timeTo = _earlier(timeTo, value, name)
            elif name == 'timeFromTo':
                if not isinstance(value, (list, tuple)) or len(value) != 2:
                    raise InvalidTypeError('timeFromTo must be a pair (from, '
                                           'to), got %s' % shorten(value))
                timeFrom = _later(timeFrom, value[0], name)
                timeTo = _earlier(timeTo, value[1], name)
            elif name in self._fields:
                fields[name] = _queryValues(name, value)
        limit = criteria.get('limit')
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool):
                raise InvalidTypeError('limit must be a non-negative int, '
                                       'got %s' % shorten(limit))
            if limit < 0:
                raise InvalidValueError('limit must be a non-negative int, '
                                        'got %s' % shorten(limit))
        timeRange = timeFrom is not None or timeTo is not None
        if not (dims or fields or times or timeRange):
            return []
        if times:
            lo, hi = min(times), max(times)
            timeFrom = lo if timeFrom is None else max(lo, timeFrom)
            timeTo = hi if timeTo is None else min(hi, timeTo)
        if timeFrom is not None and timeTo is not None and timeFrom > timeTo:
            return []
        if dims or times or timeRange:
            pairs = self._index.select(dims, timeFrom, timeTo)
            if times:
                pairs = [p for p in pairs if p[0] in times]
            nums = LLTreeSet(num for ts, num in pairs)
        else:
            pairs, nums = None, None
        for name, values in fields.items():
            found = self._fields[name].apply(values)
            nums = found if nums is None else ll_intersection(nums, found)
        if criteria.get('newestFirst'):
            if pairs is None or fields:
                pairs = [(self._tracks[num].timeStamp, num) for num in nums]
            result = [num for ts, num in sorted(pairs, reverse=True)]
        else:
            result = nums
        if limit is not None:
            result = list(result)[:limit]
        return [self._tracks[num] for num in result]


def _queryValues(name, value):
    """A query value as a list of checked exact values and Prefix
    objects."""
    values = list(value) if isinstance(value, (list, tuple, set)) else [value]
    result = []
    for v in values:
        if name == 'runId':
            result.append(check_run_id(v, name))
        elif name == 'timeStamp':
            result.append(check_timestamp(v, name))
        elif isinstance(v, str) and v.endswith('*'):
            result.append(Prefix(check_name(name, v)[:-1]))
        elif name in DIMENSIONS:
            result.append(check_name(name, v))
        else:
            check_index_value(name, v)
            result.append(v)
    return result


def _later(current, value, name):
    if value is None:
        return current
    value = check_timestamp(value, name)
    return value if current is None else max(current, value)


def _earlier(current, value, name):
    if value is None:
        return current
    value = check_timestamp(value, name)
    return value if current is None else min(current, value)


def _aboutTrack(trackId, error):
    """``error`` (a ValidationError) again, saying which track it is about."""
    return type(error)('track %s: %s' % (trackId, error))

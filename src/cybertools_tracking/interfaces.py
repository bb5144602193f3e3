"""The contracts of the tracking storage.

Every public method is described here once; the implementations in
``track.py`` and ``storage.py`` point back to these descriptions.

Vocabulary:

track
    One record of something a user (or device) did in a task: the task id,
    the run it belongs to, the user name, a timestamp and a mapping of data.
run
    A numbered series of tracks of one task, roughly a session. Every task
    has at most one *current* run; saving with run id 0 uses (or starts) it.
id / num
    Tracks are stored under integer numbers and shown as ``'%07i'`` strings
    (``'0000001'``). Both forms are accepted wherever a track is looked up.

Bad arguments: every method that writes checks all its arguments (and
works out everything it will write) before it writes anything. A refused
call raises ``validation.InvalidTypeError`` (a TypeError) or
``validation.InvalidValueError`` (a ValueError), both ``ValidationError``,
naming the argument, the value and what was expected, and leaves the
storage exactly as it was. The rules (``validation`` has the details):

- task ids and user names are strings that UTF-8 can encode (no lone
  surrogates); those a write gives a track or run (saveUserTrack,
  startRun, setting a stored track's taskId or userName) are moreover
  not empty and hold no ``*`` (a query's prefix mark) and no control
  character (U+0000 to U+001F, U+007F);
- timestamps are ints, floats (rounded down to the second) or datetimes
  of the years 1 to 9999 (well inside 64-bit keys, and every date
  function can show them);
- run ids are ints from 0 to 2**63 - 1 (64-bit BTree keys);
- data is a mapping of None, bools, numbers, strings, bytes, dates,
  times, datetimes, timedeltas, and lists, tuples and dicts of these,
  nested at most 100 levels (``validation.MAX_DEPTH``);
- a value of an extra index is a string or a number but not NaN, of the
  kind the index already holds.
"""

from zope.interface import Attribute, Interface


class IRun(Interface):
    """A numbered series of tracks of one task, sort of a session."""

    id = Attribute('The run number, unique within its storage.')
    taskId = Attribute('The task the run belongs to, or None for a run '
                       'started without a task.')
    start = Attribute('Timestamp of the run\'s creation.')
    end = Attribute('The latest of: the start, the timestamps of the tracks '
                    'saved into the run, and the time the run was stopped.')
    finished = Attribute('True once the run was stopped with finish=True.')


class ITrack(Interface):
    """What a user did in a task at a time, with arbitrary data."""

    taskId = Attribute('The task id (a string).')
    runId = Attribute('The number of the run the track belongs to.')
    userName = Attribute('The user or device name (a string).')
    timeStamp = Attribute('Whole seconds since the epoch (an int).')
    data = Attribute(
        'The track\'s data, a mapping owned by the track: what was passed '
        'in is copied, never kept. It is read-only, nested dicts and lists '
        'too: a change in place (``track.data["k"] = v``) raises '
        'readonly.ReadOnlyDataError, a TypeError, because ZODB would not '
        'store it. Change data with ``track.update(newData)``, the '
        'storage\'s ``updateTrack`` or ``setTrackData``, or by assigning '
        '``track.data = newData`` (for a stored track, that is '
        '``setTrackData``). The views are dict and list subclasses that '
        'compare, print and serialize as dicts and lists; ``dict(data)`` is '
        'a plain shallow copy, ``copy.deepcopy(data)`` a plain deep one. '
        'The same holds for a track not (yet) in a storage, whose '
        '``update`` and assignment change it directly.')
    metadata = Attribute('A new dict of the metadata attributes '
                         '(taskId, runId, userName, timeStamp).')
    indexdata = Attribute('A new dict of the values to be indexed, one per '
                          'name in ``index_attributes``; a value missing from '
                          'the track and its data is None.')
    index_attributes = Attribute('The names of the indexed values: the '
                                 'metadata names plus any extra ones a '
                                 'subclass declares. Extra values are taken '
                                 'from the track\'s attribute of that name, '
                                 'else from its data.')
    __parent__ = Attribute('The storage holding the track, or None.')
    __name__ = Attribute('The track\'s id in its storage, or None.')

    def update(newData, overwrite=False):
        """Merge ``newData`` into the data (or replace it with
        ``overwrite``) and set the timestamp to now.

        A track that lives in a storage delegates to the storage's
        ``updateTrack`` so that its index entries follow.
        """

    def mergedData(newData, overwrite=False):
        """Return the data ``update(newData, overwrite)`` would store: a
        new plain dict, checked like all data (a ValidationError if
        ``newData`` cannot be stored), or None if the update would change
        nothing. Changes nothing itself; storages use it to check a change
        before they write."""

    def indexValue(attr, data=None):
        """Return the value indexed for ``attr``: the track's attribute of
        that name, else the data's value (``data``'s, if given), else
        None."""


class ITrackingStorage(Interface):
    """A container of tracks and runs with indexes on their metadata.

    Besides the methods below it is a read-only mapping of track ids to
    tracks (``len``, ``in``, ``[]``, ``get``, iteration, ``keys``,
    ``values`` and ``items`` in id order) whose ``del st[id]`` removes a
    track with its index entries.

    The tracks it hands out are views of rows kept inside bigger records
    (one ``trackFactory`` object per track, handed out again, also in
    later transactions, while its row is unchanged): an attribute
    assigned to one (or deleted) is stored at once; metadata set so stays
    unindexed until ``indexTrack`` or ``reindexTracks``; a view of a
    removed track refuses changes with a KeyError.
    """

    trackFactory = Attribute('The class used for new tracks: ``Track`` or a '
                             'subclass, possibly with extra index attributes.')

    goals = Attribute('The goals evaluated as new tracks are saved, in the '
                      'same transaction: ``IStorageGoals(storage)``. See '
                      'doctests/goals-and-tracks.txt.')
    lastGoalOutcome = Attribute('``goals.lastOutcome``: what the last new '
                                'track saved through this storage object in '
                                'the current transaction did to goals.')
    events = Attribute('The outbox (an ``IEventOutbox``): goal events, and '
                       'new tracks if asked for, stored in the transaction '
                       'that caused them and read in commit order from any '
                       'process. See doctests/web.txt.')
    rowEncoding = Attribute(
        "How rows are written: 'marshal', or 'pickle' for a storage made "
        "before marshal rows until ``cybertools-tracking upgrade`` switches "
        "it (processes of earlier versions read only pickles); None for a "
        "storage of the layout before rows.")

    def addTrackObserver(observer):
        """Call ``observer.trackAdded(storage, track)`` (an
        ``ITrackObserver``, persistent) for every new track from now on.
        The observer is stored with the storage, in the current
        transaction."""

    def removeTrackObserver(observer):
        """Stop calling ``observer``; a ValueError if it is not there."""

    def trackObservers():
        """Return the observers, a tuple, in the order they were added."""

    def idFromNum(num):
        """Return the id string for the track number ``num`` (``'%07i'``)."""

    # runs

    def startRun(taskId=None, current=True):
        """Create a new run and return its number.

        With a ``taskId`` the new run becomes the task's current run,
        replacing the previous one (which stays available by number).
        With ``current=False`` it is a run of the task that does not
        become current: the task's current run, or its having none, stays
        as it was (``import`` makes an exported run so where the task has
        a current run already). A run without a task is no task's current
        run, whatever ``current`` says (``import`` refuses a run line of
        no task marked current). A new run ends at its start; its end
        only moves later (``IRun.end``).
        """

    def stopRun(taskId=None, runId=0, finish=True):
        """Stop a run and return its number, or 0 if there is no such run.

        With ``runId`` 0 the task's current run is meant. The run stops
        being its task's current run (also when named by number alone,
        which loops left current). The run's ``end`` becomes now (if
        later) and ``finished`` the value of ``finish``. A run of another
        task than ``taskId`` is stopped all the same (loops' rule, which
        its own doctests show).
        """

    def getRun(taskId=None, runId=0):
        """Return a run, or None.

        ``getRun(3)`` and ``getRun(runId=3)`` return run 3;
        ``getRun('a001')`` and ``getRun(taskId='a001')`` return the current
        run of task a001. The first positional argument is taken as a run
        number when it is an int and as a task id when it is a string.
        """

    def getRuns(taskId=None, finished=None):
        """Return the runs (of one task, if given) in number order;
        ``finished=True`` or ``False`` keeps only finished or unfinished
        ones."""

    def getCurrentRuns():
        """Return a dict of task id to the number of its current run."""

    currentRuns = Attribute('The mapping behind ``getCurrentRuns`` (task id '
                            '-> run number), as loops reads it.')
    runs = Attribute('loops\' name: a read-only mapping of run number to '
                     'Run, of the unfinished runs, in number order.')
    finishedRuns = Attribute('loops\' name: the same of the finished runs.')

    # writing

    def saveUserTrack(taskId, runId, userName, data, update=False,
                      timeStamp=None, overwrite=False, replace=False,
                      eventId=None):
        """Save a track and return its id.

        ``runId`` 0 means the task's current run, which is started if the
        task has none. A run number that does not exist, or belongs to
        another task, is a ValueError.

        With ``update`` the last track of (taskId, runId, userName) is
        updated instead of creating a new one, if there is one: its data is
        merged with ``data`` (``overwrite`` replaces it) and it gets the new
        timestamp. ``replace=True`` is the loops spelling of
        ``update=True, overwrite=True``.

        ``timeStamp`` defaults to now. ``data`` must be a mapping; it is
        copied (see "Bad arguments" above for what it may hold). A bad
        argument, or data an extra index cannot hold, raises a
        ValidationError, and nothing is stored.

        ``eventId`` (optional, a non-empty string the caller chooses, e.g.
        an xAPI statement id) makes the save idempotent (xAPI's rule): if a
        track was saved with that id and the same content (taskId,
        userName, data, and a timeStamp that is either not given or the
        second the first save stored, given or not; not the run), nothing
        is stored, no observer is told (no goal progress), and that
        track's id is returned; with other content an
        ``EventIdConflictError`` (a ValueError) names the track and each
        field that differs, with both values. An event id names a new track, so
        it cannot be combined with ``update`` or ``replace`` (ValueError).
        See ``IEventIdIndex``.
        """

    def getTrackByEventId(eventId):
        """The track saved with ``eventId``, or None (also after the track
        was removed: its id is forgotten with it)."""

    def getEventId(track):
        """The event id a stored track (object or id) was saved with, or
        None. KeyError for a track not stored here."""

    def updateTrack(track, data, overwrite=False, timeStamp=None):
        """Merge ``data`` into a stored track's data (or replace it with
        ``overwrite``), set its timestamp (default now), reindex it and
        return its id. Merging empty data changes nothing."""

    def setTrackData(track, data):
        """Replace a stored track's data, keeping its timestamp; reindex
        it and return its id."""

    def removeTrack(track):
        """Remove a track (given as object or id) and its index entries.

        A task (or a user of a task) with no tracks left is no longer
        listed by getTaskIds (or getUserNames). Unknown tracks are a
        KeyError.
        """

    def indexTrack(num, track, idx=None):
        """Index a stored track again: every index, or only ``idx``.

        For a track whose attributes were changed behind the index's back.
        ``num`` may be 0 or None, then it is taken from the track's id; a
        number under which ``track`` is not stored is a KeyError. An
        unknown index name is a ValueError. Values the indexes cannot hold
        are a ValidationError naming the track, and nothing is changed. A
        float timestamp becomes whole seconds, on the track too, and the
        track's run ends no earlier than the track.
        """

    def reindexTracks():
        """Rebuild every index from the stored tracks.

        Every track is checked before the indexes are cleared: one they
        cannot hold is a ValidationError naming the track, and the indexes
        stay as they were.
        """

    # reading

    def getUserTracks(taskId, runId, userName):
        """Return the tracks of a user in a task's run, in id order.
        ``runId`` 0 means the task's current run."""

    def getLastUserTrack(taskId, runId, userName):
        """Return the user's last track in a task's run, or None.

        Last means the highest timestamp; among tracks of the same second
        the one saved later. ``runId`` 0 means the task's current run.
        Costs O(log n): no other track is loaded.
        """

    def getUserNames(taskId):
        """Return the sorted names of the users with tracks in the task.

        Reading methods check their arguments as writing ones do: a task
        id that is not a string is a TypeError naming ``taskId``.
        """

    def getTaskIds():
        """Return the sorted ids of the tasks that have tracks."""

    def query(**criteria):
        """Return the tracks that meet every criterion, as a list.

        Criteria name an index (``taskId``, ``runId``, ``userName``,
        ``timeStamp`` or an extra index of the track factory). A value may be

        - a single value (exact match),
        - a list or tuple of values (any of them),
        - for string indexes, a string ending in ``*`` (a prefix match).

        ``timeFrom``, ``timeTo`` and ``timeFromTo=(from, to)`` select an
        inclusive time range (None leaves a side open).  A range whose
        start is after its end, and a ``*`` that is not the last
        character (taken as a character of the name), find nothing: the
        result is ``[]``, as in loops.  The command line and HTTP refuse
        them (``query.check_time_range``, ``query.check_pattern``).

        ``limit=n`` returns at most n tracks; ``newestFirst=True`` orders
        by timestamp (then id) descending instead of by id ascending, and
        ``limit`` then keeps the newest.

        Any other name is an InvalidValueError (``UnknownCriterionError``,
        a ValueError and a ValidationError) naming it, the known names
        closest to it (``user``: "did you mean 'userName'?") and all
        the known ones, raised before
        anything is read; a name the track class declares but that has
        no index yet names ``setupIndexes()``. (loops' storage ignored
        unknown names; the class under its name,
        ``cybertools.tracking.btree.TrackingStorage``, still does, and so
        does any storage with ``ignoreUnknownCriteria = True``.)
        With no criteria at all the result is an empty list. Values that
        could not be stored (a lone surrogate, NaN for an extra index, a
        time outside the years 1 to 9999) are a ValidationError.
        """

    def queryRecords(**criteria):
        """``query(**criteria)`` as an iterator of ``TrackRecord`` tuples
        ``(trackId, taskId, runId, userName, timeStamp, data)``, one per
        track, in the same order: what the track's attributes say,
        ``data`` being the read-only view ``track.data`` gives.

        For readers of many tracks that only look at them (a goal
        backfill): the usual criteria (metadata, time range, id order)
        are answered from the stored rows, without making a track object
        for each and without keeping a record longer than the reader
        does. The tracks are found when it is called (the same
        ValidationErrors as ``query``, raised then); each record is made
        when the iterator gets to it, from the track as it was found
        (the iterator belongs to the transaction it was made in). A
        record is a tuple: it cannot be changed, and is not kept up to
        date.
        """


class IEventIdIndex(Interface):
    """The unique index of event ids of a storage (see ``eventids``).

    Maps event id -> (track number, digest of the content sent) and track
    number -> event id, laid out so that concurrent writers adding
    different ids do not conflict.
    """

    def find(eventId):
        """The number of the track saved with ``eventId``, or None."""

    def match(eventId, content, describe):
        """None if ``eventId`` is new; the number of its track if it was
        saved with the same ``content`` (an ``eventids.EventContent``:
        taskId, userName and data equal, and the time equal to the one
        first stored unless ``content`` was given none); else raise the
        error ``describe(num, first_time, fields_same)`` returns
        (``first_time``: the time first stored, or None if unknown;
        ``fields_same``: taskId, userName and data are those first sent,
        only the time differs). Writes nothing."""

    def add(eventId, num, content):
        """Record that track ``num`` was saved with ``eventId`` and
        ``content`` (an ``eventids.EventContent``)."""

    def eventIdOf(num):
        """The event id of track ``num``, or None."""

    def discard(num):
        """Forget the event id of track ``num`` (removed); return it or
        None."""

    def check(has_track, limit=100):
        """A list of problems (sentences, at most ``limit``): entries whose
        track is gone (``has_track(num)`` is false), or whose two
        directions disagree. Empty when consistent."""

class ITrackStore(Interface):
    """The tracks of a storage as rows, filed by combination and second.

    A combination ``key`` is (taskId, runId, userName); ``ts`` a second
    (an int, UTC); a row ``(num, data, extras)`` (see ``rows``). Callers
    check every value before they call a method that writes.
    """

    rowEncoding = Attribute(
        "'marshal' or 'pickle': how row groups are written (see ``rows``);"
        " stores made before marshal rows write pickles until "
        "``useMarshal``.")

    def useMarshal():
        """Write row groups with marshal from now on; return whether that
        changed anything (False if it did so already). Processes of
        versions before marshal rows cannot read the rows written then:
        called by the ``upgrade`` command, once every process has the
        new version."""

    def add(key, ts, num, data, extras=None):
        """File a new row for track ``num`` under ``key`` at ``ts``."""

    def find(num):
        """(key, ts, row) of track ``num``, or None."""

    def rewrite(key, ts, num, data, extras):
        """Replace the row of track ``num``, filed under key and ts."""

    def take(key, ts, num):
        """Remove the row of track ``num``, filed under key and ts."""

    def last(key):
        """(ts, row) of the combination's last track (the latest second,
        then the highest number), or None."""

    def groups(key, timeFrom=None, timeTo=None):
        """Iterate (ts, rows) of the combination within the inclusive
        range, rows in number order."""

    def stored(key, timeFrom=None, timeTo=None):
        """Iterate (ts, stored value) of the combination's row groups
        within the inclusive range, not decoded (``rows.numbers_of`` and
        ``rows.unpack_once`` decode them): for readers of many groups."""

    def everything():
        """Iterate (key, ts, rows) of every row group."""

    def numbers():
        """Iterate the numbers of all tracks, ascending."""

    def timePairs(timeFrom=None, timeTo=None):
        """(ts, num) of every track filed within the inclusive range."""

    def combinations(criteria):
        """Iterate the keys matching ``criteria`` (dimension name -> list
        of exact values or ``index.Prefix`` objects)."""

    def taskIds():
        """The task ids that have tracks, sorted."""

    def runStarted(taskId, runId):
        """Run ``runId`` of ``taskId`` has started (in this transaction):
        prepare what its first tracks will be listed in, so that writers
        saving them at once need not conflict. Changes no answer."""

    def userNames(taskId):
        """The user names with tracks in the task, sorted."""

    def check(problem):
        """Call ``problem(text, *args)`` for every disagreement between
        the parts; return {num: (key, ts, row)} of the rows found."""


class IIdAllocator(Interface):
    """Hands out track numbers."""

    def allocate():
        """Return a new track number, larger than every number handed out
        before in this database."""


class ITrackObserver(Interface):
    """Kept by a storage and told of every new track (the goal layer's hook).

    An observer is persistent and stored with the storage, so a storage
    loaded in any process tells the same observers.
    """

    def trackAdded(storage, track):
        """``track`` was just saved in ``storage`` as a new track.

        Called inside ``saveUserTrack``, after the track is stored and
        indexed, in the same transaction; whatever the observer changes
        commits or aborts with the track. Update-saves and removals are
        not reported. An error propagates to the caller of
        ``saveUserTrack`` and dooms the transaction (it can only be
        aborted), since the track and part of the observer's changes are
        written by then.
        """


class IStorageGoals(Interface):
    """The goals of a tracking storage: ``storage.goals``.

    Everything a goal ``ITrackingManager`` offers (add, get, reset, remove
    trackers; listeners) works here on *groups*: a track is evaluated
    against the group named like its user. *Task templates* add a goal to
    every user of a task: each user gets a copy of their own, in the group
    ``task_group(taskId, userName)``, with their first track in the task
    after the template was added. A track counts once, when it is created.

    A tracker sees each track as the dict ``{taskId, runId, userName,
    timeStamp, data}`` (``tracked_goals.track_item``), whether the track
    is being saved or is read back by a backfill: every path a tracker
    names (a condition's key, an accumulation's key, a limiter's weight
    key) starts there, so a key of the track's data is ``data.<key>``
    (``KeyExists('data.page')``).  Adding, redefining or backfilling a
    tracker (or adding a template) with a path that starts anywhere else
    raises ValueError naming the path meant, and changes nothing.

    State and lifetime:

    - the registry and templates are persistent, kept with the storage and
      created by the first goal added (a read never writes);
    - changes go to the current transaction of the storage's connection
      (``transaction_manager``; the thread's ``transaction.manager`` for a
      storage not in a database), whichever manager opened it;
    - listeners belong to the stored storage in this process: every
      connection of the database (every thread) hears them; adding one is
      not undone by an abort;
    - immediate listeners and ``zope.event`` subscribers are called once per
      attempt (a retried transaction calls them again); after-commit
      listeners once per committed event, never for aborted or rolled-back
      work. Anything with outside effects belongs in an after-commit
      listener.
    """

    lastOutcome = Attribute(
        'A GoalOutcome(dirtied, completed, limited) of the last new track '
        'saved through this storage in the current transaction; empty after '
        'an abort, in a new transaction, or when no goal changed.')

    def add_task_goal(taskId, tracker, backfill=False):
        """Make ``tracker`` a template of task ``taskId``.

        The template is never evaluated itself. A TypeError for a taskId
        that is not a string or a tracker that is not an ``ITracker``; a
        ValueError if the task has a template of that name. With
        ``backfill`` every user with tracks in the task gets a copy now,
        fed their tracks in the task; returns the number of tracks
        evaluated.
        """

    def remove_task_goal(taskId, name):
        """Remove a template (the users' copies stay); return it or None."""

    def task_goals(taskId):
        """The templates of a task, in the order they were added."""

    def user_task_goals(taskId, userName, include_completed=False):
        """A user's copies of a task's templates."""

    def evaluate(track):
        """Feed ``track`` to its user's group and task copies (copying
        missing templates first) and return a GoalOutcome. The storage does
        this for every new track; call it only for tracks it did not see.
        """

    # issue 12: goals over the stored tracks (see doctests/goals-backfill.txt)

    def add_tracker(group_id, tracker, expire=None, expire_at=None,
                    now_ts=None, backfill=False):
        """``ITrackingManager.add_tracker``; with ``backfill`` the tracker
        is then fed the group's stored tracks (the user's), in the order
        they were saved, in the same transaction, reading only those the
        tracker's conditions on ``taskId``, ``userName``, ``runId`` and
        ``timeStamp`` allow; returns the number of tracks evaluated. Every
        check runs before the first write."""

    def add_trackers(group_id, trackers, expire=None, expire_at=None,
                     now_ts=None, backfill=False):
        """Several trackers, as ``add_tracker``; the sum of the tracks
        evaluated."""

    def redefine(group_id, tracker, policy='keep', now_ts=None):
        """``IRedefiningManager.redefine``, and ``policy='recompute'``:
        restart the tracker and feed it the stored tracks, as a backfill.
        """

    def start_backfill(group_id, tracker, expire=None, expire_at=None,
                       now_ts=None, batch_size=10000):
        """Begin a backfill in batches (see ``backfills.py`` and
        doctests/goals-backfill.txt): add ``tracker`` to the group (it
        counts new tracks from this transaction's commit on) and keep the
        ids of the stored tracks it may count, as this transaction sees
        them, in batches of ``batch_size``, in a ``BackfillJob``, which
        is returned. Nothing is fed to the tracker yet: each
        ``continue_backfill`` does one batch. The checks of
        ``add_tracker``, a ValueError for a ``batch_size`` that is not an
        int of at least 1 or an unfinished backfill of the same group and
        tracker name, all before the first write."""

    def continue_backfill(group_id, name):
        """Feed the next batch of the backfill of tracker ``name`` of
        ``group_id`` to it, and move the job on, in the current
        transaction: the batch counts exactly when it commits (an aborted
        or failed batch is done again by the next call, never twice).
        Returns the number of tracks evaluated; 0 once the job is
        finished (all batches done, or the tracker completed, expired or
        was removed). KeyError if there is no such job."""

    def backfill_jobs(include_finished=False):
        """The ``BackfillJob`` objects of the storage (unfinished ones
        only unless ``include_finished``), by (group, tracker name)."""

    def start_task_backfill(taskId, tracker, batch_size=10000):
        """``add_task_goal(taskId, tracker, backfill=True)`` in batches:
        make ``tracker`` a template of the task, give every user of the
        task a copy (live from this transaction's commit on, as with
        ``start_backfill``), and keep the ids of the task's stored tracks
        those copies may count, as this transaction sees them, by user
        and then in id order (so a batch holds few users' tracks, and
        each copy gets its user's in the order saved), in batches of
        ``batch_size``, in a
        ``TaskBackfillJob``, which is returned; nothing is fed yet. The
        checks of ``add_task_goal``, a ValueError for a ``batch_size``
        that is not an int of at least 1 or an unfinished backfill of the
        same task and name, all before the first write."""

    def continue_task_backfill(taskId, name):
        """Feed the next batch of the template backfill of ``name`` of
        task ``taskId``, each track to its user's copy, and move the job
        on, in the current transaction (counted exactly when it commits,
        as ``continue_backfill``). Returns the number of tracks
        evaluated; 0 once the job is finished. KeyError if there is no
        such job."""

    def task_backfill_jobs(include_finished=False):
        """The ``TaskBackfillJob`` objects of the storage (unfinished
        ones only unless ``include_finished``), by (task, name)."""

class IBackfillJob(Interface):
    """A batched backfill of one tracker of one group (``backfills.py``):
    the ids of the stored tracks it is to be fed, fixed when it started,
    in batches, and how far it got. Written only by its own batches
    (and ``rebatch``)."""

    group_id = Attribute('The group the tracker was added to.')
    name = Attribute('The tracker\'s name.')
    tracker = Attribute('The tracker.')
    total = Attribute('Tracks to read, in all.')
    batches = Attribute('Batches, of at most ``batch_size`` tracks.')
    batch_size = Attribute('Tracks per batch (per transaction).')
    next_batch = Attribute('The first batch not done (``batches`` when '
                           'every one is).')
    done = Attribute('Tracks read so far (removed ones are skipped and '
                     'count as read).')
    evaluated = Attribute('Tracks offered to the tracker so far (fewer '
                          'than ``done`` once it completed or expired).')
    started = Attribute('When it started: seconds since the epoch, UTC.')
    updated = Attribute('When its last batch ran: seconds, UTC.')
    finished = Attribute('True once nothing is left to do.')

    def batch_ids(n):
        """The track numbers (ints) of batch ``n``, in id order."""

    def rebatch(batch_size):
        """Cut the batches not done yet again, into batches of at most
        ``batch_size`` tracks (an int of at least 1, else ValueError), in
        the same order; those done stay as they were.  ``batch_size`` and
        ``batches`` change; ``next_batch``, ``done`` and ``total`` do not.
        In the caller's transaction (one that runs a batch of the same
        job at the same time conflicts, and is retried).  Returns the
        number of batches left; a finished job is left as it is."""


class ITaskBackfillJob(IBackfillJob):
    """A batched backfill of a task template (``backfills.py``): the ids
    of the task's stored tracks, across its users, each fed to the copy
    its user got when the job started. ``group_id`` is None, ``tracker``
    is the template; ``evaluated`` adds up over the copies."""

    taskId = Attribute('The task whose template it backfills.')
    copies = Attribute('userName -> the copy it feeds (a mapping); None '
                       'once finished.')
    users = Attribute('How many copies it was started with.')


class IEventOutbox(Interface):
    """Events kept in the database with the change that caused them.

    ``storage.events``. Goal events (tracker added, stage completed, all
    completed, reset, limited: dictrack's five, as ``goal.*`` types) are
    appended by the goal glue; with the outbox added as a track observer
    (``storage.addTrackObserver(storage.events)``) every new track is a
    ``track.saved`` event too.

    Positions are ints that grow in commit order across every process of
    the database, with gaps; 0 means "before everything". A reader keeps
    the last position it saw and asks ``since`` it: it never misses an
    event committed later, and never sees one twice. Concurrent writers do
    not conflict here (each has a segment of its own).
    """

    max_age = Attribute('Seconds an event is kept by ``prune`` (default '
                        'seven days); a stored setting.')

    def append(type, data, timestamp=None):
        """Add an event of ``type`` (a non-empty string) with ``data`` (a
        dict of JSON values, copied) in the current transaction; it gets
        its position when that commits. ``timestamp``: seconds since the
        epoch, default now. TypeError or ValueError (naming the value)
        before anything is written."""

    def since(position=0, limit=1000):
        """Up to ``limit`` (1 to 100,000) committed events after
        ``position``, oldest first, as ``OutboxEvent(position, type,
        timestamp, data)`` tuples with read-only data; events of the
        current, uncommitted transaction are not included. ValueError for
        a negative position or a limit out of range."""

    def last_position():
        """The position of the newest committed event, 0 if none: where
        a reader that wants only new events starts."""

    def cursor(name):
        """The position a named reader (a forwarder) stored with
        ``set_cursor``; 0 if none."""

    def set_cursor(name, position):
        """Store the position the reader ``name`` got to, in the current
        transaction (readers of different names do not conflict)."""

    def prune(max_age=None, now=None):
        """Drop the events committed more than ``max_age`` seconds
        (default ``self.max_age``) before ``now`` (default the clock), in
        the current transaction; return how many were dropped."""

    def forget(groups=(), users=(), limit=None):
        """Erasure: drop the committed events of the goal ``groups`` (goal
        events whose ``group_id`` is one of them) and of the ``users``
        (``track.saved`` events whose ``userName`` is one of them), at
        most ``limit`` (None: all) in the current transaction; return how
        many were dropped (fewer than ``limit``: none are left). Every
        event is read (segments are per writer); the others keep their
        positions. ValueError for a limit below 1."""

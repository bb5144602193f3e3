"""Queries: criteria -> plan -> results.

``plan(criteria, fieldNames)`` checks the keyword criteria of
``TrackingStorage.query`` (see ITrackingStorage.query) and turns them into
a ``Plan``; ``execute(plan, storage)`` answers it from the storage's
parts: the combinations and their trees for metadata (see ``store``), the
time map for time alone, the field indexes for extra attributes. Results
are in id order, or newest first (by second, then id) with
``newestFirst``; ``limit`` keeps the first ones.

``records(plan, storage)`` answers the same plan with ``TrackRecord``
tuples instead of tracks: what a reader that only looks at the tracks
(a goal backfill) needs, read from the rows without making a view (a
``Track`` object) of each.
"""

from collections import namedtuple
from operator import attrgetter

from BTrees.LLBTree import LLTreeSet
from BTrees.LLBTree import intersection as ll_intersection

from cybertools_tracking.index import Prefix
from cybertools_tracking.readonly import ReadOnlyDict, read_only
from cybertools_tracking.rows import numbers_of, unpack, unpack_once
from cybertools_tracking.store import DIMENSIONS
from cybertools_tracking.validation import InvalidTypeError
from cybertools_tracking.validation import InvalidValueError
from cybertools_tracking.validation import check_index_value, check_name
from cybertools_tracking.validation import check_run_id, check_timestamp
from cybertools_tracking.validation import guessed, shorten

__all__ = ['Plan', 'plan', 'execute', 'records', 'TrackRecord',
           'with_current_runs',
           'UnknownCriterionError', 'check_pattern', 'check_time_range']


class UnknownCriterionError(InvalidValueError):
    """A query criterion that is neither one of ``CRITERIA`` nor an
    extra index.  ``unknown``: the names, sorted; ``extras``: the extra
    indexes there are, sorted; ``pending``: those of ``unknown`` that the
    track class declares but that have no index yet.  A front end (HTTP)
    words it with the names it takes itself."""

    def __init__(self, message, unknown, extras, pending):
        super().__init__(message)
        self.unknown = list(unknown)
        self.extras = list(extras)
        self.pending = list(pending)


def check_pattern(name, value):
    """Refuse a ``*`` that is not the last character of the string
    ``value`` (a ``taskId`` or ``userName`` to query): only a trailing
    ``*`` makes a prefix (``'ann*'``); elsewhere it would be taken as a
    character of the name and find nothing.  ``InvalidValueError``
    naming ``name`` (an option or parameter).  The command line and
    HTTP refuse it; ``query()`` itself takes such a value as a name, as
    loops' storage did, and finds nothing."""
    if '*' in value[:-1]:
        before = value.split('*', 1)[0]     # the prefix meant, if any
        raise InvalidValueError(
            '%s %r: only a trailing * makes a prefix%s; a * at the start '
            'or inside a value is not a pattern'
            % (name, value, ' (%r)' % (before + '*') if before else ''))


def check_time_range(timeFrom, timeTo, names=('timeFrom', 'timeTo'),
                     shown=None):
    """Refuse ``timeFrom`` later than ``timeTo`` (seconds, UTC, either
    None): no time is in that range.  ``names``: how the caller calls
    the two, ``shown``: how to show them (default: the seconds).
    ``InvalidValueError``.  The command line and HTTP refuse it;
    ``query()`` answers it with no tracks, as loops' storage did."""
    if timeFrom is None or timeTo is None or timeFrom <= timeTo:
        return
    shown = shown or (timeFrom, timeTo)
    raise InvalidValueError(
        '%s %s is after %s %s: no time is in that range; give the earlier '
        'time to %s' % (names[0], shown[0], names[1], shown[1], names[0]))


class Plan:
    """Checked criteria: ``dims`` (dimension -> values), ``fields``
    (extra index -> values), ``times`` (a set of seconds or None), the
    inclusive range ``timeFrom``..``timeTo`` (either None), ``limit``,
    ``newestFirst``; ``empty`` when nothing can match."""

    def __init__(self):
        self.dims, self.fields, self.times = {}, {}, None
        self.timeFrom = self.timeTo = self.limit = None
        self.newestFirst = False
        self.empty = False


# The names ``plan`` takes besides the extra indexes of a storage.
CRITERIA = DIMENSIONS + ('timeStamp', 'timeFrom', 'timeTo', 'timeFromTo',
                         'newestFirst', 'limit')


def plan(criteria, fieldNames, declared=None, ignoreUnknown=False):
    """The Plan of ``criteria``; raises a ValidationError naming a bad
    criterion.

    ``fieldNames``: the extra indexes there are; ``declared``: a
    function returning those the track class declares (called only for
    the message; default: ``fieldNames``). A name that is
    neither one of ``CRITERIA`` nor an extra index is an
    InvalidValueError (a ValueError) naming it and the known ones,
    raised before anything is read: taken as a criterion nothing meets,
    a misspelt name (``user`` for ``userName``) would answer "no tracks"
    instead of the caller's mistake (``UnknownCriterionError``, with the
    names). ``ignoreUnknown`` skips such names
    instead, as loops' storage did (its repair scripts pass their loop
    options, ``step`` or ``stop``, along with the criteria)."""
    if not ignoreUnknown:
        unknown = [name for name in criteria
                   if name not in CRITERIA and name not in fieldNames]
        if unknown:
            declared = fieldNames if declared is None else declared()
            raise UnknownCriterionError(
                _unknownMessage(sorted(unknown), fieldNames, declared),
                sorted(unknown), sorted(fieldNames),
                [name for name in sorted(unknown) if name in declared])
    result = Plan()
    for name, value in criteria.items():
        if name in DIMENSIONS:
            result.dims[name] = _queryValues(name, value)
        elif name == 'timeStamp':
            result.times = set(_queryValues(name, value))
        elif name == 'timeFrom':
            result.timeFrom = _later(result.timeFrom, value, name)
        elif name == 'timeTo':
            result.timeTo = _earlier(result.timeTo, value, name)
        elif name == 'timeFromTo':
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise InvalidTypeError('timeFromTo must be a pair (from, '
                                       'to), got %s' % shorten(value))
            result.timeFrom = _later(result.timeFrom, value[0], name)
            result.timeTo = _earlier(result.timeTo, value[1], name)
        elif name in fieldNames:
            result.fields[name] = _queryValues(name, value)
    limit = criteria.get('limit')
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise InvalidTypeError('limit must be a non-negative int, '
                                   'got %s' % shorten(limit))
        if limit < 0:
            raise InvalidValueError('limit must be a non-negative int, '
                                    'got %s' % shorten(limit))
    result.limit = limit
    result.newestFirst = bool(criteria.get('newestFirst'))
    timeRange = result.timeFrom is not None or result.timeTo is not None
    if not (result.dims or result.fields or result.times or timeRange):
        result.empty = True
    if result.times:
        lo, hi = min(result.times), max(result.times)
        result.timeFrom = lo if result.timeFrom is None \
            else max(lo, result.timeFrom)
        result.timeTo = hi if result.timeTo is None \
            else min(hi, result.timeTo)
    if result.timeFrom is not None and result.timeTo is not None \
            and result.timeFrom > result.timeTo:
        result.empty = True
    return result


def _unknownMessage(unknown, fieldNames, declared):
    pending = [name for name in unknown if name in declared]
    if pending:
        return ('no index for query criterion %s yet: the track class '
                'declares it; call setupIndexes() to make and fill it'
                % ', '.join(repr(name) for name in pending))
    extras = sorted(fieldNames)
    names = ', '.join(guessed(name, CRITERIA + tuple(extras))
                      for name in unknown)
    return ('unknown query criterion %s: expected %s%s' % (
        names, ', '.join(CRITERIA),
        ' or an extra index (%s)' % ', '.join(extras) if extras
        else ' (the track class has no extra indexes)'))


def execute(plan, storage):
    """The tracks of ``storage`` that ``plan`` selects, as a list."""
    if plan.empty:
        return []
    store = storage._store
    times = plan.times
    rows = {}          # num -> (key, ts, row), where the rows were read
    if plan.dims and not plan.fields and not plan.newestFirst \
            and plan.limit is None:
        return _allByNumber(plan, store, storage)
    if plan.dims:
        found = []
        for key in store.combinations(plan.dims):
            for ts, group in store.groups(key, plan.timeFrom, plan.timeTo):
                if times is None or ts in times:
                    for row in group:
                        found.append((row[0], key, ts, row))
        if not plan.fields and not plan.newestFirst:
            # In id order, straight from the rows read (numbers are
            # unique: the sort never compares further).
            found.sort(key=_first)
            if plan.limit is not None:
                found = found[:plan.limit]
            views, view = storage._views(), storage._view
            return [view(num, key, ts, row, None, views)
                    for num, key, ts, row in found]
        rows = {num: (key, ts, row) for num, key, ts, row in found}
        pairs = [(ts, num) for num, key, ts, row in found]
    elif times is not None or plan.timeFrom is not None \
            or plan.timeTo is not None:
        pairs = [p for p in store.timePairs(plan.timeFrom, plan.timeTo)
                 if times is None or p[0] in times]
    else:
        pairs = None
    views = storage._views()

    def track(num):
        found = rows.get(num)
        if found is None:
            return storage._fetch(num)
        key, ts, row = found
        return storage._view(num, key, ts, row, None, views)

    if not plan.fields and not plan.newestFirst:
        # In id order: the numbers sorted, no set needed.
        result = sorted(num for ts, num in pairs)
        if plan.limit is not None:
            result = result[:plan.limit]
        return [track(num) for num in result]
    nums = None if pairs is None else LLTreeSet(num for ts, num in pairs)
    for name, values in plan.fields.items():
        found = storage._fields[name].apply(values)
        nums = found if nums is None else ll_intersection(nums, found)
    if plan.newestFirst:
        if plan.fields:
            tracks = [track(num) for num in nums]
            order = sorted(((t.timeStamp, int(t._num)), t) for t in tracks)
            result = [t for ts_num, t in reversed(order)]
        else:
            result = [num for ts, num in sorted(pairs, reverse=True)]
            if plan.limit is not None:
                result = result[:plan.limit]
            return [track(num) for num in result]
    else:
        result = list(nums)
        if plan.limit is not None:
            result = result[:plan.limit]
        return [track(num) for num in result]
    return result if plan.limit is None else result[:plan.limit]


TrackRecord = namedtuple('TrackRecord',
                         'trackId taskId runId userName timeStamp data')
TrackRecord.__doc__ = """\
A stored track as values: its id ('%07i'), its metadata and its data
(the same read-only view ``track.data`` hands out). A tuple: it cannot
be changed, and it is not kept up to date with the track."""

_new_tuple = tuple.__new__

# Row groups of a call that ``records`` decodes through ``rows.unpack``
# (see there); past them, a group is decoded for its numbers and again
# for its records, so that a sweep does not churn unpack's groups.
KEEP_DECODED = 4096


def with_current_runs(storage, criteria):
    """``criteria`` (as ``plan`` takes them) with run 0 replaced by the
    current runs of the tasks asked for (of every task without a
    taskId; a trailing ``*`` a prefix); None if no run is left. The front
    ends' rule (``query --run 0``, HTTP ``runId=0``): in ``query`` itself
    run 0 is no run, as in loops."""
    runs = criteria.get('runId')
    if runs is None:
        return criteria
    runs = runs if isinstance(runs, list) else [runs]
    if 0 not in runs:
        return criteria
    tasks = criteria.get('taskId', '*')
    tasks = tasks if isinstance(tasks, list) else [tasks]
    wanted = [run for run in runs if run]
    for taskId, runId in storage.getCurrentRuns().items():
        if any(taskId == task or (task.endswith('*')
                                  and taskId.startswith(task[:-1]))
               for task in tasks):
            wanted.append(runId)
    if not wanted:
        return None
    return dict(criteria, runId=sorted(set(wanted)))


def records(plan, storage):
    """The tracks of ``storage`` that ``plan`` selects, in the order of
    ``execute``, as an iterator of ``TrackRecord``.

    The common plan (metadata criteria, id order) is answered from the
    rows alone: no view is made. A row with extras (attributes of a Track
    subclass, or metadata set behind the index's back) is read through
    its view, so that every record says what that track's attributes say;
    so are the plans that ``execute`` answers through the time map or the
    field indexes.

    The rows are found and ordered now; each record is made as it is
    asked for, from the rows as they were found. Why not a list: a
    record that lives on until the reader gets to it is a few objects
    for the cyclic garbage collector, and when more of them survive than
    a quarter of what was alive before, CPython collects every
    generation, walking what ZODB's cache holds too. Made as they were
    read, 100,000 records cost three such collections, 0.63 s of 1.19 s.
    So what is kept until then is numbers and references to the stored
    values; a row group is decoded when its first record is asked for
    and let go after its last. The first KEEP_DECODED groups of a call
    are decoded through ``rows.unpack``, which keeps what it decodes for
    a while (two generations of groups, see rows): their records are
    then made from those rows, not from a second decoding, while memory
    stays bounded by that cache however many iterators wait (a task
    template's backfill makes one per user before it reads any). A read
    of a user's ~1,000 tracks stays within them; a marshal group of
    plain data costs the collector nothing once it has seen it (its
    dicts are untracked, its tuples untracked by the first collection).
    """
    if plan.empty:
        return iter(())
    if not plan.dims or plan.fields or plan.newestFirst:
        return map(record_of, execute(plan, storage))
    store = storage._store
    times = plan.times
    nums, where = [], []                 # per row: number, group index
    keys, stamps, values = [], [], []    # per row group
    for key in store.combinations(plan.dims):
        for ts, value in store.stored(key, plan.timeFrom, plan.timeTo):
            if times is not None and ts not in times:
                continue
            group = len(values)
            keys.append(key)
            stamps.append(ts)
            values.append(value)
            if group < KEEP_DECODED:
                for row in unpack(value):
                    nums.append(row[0])
                    where.append(group)
                continue
            for num in numbers_of(value):
                nums.append(num)
                where.append(group)
    # Numbers are unique: positions in number order.
    order = sorted(range(len(nums)), key=nums.__getitem__)
    if plan.limit is not None:
        del order[plan.limit:]
    return _records(order, nums, where, keys, stamps, values, storage)


def _records(order, nums, where, keys, stamps, values, storage):
    # The rows of a group are in number order, and read in number order:
    # each group is read from its first row to its last.
    left = {}                 # group index -> (rows, next row to read)
    for position in order:
        group = where[position]
        state = left.get(group)
        if state is None:
            rows, at = unpack_once(values[group]), 0
        else:
            rows, at = state
        row = rows[at]
        if at + 1 < len(rows):
            left[group] = rows, at + 1
        elif state is not None:
            del left[group]
        key, ts = keys[group], stamps[group]
        num, data, extras = row
        if extras is None:
            if type(data) is not ReadOnlyDict:
                # A row of a group kept unpacked (see rows.pack).
                data = read_only({} if data is None else data)
            yield _new_tuple(TrackRecord, ('%07i' % num, key[0], key[1],
                                           key[2], ts, data))
        else:
            yield record_of(storage._view(num, key, ts, row))


def record_of(track):
    """The ``TrackRecord`` of a track (a view or any ITrack)."""
    return _new_tuple(TrackRecord, (track.__name__, track.taskId,
                                    track.runId, track.userName,
                                    track.timeStamp, track.data))
def _allByNumber(plan, store, storage):
    """Every track of the combinations and times of ``plan``, in id order:
    the views made straight from the rows read, then sorted (no tuple per
    track on the way: a cold read of a user's ~1,000 tracks makes fewer
    objects, hence fewer runs of the cyclic GC)."""
    times = plan.times
    views, viewsOf = storage._views(), storage._viewsOf
    result = []
    add = result.append
    for key in store.combinations(plan.dims):
        groups = store.groups(key, plan.timeFrom, plan.timeTo)
        if times is not None:
            groups = [(ts, rows) for ts, rows in groups if ts in times]
        viewsOf(key, groups, add, views)
    result.sort(key=_num)
    return result


_num = attrgetter('_num')


def _first(item):
    return item[0]


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

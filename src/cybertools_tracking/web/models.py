"""The JSON the API takes and gives, as pydantic models.

Tracks and runs are the JSON the command line writes (``query --format
jsonl``, ``runs --format json``); trackers, conditions and limiters the
forms of ``goals/serialize.py``; events those of ``OutboxEvent.as_json``.
The models describe and check shapes; the library checks values (a task
id that UTF-8 cannot encode, a timestamp out of range ...) and its
message is the 400's detail.
"""

from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt
from pydantic import field_validator

from cybertools_tracking.timestamps import TIME_FORMATS, parse_time

__all__ = ['TrackIn', 'TrackOut', 'TrackBatch', 'BatchResult', 'TrackPage',
           'RunOut', 'RunStart', 'RunStop', 'Stats', 'Condition', 'Limiter',
           'ComponentRef',
           'TrackerIn', 'TrackerOut', 'TrackerRef', 'TickIn', 'TickOut',
           'EventOut', 'EventPage', 'Problem', 'MAX_BATCH']

MAX_BATCH = 10_000

Number = Union[int, float]
# A time or duration in seconds as JSON gives it. Strict: pydantic would
# take true and false as 1 and 0 (Python's bools are ints), so that
# {"timeStamp": true} saved a track of 1970. Strict ints and floats
# refuse booleans (and numbers in strings, which the time fields take
# as text, through parse_time).
Seconds = Union[StrictInt, StrictFloat]


def time_from_json(name, value):
    """A time field's value (seconds, or text as ``parse_time`` takes it)
    as seconds; ValueError naming ``name`` for a boolean, which JSON
    parsers and Python take for 1 and 0."""
    if isinstance(value, bool):
        raise ValueError('%s must be %s, not a boolean (%s)'
                         % (name, TIME_FORMATS, json_name(value)))
    return parse_time(value) if isinstance(value, str) else value


def json_name(value):
    return {True: 'true', False: 'false'}.get(value, repr(value))

# Event positions are ``tid << 20 | index``: beyond 2**53, the integers
# a JavaScript number holds exactly, so JSON carries them as strings of
# decimal digits; where one is given (``since``, ``Last-Event-ID``), the
# same digits are taken.
POSITION_DOC = ('an event position: a string of decimal digits (positions '
                'exceed 2**53, which JavaScript numbers do not hold exactly)')


class _Strict(BaseModel):
    model_config = ConfigDict(extra='forbid')


class TrackIn(_Strict):
    """A track to save (``saveUserTrack``)."""

    taskId: str = Field(description='the task')
    userName: str = Field(description='the user or device')
    runId: int = Field(0, ge=0, description='0: the task\'s current run '
                       '(started if there is none)')
    data: dict[str, Any] = Field(default_factory=dict)
    timeStamp: Optional[Union[Seconds, str]] = Field(
        None, description='seconds since the epoch (UTC), or ISO 8601 with '
        'Z or an offset (2026-01-01T00:00:00Z), or a local date or time as '
        'the command line takes it (the server\'s time zone); default now')
    eventId: Optional[str] = Field(
        None, description='a caller-chosen id: saving the same id with the '
        'same content again returns the stored track; with other content it '
        'is a 409 (xAPI\'s rule). Used where the storage supports event ids')
    update: bool = Field(False, description='update the user\'s last track '
                         'of the run instead of adding one')

    @field_validator('timeStamp', mode='before')
    @classmethod
    def _time(cls, value):
        # A string as the command line's import takes it; checked with the
        # request, before anything is saved (a 422 names the bad value).
        return time_from_json('timeStamp', value)
    overwrite: bool = False
    replace: bool = Field(False, description='update and overwrite')


class TrackOut(BaseModel):
    """A stored track."""

    id: str
    taskId: str
    runId: int
    userName: str
    timeStamp: Number
    data: dict[str, Any]
    eventId: Optional[str] = None


class TrackBatch(_Strict):
    """Up to 10,000 tracks, saved in one transaction: all or none."""

    tracks: list[TrackIn] = Field(max_length=MAX_BATCH)


class BatchResult(BaseModel):
    ids: list[str] = Field(description='the track ids, in the order given')
    count: int
    replayed: list[int] = Field(
        default_factory=list, description='the indexes (into "tracks") of '
        'the tracks whose eventId had been saved with the same content '
        'before: nothing new was stored for them')


class TrackPage(BaseModel):
    """Tracks newest first; ``next`` is the cursor of the next page, or
    null after the last."""

    tracks: list[TrackOut]
    next: Optional[str] = None


class RunOut(BaseModel):
    id: int
    taskId: Optional[str]
    start: Number
    end: Number
    finished: bool
    current: bool


class RunStart(_Strict):
    taskId: Optional[str] = None


class RunStop(_Strict):
    taskId: Optional[str] = Field(None, description='the task whose '
                                  'current run to stop; needed with runId 0')
    runId: int = Field(0, ge=0, description='0: the task\'s current run')
    finish: bool = True


class Stats(BaseModel):
    tracks: int
    tasks: int
    users: int
    runs: int
    currentRuns: int
    lastEventPosition: str = Field(pattern=r'^[0-9]+$',
                                   description=POSITION_DOC)


class Condition(_Strict):
    """A condition (``condition_to_json``): ``type`` names the class;
    key conditions have ``key`` (a dotted path) and most a ``value``;
    All and Any combine ``conditions``, Not negates ``condition``.  A
    path starts at the track, ``{taskId, runId, userName, timeStamp,
    data}``: a key of the track's data is ``data.<key>``."""

    type: str = Field(description='KeyExists, KeyNotExists, KeyValueEQ, '
                      'KeyValueNE, KeyValueLT, KeyValueLE, KeyValueGT, '
                      'KeyValueGE, KeyValueComparison, KeyValueContained, '
                      'KeyValueNotContained, KeyValueInList, '
                      'KeyValueNotInList, KeyValueListHasItem, '
                      'KeyValueListHasNotItem, All, Any or Not')
    key: Optional[str] = Field(None, description='a dotted path from the '
                               'track: taskId, runId, userName, timeStamp '
                               'or data.<key of the data>')
    value: Any = None
    op: Optional[str] = Field(None, description='KeyValueComparison: eq, '
                              'ne, lt, le, gt or ge')
    case_sensitive: Optional[bool] = None
    conditions: Optional[list['Condition']] = None
    condition: Optional['Condition'] = None


class Limiter(_Strict):
    """A limiter (``limiter_to_json``): ``{"type": "CountLimiter", "count":
    N}`` (optional ``weight``), ``{"type": "TimeLimiter", "start": TS,
    "end": TS}`` (or ``interval`` seconds instead of ``end``),
    ``{"type": "SlidingWindowLimiter", "count": N, "window": SECONDS}``
    (optional ``weight``) or ``{"type": "DeadlineLimiter", "deadline":
    TS}``; ``remaining`` and ``hits`` are state, shown and ignored."""

    type: str = Field(description='CountLimiter, TimeLimiter, '
                      'SlidingWindowLimiter or DeadlineLimiter')
    count: Optional[int] = None
    weight: Optional[int] = None
    remaining: Optional[int] = None
    start: Optional[Seconds] = None
    end: Optional[Seconds] = None
    interval: Optional[Seconds] = None
    window: Optional[Seconds] = Field(None, description='seconds')
    deadline: Optional[Seconds] = None
    hits: Optional[list[list[Number]]] = Field(
        None, description='[time, weight] pairs in the window (state)')


class ComponentRef(_Strict):
    """A composite's component: the tracker ``name`` in group
    ``group_id``."""

    group_id: Optional[str]
    name: str


# A target read from JSON: a number, a Decimal or Fraction as a string
# ("2.50", "1/3"), or a list of them (stages); null: all components.
Target = Optional[Union[Number, str, list[Union[Number, str]]]]


class _TrackerKinds(BaseModel):
    """The fields that kinds of trackers add (see ``goals/serialize.py``)."""

    key: Optional[str] = Field(None, description='AccumulationTracker, '
                               'PeriodAccumulationTracker: the dotted path '
                               'of the amount')
    window: Optional[Seconds] = Field(None, description='WindowTracker: '
                                     'seconds')
    period: Optional[str] = Field(None, description='PeriodTracker, '
                                  'PeriodAccumulationTracker: daily, weekly '
                                  'or monthly')
    tz: Optional[str] = Field(None, description='an IANA time zone name')
    streak_target: Optional[int] = Field(
        None, description='met periods in a row that complete the tracker')
    keep_history: Optional[bool] = None
    steps: Optional[list[Condition]] = Field(
        None, description='SequenceTracker: conditions met in this order')
    max_gap: Optional[Seconds] = Field(None, description='SequenceTracker: '
                                      'seconds between steps at most')
    per: Optional[str] = Field(None, description='SequenceTracker: a '
                               'dotted key whose values keep sequences apart')
    measure: Optional[str] = Field(None, description='CompositeTracker: '
                                   'completed or progress')
    components: Optional[list[ComponentRef]] = Field(
        None, description='CompositeTracker: the trackers it follows')


class _TrackerState(BaseModel):
    """What ``tracker_to_json`` shows of a tracker's state."""

    progress: Any = None
    stage_target: Any = None
    stage: Optional[int] = None
    laps: Optional[int] = None
    state: Optional[str] = None
    completed_at: Optional[Number] = None
    expire_at: Optional[Number] = None
    times: Optional[list[Number]] = None
    latest: Optional[Number] = None
    period_key: Optional[str] = None
    period_start: Optional[Number] = None
    period_end: Optional[Number] = None
    met: Optional[bool] = None
    longest_streak: Optional[int] = None
    partials: Optional[list[list[Any]]] = None


class TrackerIn(_TrackerState, _TrackerKinds, _Strict):
    """A tracker's definition (``tracker_from_json``); the state fields
    of ``TrackerOut`` are accepted and ignored, so what a GET gave can be
    posted again."""

    type: str = Field(description='CountTracker, AccumulationTracker, '
                      'WindowTracker, PeriodTracker, '
                      'PeriodAccumulationTracker, SequenceTracker or '
                      'CompositeTracker')
    name: str
    conditions: Optional[list[Condition]] = Field(
        None, description='conditions as {"type": "KeyValueGE", "key": '
        '"data.score", "value": 50}; All/Any take "conditions", Not '
        '"condition"; needed by every kind but CompositeTracker, which '
        'has none')
    target: Target = Field(
        None, description='a number, a Decimal or Fraction as a string '
        '("2.50", "1/3"), or a list of them (stages); needed by every kind '
        'but CompositeTracker, where it is the number of completed '
        'components (or progress) that completes it, default null: all')
    group_id: Optional[str] = None
    limiters: list[Limiter] = Field(default_factory=list)
    reset_policy: int = 2
    loop_forever: bool = False
    init_progress: Union[Number, str] = 0


class TrackerOut(_TrackerState, _TrackerKinds):
    """A tracker's definition and state (``tracker_to_json``)."""

    type: str
    name: str
    group_id: Optional[str]
    conditions: list[Condition]
    target: Optional[list[Any]]
    limiters: list[Limiter]
    reset_policy: int
    loop_forever: bool
    init_progress: Any
    progress: Any
    stage_target: Any
    stage: int
    laps: int
    state: str
    completed_at: Optional[Number]
    expire_at: Optional[Number]


class TickIn(_Strict):
    """What ``goals tick`` takes (``storage.goals.tick``): the time to
    evaluate at and the groups to tick."""

    at: Optional[Union[Seconds, str]] = Field(
        None, description='the time to evaluate at: seconds since the '
        'epoch (UTC), or ISO 8601 with Z or an offset, or a local date or '
        'time as the command line\'s --at takes it; default now')
    groups: Optional[list[str]] = Field(
        None, description='tick only these groups (users, or a task\'s '
        'user groups); default every group. Groups without goals are '
        'passed over, and listed in the answer\'s "withoutGoals"')

    @field_validator('at', mode='before')
    @classmethod
    def _time(cls, value):
        return time_from_json('at', value)


class TrackerRef(BaseModel):
    """A tracker named by its group and name."""

    group_id: Optional[str]
    name: str


class TickOut(BaseModel):
    """What a tick did (``TickResult``)."""

    at: Number = Field(description='the time it evaluated at (seconds '
                       'since the epoch, UTC)')
    closed: list[TrackerRef] = Field(description='period trackers that '
                                     'closed a period')
    failed: list[TrackerRef] = Field(description='trackers failed (and '
                                     'removed) for a passed deadline')
    expired: list[TrackerRef] = Field(description='trackers removed for '
                                      'their expiry time')
    changed: int = Field(description='how many trackers changed state '
                         '(those above included)')
    withoutGoals: list[str] = Field(
        default_factory=list, description='the groups of "groups" that '
        'have no goal, passed over: misspelt, or their last goal went (an '
        'expiry, a failed deadline: a group is forgotten with its last '
        'tracker); not an error, so that a periodic job\'s list of groups '
        'keeps working')


class EventOut(BaseModel):
    """An outbox event; ``id`` and ``position`` are its position as a
    string of digits."""

    id: str = Field(description='the SSE id: ' + POSITION_DOC)
    position: str = Field(pattern=r'^[0-9]+$', description=POSITION_DOC)
    type: str
    timestamp: Number
    committed: float
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[EventOut]
    last: str = Field(pattern=r'^[0-9]+$', description='the position to '
                      'ask "since" next: ' + POSITION_DOC)


class Problem(BaseModel):
    detail: str

"""Where a path starts for goals on a storage: every condition (KeyExists
as much as KeyValueEQ), an accumulation key and a limiter's weight key
start at the track item, ``{taskId, runId, userName, timeStamp, data}``,
on every way a track reaches a tracker; a path that starts elsewhere is
refused when the tracker is added, with the path meant."""

import os

import pytest
import transaction

from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import (
    AccumulationTracker, All, Any, CountLimiter, CountTracker, KeyExists,
    KeyNotExists, KeyValueEQ, Not)
from cybertools_tracking.goals.composite import SequenceTracker
from cybertools_tracking.tracked_goals import (
    TRACK_ITEM_KEYS, binding_of, check_track_paths, task_group, track_item)

T0 = 1_700_000_000
PAGES = ['intro', None, 'end']        # the second track has no page


@pytest.fixture
def tracks(tmp_path):
    db = open_db(os.path.join(str(tmp_path), 'tracking.fs'))
    conn = db.open()
    storage = get_storage(conn)
    for n, page in enumerate(PAGES):
        data = {'n': n} if page is None else {'n': n, 'page': page}
        storage.saveUserTrack('course', 0, 'anna', data, timeStamp=T0 + n)
    transaction.commit()
    yield storage
    transaction.abort()
    conn.close()
    db.close()


CONDITIONS = [(KeyExists('data.page'), 2), (KeyNotExists('data.page'), 1),
              (KeyValueEQ('data.page', 'end'), 1),
              (All(KeyExists('data.page'), KeyValueEQ('taskId', 'course')),
               2)]


def _fed(storage, how, condition):
    """The progress of a tracker with ``condition`` after the stored
    tracks reached it ``how``."""
    tracker = CountTracker(name='t', conditions=[condition], target=100)
    goals = storage.goals
    if how == 'saved':
        # The tracker is there first; the tracks are saved again.
        goals.add_tracker('bert', tracker)
        for n, page in enumerate(PAGES):
            data = {'n': n} if page is None else {'n': n, 'page': page}
            storage.saveUserTrack('course', 0, 'bert', data,
                                  timeStamp=T0 + n)
        return goals.get_trackers('bert')[0].progress
    if how == 'backfill':
        goals.add_tracker('anna', tracker, backfill=True)
    elif how == 'batches':
        goals.start_backfill('anna', tracker, batch_size=2)
        while goals.backfill_jobs():
            goals.continue_backfill('anna', 't')
    elif how == 'template':
        goals.add_task_goal('course', tracker, backfill=True)
        return goals.user_task_goals('course', 'anna')[0].progress
    elif how == 'recompute':
        goals.add_tracker('anna', CountTracker(name='t', conditions=[],
                                               target=100))
        goals.redefine('anna', tracker, policy='recompute')
    return goals.get_trackers('anna')[0].progress


@pytest.mark.parametrize('how', ['saved', 'backfill', 'batches',
                                 'template', 'recompute'])
@pytest.mark.parametrize('condition,expected', CONDITIONS)
def test_every_condition_reads_the_data_under_data(tracks, how, condition,
                                                   expected):
    assert _fed(tracks, how, condition) == expected


def test_the_item_a_tracker_sees_is_what_the_keys_name(tracks):
    item = track_item(tracks.getUserTracks('course', 0, 'anna')[0])
    assert tuple(item) == TRACK_ITEM_KEYS
    assert KeyExists('data.page').check(item)
    assert not KeyExists('page').check(item)


BAD = [
    (KeyExists('page'), "'data.page'"),
    (KeyNotExists('page'), "'data.page'"),
    (KeyValueEQ('page.title', 'x'), "'data.page.title'"),
    (Not(Any(KeyValueEQ('taskId', 'course'), KeyExists('page'))),
     "'data.page'"),
]


def _refused(call, needle):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert needle in message and "a track does not have" in message
    return message


@pytest.mark.parametrize('condition,meant', BAD)
def test_a_path_no_track_has_is_refused_naming_the_path_meant(
        tracks, condition, meant):
    goals = tracks.goals

    def tracker():
        return CountTracker(name='pages', conditions=[condition], target=3)

    message = _refused(lambda: goals.add_tracker('anna', tracker()), meant)
    assert "tracker 'pages'" in message
    _refused(lambda: goals.add_trackers('anna', [tracker()]), meant)
    _refused(lambda: goals.add_tracker('anna', tracker(), backfill=True),
             meant)
    _refused(lambda: goals.start_backfill('anna', tracker()), meant)
    _refused(lambda: goals.add_task_goal('course', tracker()), meant)
    _refused(lambda: goals.add_task_goal('course', tracker(),
                                         backfill=True), meant)
    # Validate, then write: nothing was stored by any of these.
    assert binding_of(tracks) is None
    goals.add_tracker('anna', CountTracker(name='pages', conditions=[],
                                           target=3))
    _refused(lambda: goals.redefine('anna', tracker()), meant)
    _refused(lambda: goals.redefine('anna', tracker(), policy='recompute'),
             meant)
    assert goals.get_trackers('anna')[0].conditions == ()


def test_keys_of_accumulations_limiters_and_sequences_are_checked_too():
    cases = [
        (AccumulationTracker(name='a', key='minutes', target=10,
                             conditions=[]), "'data.minutes'"),
        (CountTracker(name='c', conditions=[], target=10, limiters=[
            CountLimiter(5, weight_key='cost')]), "'data.cost'"),
        (SequenceTracker('s', [KeyValueEQ('data.step', 1),
                               KeyValueEQ('step', 2)]), "'data.step'"),
        (SequenceTracker('s', [KeyValueEQ('data.step', 1),
                               KeyValueEQ('data.step', 2)], per='order'),
         "'data.order'"),
    ]
    for tracker, meant in cases:
        _refused(lambda: check_track_paths(tracker), meant)
    check_track_paths(AccumulationTracker(
        name='a', key='data.minutes', target=10,
        conditions=[KeyExists('userName'), KeyValueEQ('runId', 0),
                    KeyExists('timeStamp'), KeyExists('data')]))


def test_a_template_stored_before_the_check_still_copies(tracks):
    # A template with such a path may be stored by an older version: a
    # user's track must not be refused for it (it copies and never
    # counts, as before).
    tracks.goals.add_task_goal('course', CountTracker(
        name='ok', conditions=[], target=100))
    old = CountTracker(name='old', conditions=[KeyExists('page')],
                       target=100)
    binding_of(tracks).templates['course']['old'] = old
    tracks.saveUserTrack('course', 0, 'carl', {'page': 'x'},
                         timeStamp=T0 + 10)
    copies = {t.name: t.progress
              for t in tracks.goals.get_trackers(task_group('course',
                                                            'carl'))}
    assert copies == {'ok': 1, 'old': 0}


def test_a_field_of_the_track_misspelt_is_suggested_case_aside():
    message = _refused(lambda: check_track_paths(CountTracker(
        name='t', target=1, conditions=[KeyExists('timestamp')])),
        "the track's own field is 'timeStamp' and a key of the track's "
        "data is 'data.timestamp'")
    assert message.startswith("tracker 't': <KeyExists (key=timestamp)> "
                              "names 'timestamp',")
    # More than one segment: no field has keys, so none is offered.
    message = _refused(lambda: check_track_paths(CountTracker(
        name='t', target=1, conditions=[KeyExists('username.first')])),
        "so a key of the track's data is 'data.username.first'")
    assert "own field" not in message


@pytest.mark.parametrize('key,kind', [('userName.x', 'a name'),
                                      ('taskId.0', 'a name'),
                                      ('runId.n', 'a number'),
                                      ('timeStamp.day', 'a number')])
def test_a_key_of_a_field_of_the_track_is_refused(tracks, key, kind):
    message = _refused(lambda: tracks.goals.add_tracker(
        'anna', CountTracker(name='t', target=1,
                             conditions=[KeyExists(key)])),
        "names %r, which a track does not have" % key)
    assert kind + (' (seconds)' if key.startswith('time') else '') + \
        ', without keys' in message
    assert "'data.%s'" % key in message
    assert tracks.goals.get_trackers('anna') == []     # nothing written

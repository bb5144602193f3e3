"""Unit tests of TrackingStorage: the API, its edge cases and bad input."""

import pytest
from zope.interface.verify import verifyObject

from cybertools_tracking.check import check_storage
from cybertools_tracking.interfaces import IRun, ITrack, ITrackingStorage
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.track import Run, Track
from cybertools_tracking.validation import (InvalidTypeError,
                                            InvalidValueError,
                                            ValidationError)

from tests.snapshot import snapshot

T0 = 1_700_000_000


@pytest.fixture
def st():
    return TrackingStorage()


def data_of(tracks):
    return [t.data for t in tracks]


def test_interfaces(st):
    assert verifyObject(ITrackingStorage, st)
    st.saveUserTrack('a', 0, 'u', {})
    assert verifyObject(ITrack, st['0000001'])
    assert verifyObject(IRun, st.getRun(1))


def test_ids_are_sequential_and_formatted(st):
    ids = [st.saveUserTrack('a', 0, 'u', {'i': i}) for i in range(3)]
    assert ids == ['0000001', '0000002', '0000003']
    assert st.idFromNum(12) == '0000012'
    assert st['0000002'].__name__ == '0000002'
    assert st['0000002'].__parent__ is st


def test_ids_keep_numeric_order_past_ten_million(st):
    st._trackIds.value = 9_999_998
    ids = [st.saveUserTrack('a', 0, 'u', {'i': i}) for i in range(3)]
    assert ids == ['9999999', '10000000', '10000001']
    assert list(st.keys()) == ids
    assert [t.data['i'] for t in st.query(taskId='a')] == [0, 1, 2]
    assert [t.data['i'] for t in st.getUserTracks('a', 0, 'u')] == [0, 1, 2]
    assert st.getLastUserTrack('a', 0, 'u').data == {'i': 2}


def test_mapping_protocol(st):
    st.saveUserTrack('a', 0, 'u', {'n': 1})
    st.saveUserTrack('b', 0, 'u', {'n': 2})
    assert len(st) == 2
    assert '0000001' in st and 1 in st and '0000009' not in st
    assert 'junk' not in st
    assert st[2].data == {'n': 2}
    assert st.get('0000009') is None
    assert list(st) == ['0000001', '0000002']
    assert [k for k, v in st.items()] == ['0000001', '0000002']
    assert data_of(st.values()) == [{'n': 1}, {'n': 2}]
    with pytest.raises(KeyError):
        st['0000009']
    del st['0000001']
    assert len(st) == 1 and list(st) == ['0000002']
    assert st.getTaskIds() == ['b']


def test_last_track_ties_go_to_the_newer_track(st):
    st.saveUserTrack('a', 0, 'u', {'n': 1}, timeStamp=T0)
    st.saveUserTrack('a', 0, 'u', {'n': 2}, timeStamp=T0)
    assert st.getLastUserTrack('a', 0, 'u').data == {'n': 2}


def test_last_track_is_the_latest_timestamp_not_the_latest_saved(st):
    st.saveUserTrack('a', 0, 'u', {'n': 1}, timeStamp=T0 + 10)
    st.saveUserTrack('a', 0, 'u', {'n': 2}, timeStamp=T0)
    assert st.getLastUserTrack('a', 0, 'u').data == {'n': 1}
    # ... and an update-save updates that one
    st.saveUserTrack('a', 0, 'u', {'x': 1}, update=True, timeStamp=T0 + 20)
    assert data_of(st.getUserTracks('a', 0, 'u')) == [{'n': 1, 'x': 1},
                                                     {'n': 2}]


def test_last_track_none_and_empty_results(st):
    assert st.getLastUserTrack('a', 0, 'u') is None
    assert st.getUserTracks('a', 0, 'u') == []
    assert st.getUserTracks('a', 5, 'u') == []
    assert st.getUserNames('a') == []
    assert st.getTaskIds() == []
    assert st.query() == []


def test_update_merges_overwrite_replaces_replace_is_both(st):
    st.saveUserTrack('a', 0, 'u', {'x': 1, 'y': 1}, timeStamp=T0)
    st.saveUserTrack('a', 0, 'u', {'y': 2}, update=True, timeStamp=T0 + 1)
    assert data_of(st.getUserTracks('a', 0, 'u')) == [{'x': 1, 'y': 2}]
    st.saveUserTrack('a', 0, 'u', {'z': 3}, update=True, overwrite=True)
    assert data_of(st.getUserTracks('a', 0, 'u')) == [{'z': 3}]
    st.saveUserTrack('a', 0, 'u', {'w': 4}, replace=True)
    assert data_of(st.getUserTracks('a', 0, 'u')) == [{'w': 4}]
    assert len(st) == 1
    # overwrite without update creates a new track
    st.saveUserTrack('a', 0, 'u', {'v': 5}, overwrite=True)
    assert len(st) == 2


def test_update_moves_the_track_in_time(st):
    tid = st.saveUserTrack('a', 0, 'u', {'x': 1}, timeStamp=T0)
    st.saveUserTrack('a', 0, 'u', {'x': 2}, update=True, timeStamp=T0 + 100)
    assert st[tid].timeStamp == T0 + 100
    assert st.query(timeTo=T0 + 50) == []
    assert st.query(timeFrom=T0 + 100) == [st[tid]]
    assert st.getRun(1).end == T0 + 100


def test_update_with_empty_data_changes_nothing(st):
    tid = st.saveUserTrack('a', 0, 'u', {'x': 1}, timeStamp=T0)
    assert st.updateTrack(st[tid], {}) == tid
    assert st[tid].timeStamp == T0 and st[tid].data == {'x': 1}


def test_track_update_goes_through_its_storage(st):
    tid = st.saveUserTrack('a', 0, 'u', {'x': 1}, timeStamp=T0)
    st[tid].update({'y': 2})
    assert st[tid].data == {'x': 1, 'y': 2}
    assert st[tid].timeStamp > T0
    assert st.query(timeStamp=T0) == []
    assert st.query(timeFrom=T0 + 1) == [st[tid]]


def test_set_track_data_keeps_the_time(st):
    tid = st.saveUserTrack('a', 0, 'u', {'x': 1}, timeStamp=T0)
    st.setTrackData(tid, {'y': 2})
    assert st[tid].data == {'y': 2} and st[tid].timeStamp == T0


def test_data_is_copied_not_aliased(st):
    data = {'flat': 1, 'nested': {'list': [1, 2]}}
    tid = st.saveUserTrack('a', 0, 'u', data)
    data['flat'] = 2
    data['nested']['list'].append(3)
    assert st[tid].data == {'flat': 1, 'nested': {'list': [1, 2]}}
    update = {'nested': {'list': []}}
    st.updateTrack(tid, update)
    update['nested']['list'].append('x')
    assert st[tid].data['nested'] == {'list': []}


def test_runs_implicit_explicit_and_per_task(st):
    st.saveUserTrack('a', 0, 'u', {}, timeStamp=T0)
    st.saveUserTrack('b', 0, 'u', {}, timeStamp=T0)
    assert st.getCurrentRuns() == {'a': 1, 'b': 2}
    assert st.startRun('a') == 3
    st.saveUserTrack('a', 0, 'u', {'run': 3}, timeStamp=T0 + 5)
    assert st.getLastUserTrack('a', 0, 'u').runId == 3
    assert st.getLastUserTrack('a', 1, 'u').runId == 1
    run = st.getRun(3)
    assert (run.id, run.taskId, run.finished) == (3, 'a', False)
    assert st.getRun('a') is run
    assert st.getRun(taskId='a') is run
    assert st.getRun(runId=1).taskId == 'a'
    assert st.getRun(99) is None and st.getRun('zzz') is None
    assert st.getRun() is None


def test_run_end_is_latest_of_start_tracks_and_stop(st):
    st.saveUserTrack('a', 0, 'u', {}, timeStamp=T0)
    run = st.getRun('a')
    assert run.start == run.end == T0
    st.saveUserTrack('a', 0, 'u', {}, timeStamp=T0 + 50)
    st.saveUserTrack('a', 0, 'u', {}, timeStamp=T0 + 20)
    assert run.end == T0 + 50
    assert st.stopRun('a') == 1
    assert run.finished and run.end >= T0 + 50
    assert st.getRun('a') is None
    assert st.getRun(1) is run
    assert st.getRuns(finished=True) == [run]
    assert st.getRuns(taskId='a', finished=False) == []


def test_stop_run(st):
    assert st.stopRun('a') == 0
    assert st.stopRun(runId=42) == 0
    first = st.startRun('a')
    second = st.startRun('a')
    # stopping a run that is not the task's current one leaves the current
    assert st.stopRun('a', runId=first, finish=False) == first
    assert st.getCurrentRuns() == {'a': second}
    assert st.getRun(first).finished is False
    assert st.stopRun('a') == second
    assert st.getCurrentRuns() == {}
    # a new track starts a new run
    st.saveUserTrack('a', 0, 'u', {})
    assert st.getRun('a').id == 3


def test_a_stopped_run_is_no_current_run_however_it_is_named(st):
    a, b = st.startRun('a'), st.startRun('b')
    # by number alone (loops left it current: a finished current run)
    assert st.stopRun(runId=a) == a
    assert st.getCurrentRuns() == {'b': b} and st.getRun(a).finished
    # with another task's id: stopped all the same (loops' rule), and no
    # longer its own task's current run
    assert st.stopRun('a', b) == b
    assert st.getCurrentRuns() == {} and st.getRun(b).finished
    st.saveUserTrack('b', 0, 'u', {})
    assert st.getRun('b').id not in (a, b)


def test_a_run_started_not_current_leaves_the_current_run(st):
    first = st.startRun('a')
    other = st.startRun('a', current=False)
    assert st.getCurrentRuns() == {'a': first}
    assert st.getRun(other).taskId == 'a' and not st.getRun(other).finished
    # a task without runs stays without a current one
    lone = st.startRun('b', current=False)
    assert st.getCurrentRuns() == {'a': first}
    # its tracks go into it by number; run 0 is still the current one
    st.saveUserTrack('b', lone, 'u', {})
    st.saveUserTrack('a', other, 'u', {})
    st.saveUserTrack('a', 0, 'v', {})
    assert [t.runId for t in st.query(taskId='a', userName='u')] == [other]
    assert [t.runId for t in st.query(taskId='a', userName='v')] == [first]
    assert [t.runId for t in st.query(taskId='b')] == [lone]


def test_saving_into_a_finished_run_by_number_is_allowed(st):
    st.saveUserTrack('a', 0, 'u', {}, timeStamp=T0)
    st.stopRun('a')
    st.saveUserTrack('a', 1, 'u', {'late': True})
    assert len(st.getUserTracks('a', 1, 'u')) == 2


def test_untasked_run_can_be_shared(st):
    run = st.startRun()
    st.saveUserTrack('a', run, 'u', {})
    st.saveUserTrack('b', run, 'u', {})
    assert st.getTaskIds() == ['a', 'b']
    assert st.getCurrentRuns() == {}


@pytest.mark.parametrize('args, error, words', [
    ((5, 0, 'u', {}), TypeError, ['taskId', '5']),
    (('a', 0, None, {}), TypeError, ['userName', 'None']),
    (('a', '1', 'u', {}), TypeError, ['runId', "'1'"]),
    (('a', 1.0, 'u', {}), TypeError, ['runId', '1.0']),
    (('a', True, 'u', {}), TypeError, ['runId', 'True']),
    (('a', -1, 'u', {}), ValueError, ['runId', '-1']),
    (('a', 7, 'u', {}), ValueError, ['runId', '7', 'no such run']),
    (('a', 0, 'u', ['x']), TypeError, ['data', 'mapping', "['x']"]),
    (('a', 0, 'u', 'text'), TypeError, ['data', 'mapping']),
    (('', 0, 'u', {}), ValueError, ['taskId', 'not be empty']),
    (('a', 0, '', {}), ValueError, ['userName', 'not be empty']),
    (('t*', 0, 'u', {}), ValueError, ['taskId', "'t*'", 'prefix']),
    (('a*b', 0, 'u', {}), ValueError, ['taskId', 'contain *']),
    (('a', 0, 'u*', {}), ValueError, ['userName', 'contain *']),
    (('a', 0, 'a\x00b', {}), ValueError, ['userName', 'U+0000',
                                          'position 1']),
    (('a\n', 0, 'u', {}), ValueError, ['taskId', 'U+000A']),
])
def test_bad_input_is_named_and_stores_nothing(st, args, error, words):
    with pytest.raises(error) as info:
        st.saveUserTrack(*args)
    for word in words:
        assert word in str(info.value)
    assert len(st) == 0
    assert st.getRuns() == [] and st.getTaskIds() == []


def test_new_names_are_checked_where_runs_start_and_tracks_change(st):
    tid = st.saveUserTrack('a', 0, 'u', {})
    before = snapshot(st)
    for bad in ('', 'x*', 'x\x7f'):
        with pytest.raises(InvalidValueError, match='taskId'):
            st.startRun(bad)
        track = st[tid]
        with pytest.raises(InvalidValueError, match='userName'):
            track.userName = bad
        assert snapshot(st) == before
    assert st[tid].userName == 'u'
    # Names are looked up as they are: a query or a read never refuses.
    assert st.getUserTracks('', 0, 'u') == []
    assert st.getRun('x*') is None
    assert st.startRun() and st.startRun(None, current=True)


def test_check_finds_a_run_that_ends_before_it_starts(st):
    run = st.getRun(st.startRun('a'))
    assert check_storage(st) == []
    run.end = run.start - 1         # as no call of the API makes it
    assert check_storage(st) == ['run 1 ends at %d, before its start at %d'
                                 % (run.start - 1, run.start)]


def test_bad_timestamp(st):
    with pytest.raises(TypeError, match='timeStamp'):
        st.saveUserTrack('a', 0, 'u', {}, timeStamp='yesterday')
    with pytest.raises(ValueError, match='finite'):
        st.saveUserTrack('a', 0, 'u', {}, timeStamp=float('nan'))
    assert len(st) == 0


def test_run_of_another_task_is_refused(st):
    st.saveUserTrack('a', 0, 'u', {})
    with pytest.raises(ValueError, match="belongs to task 'a'"):
        st.saveUserTrack('b', 1, 'u', {})
    assert len(st) == 1


def test_timestamps_accept_floats_and_datetimes(st):
    import datetime
    st.saveUserTrack('a', 0, 'u', {}, timeStamp=T0 + 0.9)
    when = datetime.datetime.fromtimestamp(T0 + 5, datetime.timezone.utc)
    st.saveUserTrack('a', 0, 'u', {}, timeStamp=when)
    assert [t.timeStamp for t in st.values()] == [T0, T0 + 5]


def test_user_names_and_task_ids_stay_exact(st):
    a1 = st.saveUserTrack('a', 0, 'u1', {})
    st.saveUserTrack('a', 0, 'u2', {})
    b1 = st.saveUserTrack('b', 0, 'u1', {})
    assert st.getUserNames('a') == ['u1', 'u2']
    assert st.getTaskIds() == ['a', 'b']
    st.removeTrack(st[a1])
    assert st.getUserNames('a') == ['u2']
    st.removeTrack(b1)
    assert st.getTaskIds() == ['a']
    st.reindexTracks()
    assert st.getUserNames('a') == ['u2'] and st.getTaskIds() == ['a']
    assert st.getUserNames('b') == []


def test_remove_unknown_track(st):
    with pytest.raises(KeyError):
        st.removeTrack('0000001')
    other = TrackingStorage()
    other.saveUserTrack('a', 0, 'u', {})
    st.saveUserTrack('a', 0, 'u', {})
    with pytest.raises(KeyError, match='not stored in this storage'):
        st.removeTrack(other['0000001'])
    assert len(st) == 1


@pytest.fixture
def filled(st):
    for i, (task, user) in enumerate([('a001', 'u1'), ('a001', 'u2'),
                                      ('a002', 'u1'), ('b001', 'xu1'),
                                      ('a001', 'u10')]):
        st.saveUserTrack(task, 0, user, {'i': i}, timeStamp=T0 + 10 * i)
    return st


def ids(tracks):
    return [t.__name__ for t in tracks]


def test_query_single_list_prefix(filled):
    st = filled
    assert ids(st.query(taskId='a001')) == ['0000001', '0000002', '0000005']
    assert ids(st.query(userName=['u2', 'xu1'])) == ['0000002', '0000004']
    assert ids(st.query(userName=('u2',), taskId='a002')) == []
    assert ids(st.query(userName='u1*')) == ['0000001', '0000003', '0000005']
    assert ids(st.query(taskId='a*', userName='u1')) == ['0000001',
                                                          '0000003']
    assert ids(st.query(taskId='*')) == ['0000001', '0000002', '0000003',
                                         '0000004', '0000005']
    assert ids(st.query(runId=2)) == ['0000003']
    assert ids(st.query(runId=[2, 3])) == ['0000003', '0000004']
    assert st.query(userName=[]) == []
    assert st.query(userName='nobody') == []


def test_query_time_ranges_are_inclusive(filled):
    st = filled
    assert ids(st.query(timeFrom=T0 + 20)) == ['0000003', '0000004',
                                              '0000005']
    assert ids(st.query(timeTo=T0 + 10)) == ['0000001', '0000002']
    assert ids(st.query(timeFromTo=(T0 + 10, T0 + 20))) == ['0000002',
                                                           '0000003']
    assert ids(st.query(timeFromTo=(None, T0))) == ['0000001']
    assert ids(st.query(taskId='a001', timeFrom=T0 + 5)) == ['0000002',
                                                            '0000005']
    assert ids(st.query(timeStamp=T0 + 30)) == ['0000004']
    assert ids(st.query(timeStamp=[T0, T0 + 40])) == ['0000001', '0000005']
    assert st.query(timeFrom=T0 + 30, timeTo=T0 + 20) == []
    with pytest.raises(TypeError, match='timeFromTo'):
        st.query(timeFromTo=T0)


def test_query_unknown_criteria_are_refused_naming_them(filled):
    for call in (filled.query, filled.queryRecords):
        with pytest.raises(ValueError, match=r"unknown query criterion "
                           r"'user' \(did you mean 'userName'\?\): "
                           r"expected taskId, runId, userName, "
                           r".*newestFirst, limit") as caught:
            call(user='u1')
        assert isinstance(caught.value, ValidationError)
        with pytest.raises(ValueError, match="'color'"):
            call(taskId='a002', color='red')
        with pytest.raises(ValueError, match="'foo', 'task'"):
            call(task='a001', foo=1)
    assert ids(filled.query(taskId='a002')) == ['0000003']


def test_query_unknown_criteria_name_the_extra_indexes():
    st = TrackingStorage(trackFactory=Visit)
    st.saveUserTrack('a', 0, 'u', {'page': 'home'})
    with pytest.raises(ValueError, match=r"'pages' .*: .* or an extra index "
                       r"\(device, page\)"):
        st.query(pages='home')
    assert ids(st.query(page='home')) == ['0000001']
    # The closest names are offered, extra indexes among them.
    with pytest.raises(ValueError) as caught:
        st.query(pages='home', devise='x')
    assert str(caught.value).startswith(
        "unknown query criterion 'devise' (did you mean 'device'?), "
        "'pages' (did you mean 'page'?): expected ")


def test_query_of_a_declared_index_not_set_up_names_setup_indexes():
    st = TrackingStorage()
    st.saveUserTrack('a', 0, 'u', {'page': 'home'})
    st.trackFactory = Visit           # declared, not yet indexed
    with pytest.raises(ValueError, match=r"'page' yet: .*setupIndexes\(\)"):
        st.query(page='home')
    st.setupIndexes()
    assert ids(st.query(page='home')) == ['0000001']


def test_unknown_criteria_can_be_ignored_as_loops_did(filled):
    filled.ignoreUnknownCriteria = True
    assert filled.query(color='red') == []
    assert ids(filled.query(taskId='a002', color='red')) == ['0000003']
    assert [r.trackId for r in filled.queryRecords(
        taskId='a002', step=10)] == ['0000003']


def test_unknown_criteria_are_refused_before_anything_is_read(tmp_path):
    import transaction
    from cybertools_tracking.db import open_db
    path = str(tmp_path / 'q.fs')
    db = open_db(path)
    with db.transaction() as conn:
        st = conn.root()['tracks'] = TrackingStorage()
        for i in range(50):
            st.saveUserTrack('a%d' % i, 0, 'u%d' % i, {'i': i})
    db.close()
    loads = []
    for criteria in ({'user': 'u1'}, {'userName': 'u*'}):
        db = open_db(path)          # a cold cache each time
        conn = db.open()
        try:
            st = conn.root()['tracks']
            st._p_activate()
            conn.getTransferCounts(True)          # cleared
            try:
                st.query(**criteria)
            except ValueError:
                pass
            loads.append(conn.getTransferCounts()[0])
        finally:
            transaction.abort()
            conn.close()
            db.close()
    assert loads[0] == 0 and loads[1] > 0, loads


def test_query_limit_and_newest_first(filled):
    st = filled
    assert ids(st.query(taskId='a001', limit=2)) == ['0000001', '0000002']
    assert ids(st.query(taskId='a001', newestFirst=True)) == [
        '0000005', '0000002', '0000001']
    assert ids(st.query(timeFrom=0, newestFirst=True, limit=2)) == [
        '0000005', '0000004']
    with pytest.raises(ValueError, match='limit'):
        st.query(taskId='a001', limit=-1)


def test_query_type_errors_name_the_criterion(filled):
    with pytest.raises(TypeError, match='runId'):
        filled.query(runId='1')
    with pytest.raises(TypeError, match='taskId'):
        filled.query(taskId=1)


def test_reindex_keeps_query_results(filled):
    st = filled
    before = [ids(st.query(userName='u1*')), ids(st.query(timeFrom=T0 + 15)),
              st.getUserNames('a001'), st.getTaskIds()]
    st.reindexTracks()
    after = [ids(st.query(userName='u1*')), ids(st.query(timeFrom=T0 + 15)),
             st.getUserNames('a001'), st.getTaskIds()]
    assert before == after


def test_index_track_after_change_behind_the_back(filled):
    st = filled
    track = st['0000001']
    track.timeStamp = T0 + 1000
    st.indexTrack(0, track, 'timeStamp')
    assert ids(st.query(timeFrom=T0 + 500)) == ['0000001']
    assert st.getLastUserTrack('a001', 0, 'u1') is track
    track.userName = 'moved'
    st.indexTrack(1, track)
    assert st.getUserNames('a001') == ['moved', 'u10', 'u2']
    assert st.getUserTracks('a001', 0, 'u1') == []
    with pytest.raises(ValueError, match="index 'nope' not available"):
        st.indexTrack(0, track, 'nope')


class Visit(Track):
    """A track class with extra indexes, one an attribute, one from data."""
    index_attributes = Track.index_attributes + ('device', 'page')
    typeName = 'Visit'
    device = None


def test_custom_track_factory_with_extra_indexes():
    st = TrackingStorage(trackFactory=Visit)
    assert st.indexAttributes == Track.index_attributes + ('device', 'page')
    st.saveUserTrack('a', 0, 'u', {'page': 'home'})
    st.saveUserTrack('a', 0, 'u', {'page': 'shop'})
    st.saveUserTrack('a', 0, 'u', {})                     # not indexed
    st['0000002'].device = 'phone'
    st.indexTrack(0, st['0000002'], 'device')
    assert repr(st['0000001']).startswith("<Visit ['a', 1, 'u', ")
    assert ids(st.query(page='home')) == ['0000001']
    assert ids(st.query(page=['home', 'shop'])) == ['0000001', '0000002']
    assert ids(st.query(page='s*')) == ['0000002']
    assert ids(st.query(device='phone', taskId='a')) == ['0000002']
    assert ids(st.query(page='shop', newestFirst=True)) == ['0000002']
    st.setTrackData('0000002', {'page': 'cart'})
    assert ids(st.query(page='shop')) == [] and \
        ids(st.query(page='cart')) == ['0000002']
    st.removeTrack('0000001')
    assert st.query(page='home') == []


def test_extra_index_refuses_mixed_types_and_stores_nothing():
    st = TrackingStorage(trackFactory=Visit)
    st.saveUserTrack('a', 0, 'u', {'page': 'home'})
    with pytest.raises(TypeError, match="index 'page' holds strings, got 3"):
        st.saveUserTrack('a', 0, 'u', {'page': 3})
    assert len(st) == 1
    with pytest.raises(TypeError, match="index 'page' holds strings"):
        st.updateTrack('0000001', {'page': 4})
    assert st['0000001'].data == {'page': 'home'}
    with pytest.raises(TypeError, match='string or a number'):
        st.saveUserTrack('a', 0, 'u', {'page': ['x']})
    assert len(st) == 1 and ids(st.query(page='home')) == ['0000001']


def test_bad_track_factory():
    with pytest.raises(TypeError, match='trackFactory'):
        TrackingStorage(trackFactory=dict)


def test_added_index_attributes_are_filled_by_setup_indexes():
    st = TrackingStorage()
    st.saveUserTrack('a', 0, 'u', {'page': 'home'})
    st.trackFactory = Visit
    assert st.setupIndexes() == ['device', 'page']
    assert ids(st.query(page='home')) == ['0000001']


def test_reprs(st):
    st.saveUserTrack('a', 0, 'u', {'k': 'v'}, timeStamp=T0)
    assert repr(st['0000001']).startswith("<Track ['a', 1, 'u', '20")
    assert repr(st['0000001']).endswith("']: {'k': 'v'}>")
    assert repr(st.getRun(1)).startswith('<Run 1, 20')
    assert repr(st.getRun(1)).endswith(', False>')


def test_free_track_update_without_storage():
    track = Track('a', 1, 'u', {'x': 1}, timeStamp=T0)
    track.update({'y': 2})
    assert track.data == {'x': 1, 'y': 2} and track.timeStamp > T0
    assert track.indexdata == {'taskId': 'a', 'runId': 1, 'userName': 'u',
                               'timeStamp': track.timeStamp}


def test_old_dict_pickles_still_load():
    track = Track.__new__(Track)
    track.__setstate__({'taskId': 'a', 'runId': 1, 'userName': 'u',
                        'timeStamp': T0, 'data': {}, '__name__': '0000007'})
    assert track.taskId == 'a' and track.data == {}


def test_subclass_attributes_survive_the_compact_state():
    track = Visit('a', 1, 'u', {})
    track.device = 'tv'
    copy = Visit.__new__(Visit)
    copy.__setstate__(track.__getstate__())
    assert copy.device == 'tv' and copy.taskId == 'a'


def test_run_conflict_resolution_merges_end_and_finished():
    run = Run(1, 'a', start=T0)
    old = run.__getstate__()
    saved = dict(old, end=T0 + 10)
    new = dict(old, end=T0 + 5, finished=True)
    merged = run._p_resolveConflict(old, saved, new)
    assert merged['end'] == T0 + 10 and merged['finished'] is True
    merged = run._p_resolveConflict(old, dict(old, finished=True),
                                    dict(old, end=T0 + 3))
    assert merged['finished'] is True and merged['end'] == T0 + 3
    from ZODB.POSException import ConflictError
    with pytest.raises(ConflictError, match='taskId'):
        run._p_resolveConflict(old, dict(old, taskId='b'), dict(old))


def test_check_storage_finds_nothing_in_a_used_storage(filled):
    from cybertools_tracking.check import check_storage
    st = filled
    st.saveUserTrack('a001', 0, 'u1', {'x': 1}, update=True)
    st.removeTrack('0000002')
    st.stopRun('a002')
    assert check_storage(st) == []
    st.reindexTracks()
    assert check_storage(st) == []


def test_check_storage_finds_what_is_broken(filled):
    from cybertools_tracking.check import check_storage
    st = filled
    key, ts, row = st._store.find(1)       # a time behind the index's back
    st._store.rewrite(key, ts, 1, row[1], {'timeStamp': ts + 5})
    st._tracks.pop(3)                      # a track gone, its entries left
    problems = check_storage(st)
    assert "len() says 5, there are 4 tracks" in problems
    assert any('track 1 is missing from the index' in p for p in problems)
    assert any('lists track 3' in p for p in problems)
    assert any('time index' in p for p in problems)


# Validate, then write: every refusal leaves the storage as it was


class Level(Track):
    """A track class with a numeric extra index, taken from the data."""
    index_attributes = Track.index_attributes + ('level',)
    typeName = 'Level'


def deep(levels):
    data = {}
    for _ in range(levels - 1):
        data = {'a': data}
    return data


@pytest.fixture
def levels():
    st = TrackingStorage(trackFactory=Level)
    st.saveUserTrack('t', 0, 'u', {'level': 1.0}, timeStamp=T0)
    st.saveUserTrack('t', 0, 'v', {'level': 2}, timeStamp=T0 + 1)
    st.saveUserTrack('t', 0, 'u', {'level': 1.0, 'x': [1]}, timeStamp=T0 + 2)
    return st


def refused(st, call, error, *words):
    """Assert that ``call()`` raises ``error`` with ``words`` in its message
    and leaves ``st`` exactly as it was."""
    before, problems = snapshot(st), check_storage(st)
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, ValidationError)
    for word in words:
        assert word in str(info.value)
    assert snapshot(st) == before
    assert check_storage(st) == problems
    return str(info.value)


@pytest.mark.parametrize('ts, shown', [
    (2 ** 63, '9223372036854775808'),
    (1e19, '1e+19'),              # what JSON's 1e19 decodes to
    (-2 ** 64, '-18446744073709551616'),
])
def test_timestamps_out_of_range_store_nothing(levels, ts, shown):
    st = levels
    refused(st, lambda: st.saveUserTrack('t', 0, 'u', {}, timeStamp=ts),
            InvalidValueError, 'timeStamp', shown, 'years 1 to 9999')
    refused(st, lambda: st.saveUserTrack('t', 0, 'u', {'x': 1}, update=True,
                                         timeStamp=ts),
            InvalidValueError, 'timeStamp')
    refused(st, lambda: st.updateTrack('0000001', {'x': 1}, timeStamp=ts),
            InvalidValueError, 'timeStamp')
    refused(st, lambda: st.query(timeFrom=ts), InvalidValueError, 'timeFrom')
    refused(st, lambda: st.query(timeStamp=[T0, ts]), InvalidValueError,
            'timeStamp')


def test_timestamps_at_the_ends_of_the_range(st):
    from cybertools_tracking.validation import TIMESTAMP_MAX, TIMESTAMP_MIN
    st.saveUserTrack('t', 0, 'u', {}, timeStamp=TIMESTAMP_MIN)
    st.saveUserTrack('t', 0, 'u', {}, timeStamp=TIMESTAMP_MAX)
    assert ids(st.query(timeTo=TIMESTAMP_MIN)) == ['0000001']
    assert ids(st.query(timeFrom=TIMESTAMP_MAX)) == ['0000002']
    assert repr(st['0000002']).startswith("<Track ['t', 1, 'u', '")
    assert check_storage(st) == []


@pytest.mark.parametrize('argument', ['taskId', 'userName'])
def test_lone_surrogates_in_names_store_nothing(filled, argument):
    st = filled
    args = {'taskId': 'a001', 'userName': 'u1', argument: 'bad\udcff'}
    refused(st, lambda: st.saveUserTrack(args['taskId'], 0, args['userName'],
                                         {}),
            InvalidValueError, argument, "'bad\\udcff'", 'UTF-8')
    refused(st, lambda: st.query(**{argument: ['a001', 'bad\udcff']}),
            InvalidValueError, argument)
    refused(st, lambda: st.query(**{argument: 'bad\udcff*'}),
            InvalidValueError, argument)
    refused(st, lambda: st.getUserTracks(args['taskId'], 0,
                                         args['userName']),
            InvalidValueError, argument)
    # Nothing stored, so what reads every name still works.
    assert st.getTaskIds() == ['a001', 'a002', 'b001']
    assert st.getUserNames('a001') == ['u1', 'u10', 'u2']


def test_lone_surrogates_in_runs_and_data(filled):
    st = filled
    refused(st, lambda: st.startRun('bad\udcff'), InvalidValueError,
            'taskId')
    refused(st, lambda: st.stopRun('bad\udcff'), InvalidValueError, 'taskId')
    refused(st, lambda: st.saveUserTrack('a001', 0, 'u1', {'k': '\udcff'}),
            InvalidValueError, "data['k']")
    refused(st, lambda: st.setTrackData('0000001', {'\udcff': 1}),
            InvalidValueError, 'keys in data')


def test_nan_in_an_extra_index_stores_nothing(levels):
    st = levels
    nan = float('nan')
    message = refused(st, lambda: st.saveUserTrack('t', 0, 'u',
                                                   {'level': nan}),
                      InvalidValueError)
    assert message == ("value of index 'level' must not be NaN (a BTree "
                       "cannot order it), got nan")
    refused(st, lambda: st.saveUserTrack('t', 0, 'u', {'level': nan},
                                         update=True),
            InvalidValueError, 'NaN')
    refused(st, lambda: st.updateTrack('0000002', {'level': nan}),
            InvalidValueError, 'NaN')
    refused(st, lambda: st.setTrackData('0000002', {'level': nan}),
            InvalidValueError, 'NaN')
    refused(st, lambda: st.query(level=nan), InvalidValueError, 'NaN')
    assert ids(st.query(level=1.0)) == ['0000001', '0000003']
    assert ids(st.query(level=[2, 3])) == ['0000002']


def test_nesting_deeper_than_the_limit_stores_nothing(levels):
    st = levels
    assert st.saveUserTrack('t', 0, 'w', deep(100)) == '0000004'
    for call in (lambda: st.saveUserTrack('t', 0, 'u', deep(500)),
                 lambda: st.saveUserTrack('t', 0, 'u', deep(101),
                                          update=True),
                 lambda: st.updateTrack('0000001', {'d': deep(100)}),
                 lambda: st.setTrackData('0000001', deep(101))):
        refused(st, call, InvalidValueError,
                'is nested more than 100 levels deep')


def test_wrong_types_in_data_store_nothing(levels):
    st = levels
    refused(st, lambda: st.saveUserTrack('t', 0, 'u', {'f': len}),
            InvalidTypeError, "data['f'] must be None, a bool")
    refused(st, lambda: st.updateTrack('0000001', {'s': {1}}),
            InvalidTypeError, "data['s']")
    refused(st, lambda: st.updateTrack('0000001', ['not a mapping']),
            InvalidTypeError, 'data must be a mapping')
    refused(st, lambda: st.saveUserTrack('t', 0, 'u', {'level': [1]}),
            InvalidTypeError, "index 'level' must be a string or a number")
    refused(st, lambda: st.saveUserTrack('t', 0, 'u', {'level': 'high'}),
            InvalidTypeError, "index 'level' holds numbers, got 'high'")


def test_run_arguments(filled):
    st = filled
    refused(st, lambda: st.saveUserTrack('a001', 2 ** 64, 'u', {}),
            InvalidValueError, 'runId', '2**63 - 1', '18446744073709551616')
    refused(st, lambda: st.startRun(5), InvalidTypeError,
            'taskId must be a string, got 5')
    refused(st, lambda: st.stopRun(['a001']), InvalidTypeError, 'taskId')
    refused(st, lambda: st.stopRun('a001', runId='1'), InvalidTypeError,
            'runId')
    refused(st, lambda: st.stopRun(runId=2 ** 63), InvalidValueError,
            'runId')
    with pytest.raises(InvalidValueError, match='runId'):
        st.getRun(2 ** 63)
    with pytest.raises(InvalidTypeError, match='taskId'):
        st.getRuns(taskId=5)


@pytest.mark.parametrize('call, words', [
    (lambda st: st.getUserNames(None), ['taskId must be a string, got None']),
    (lambda st: st.getUserTracks('a001', 0, None), ['userName', 'None']),
    (lambda st: st.getLastUserTrack(1, 0, 'u1'), ['taskId', '1']),
    (lambda st: st.getRun(taskId=b'a001'), ['taskId', "b'a001'"]),
    (lambda st: st.query(taskId=None), ['taskId', 'None']),
    (lambda st: st.query(runId=1.5), ['runId', '1.5']),
    (lambda st: st.query(timeFromTo=(1, 2, 3)), ['timeFromTo']),
    (lambda st: st.query(taskId='a001', limit='2'), ['limit', "'2'"]),
])
def test_read_methods_name_the_bad_argument(filled, call, words):
    with pytest.raises(InvalidTypeError) as info:
        call(filled)
    for word in words:
        assert word in str(info.value)


def test_assigning_an_index_key_checks_it_first(levels):
    # An assigned index key is checked, then filed at once; a refused
    # value is kept neither in the storage nor in the view.
    st = levels
    track = st['0000002']
    refused(st, lambda: setattr(track, 'level', float('nan')),
            InvalidValueError, 'NaN')
    refused(st, lambda: setattr(track, 'userName', 'bad\udcff'),
            InvalidValueError, 'userName')
    assert track.userName == 'v'
    refused(st, lambda: setattr(track, 'timeStamp', 2 ** 63),
            InvalidValueError, 'timeStamp')
    refused(st, lambda: setattr(track, 'runId', 7), InvalidValueError,
            'runId 7 is not a run of task')
    refused(st, lambda: delattr(track, 'taskId'), InvalidValueError,
            'cannot be deleted')
    track.timeStamp = T0 + 1.5         # a float is filed, and made an int
    assert track.timeStamp == T0 + 1 and type(track.timeStamp) is int
    assert check_storage(st) == []
    track.timeStamp = T0 + 100         # the run is extended to the track
    assert st.getRun(1).end == T0 + 100
    st.indexTrack(0, track)            # loops' call after a change: a no-op
    assert check_storage(st) == []
    with pytest.raises(InvalidTypeError, match='num must be a track number'):
        st.indexTrack(1.0, track)
    with pytest.raises(KeyError, match='not stored here under number 3'):
        st.indexTrack(3, track)
    with pytest.raises(KeyError):
        st.indexTrack(2 ** 64, track)


def behind_the_back(st, num, **extras):
    """Put values in a row that no call of the storage would accept (as
    an old or damaged database may hold them)."""
    key, ts, row = st._store.find(num)
    st._store.rewrite(key, ts, num, row[1], dict(row[2] or (), **extras))


def test_reindex_checks_every_track_first(levels):
    st = levels
    behind_the_back(st, 3, timeStamp=-2 ** 64)
    message = refused(st, st.reindexTracks, InvalidValueError)
    assert message.startswith('track 0000003: timeStamp must be a second')
    behind_the_back(st, 3, timeStamp=T0 + 2)
    behind_the_back(st, 2, level='two')  # a string in an index of numbers
    message = refused(st, st.reindexTracks, InvalidTypeError)
    assert message == "track 0000002: index 'level' holds numbers, got 'two'"
    del st['0000002'].level
    st.reindexTracks()
    assert check_storage(st) == []
    assert ids(st.query(level=1.0)) == ['0000001', '0000003']


def test_setup_indexes_checks_every_value_first(st):
    st.saveUserTrack('a', 0, 'u', {'level': 1})
    st.saveUserTrack('a', 0, 'u', {'level': float('nan')})
    st.trackFactory = Level
    message = refused(st, st.setupIndexes, InvalidValueError)
    assert message.startswith("track 0000002: value of index 'level'")
    assert st._fields == {}
    st.setTrackData('0000002', {'level': 2})
    assert st.setupIndexes() == ['level']
    assert ids(st.query(level=[1, 2])) == ['0000001', '0000002']


def test_index_track_by_id_and_prefix_on_numbers(levels):
    st = levels
    st.indexTrack(0, '0000002')        # the track given by its id
    assert check_storage(st) == []
    refused(st, lambda: st.query(level='1*'), InvalidTypeError,
            "prefix query '1*' on index 'level', which holds numbers")

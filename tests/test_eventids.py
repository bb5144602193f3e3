"""Event ids: a re-sent save stores nothing (xAPI's rule), other content
under a known id is refused, and writers adding ids do not conflict."""

import datetime
import decimal

import pytest
import transaction
from hypothesis import given, settings
from hypothesis import strategies as st
from ZODB.POSException import ConflictError
from zope.interface.verify import verifyObject

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.eventids import EventIdConflictError, EventIdIndex
from cybertools_tracking.goals import CountTracker
from cybertools_tracking.interfaces import IEventIdIndex
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.validation import ValidationError

from tests.snapshot import snapshot

T0 = 1_700_000_000


def state(storage):
    events = storage._eventIds
    return snapshot(storage), (None if events is None else (
        sorted(events._byId.items()), list(events._byNum.items())))


def test_the_index_provides_its_interface():
    assert verifyObject(IEventIdIndex, EventIdIndex())


def test_a_resent_save_returns_the_first_track_and_changes_nothing():
    st = TrackingStorage()
    st.goals.add_tracker('ann', CountTracker(name='saves', conditions=[], target=10))
    data = {'score': 3, 'when': datetime.date(2024, 1, 1),
            'd': decimal.Decimal('1.10'), 'nan': float('nan')}
    first = st.saveUserTrack('quiz', 0, 'ann', data, eventId='e-1')
    progress = st.goals.get_trackers('ann')[0].progress
    assert progress == 1
    before = state(st)
    # The same content, with the keys in another order and later in time
    # (no timeStamp given: "now" is not part of the content).
    again = st.saveUserTrack('quiz', 0, 'ann', dict(reversed(data.items())),
                             eventId='e-1')
    assert again == first
    assert state(st) == before
    assert st.goals.get_trackers('ann')[0].progress == 1
    assert st.getTrackByEventId('e-1') is st[first]
    assert st.getEventId(first) == 'e-1'
    assert st.getEventId(st[first]) == 'e-1'
    assert check_storage(st) == []


def test_the_run_is_not_content():
    st = TrackingStorage()
    first = st.saveUserTrack('t', 0, 't-run', {}, timeStamp=T0, eventId='e')
    st.startRun('t')
    before = state(st)
    assert st.saveUserTrack('t', 0, 't-run', {}, timeStamp=T0,
                            eventId='e') == first
    assert st.saveUserTrack('t', 2, 't-run', {}, timeStamp=T0,
                            eventId='e') == first
    assert state(st) == before


def test_a_resend_may_leave_out_the_time_or_give_the_one_stored():
    st = TrackingStorage()
    # The first save with the clock's time; a re-send with that time (as
    # the first answer showed it, or as a float of that second) is the
    # same event, another time is not.
    first = st.saveUserTrack('t', 0, 'u', {'a': 1}, eventId='clock')
    stored = st[first].timeStamp
    before = state(st)
    for given in (None, stored, stored + 0.5):
        assert st.saveUserTrack('t', 0, 'u', {'a': 1}, timeStamp=given,
                                eventId='clock') == first
    assert state(st) == before
    with pytest.raises(EventIdConflictError) as caught:
        st.saveUserTrack('t', 0, 'u', {'a': 1}, timeStamp=stored + 1,
                         eventId='clock')
    assert caught.value.differences == (('timeStamp', stored, stored + 1),)
    # The first save with a time; a re-send without one is the same.
    given = st.saveUserTrack('t', 0, 'u', {'a': 1}, timeStamp=T0,
                             eventId='given')
    assert st.saveUserTrack('t', 0, 'u', {'a': 1}, eventId='given') == given
    # Updating the track later changes neither rule.
    st.updateTrack(given, {'b': 2}, timeStamp=T0 + 50)
    assert st.saveUserTrack('t', 0, 'u', {'a': 1}, timeStamp=T0,
                            eventId='given') == given
    with pytest.raises(EventIdConflictError) as caught:
        st.saveUserTrack('t', 0, 'u', {'a': 1}, timeStamp=T0 + 50,
                         eventId='given')
    assert caught.value.differences == (('timeStamp', T0, T0 + 50),)
    assert check_storage(st) == []


def test_entries_of_the_first_version_keep_their_rule():
    # (num, digest of taskId, userName, data and the time as given)
    from cybertools_tracking.eventids import EventContent
    st = TrackingStorage()
    first = st.saveUserTrack('t', 0, 'u', {'a': 1}, timeStamp=T0,
                             eventId='old')
    num = st._eventIds.find('old')
    st._eventIds._byId['old'] = (num, EventContent(
        't', 'u', {'a': 1}, T0, True)._legacy_digest())
    assert st.saveUserTrack('t', 0, 'u', {'a': 1}, timeStamp=T0,
                            eventId='old') == first
    with pytest.raises(EventIdConflictError, match="data {'a': 1}, now"):
        st.saveUserTrack('t', 0, 'u', {'a': 2}, timeStamp=T0,
                         eventId='old')
    assert check_storage(st) == []


def test_the_observers_are_not_told_of_a_resent_save():
    from zope.interface import implementer
    from cybertools_tracking.interfaces import ITrackObserver

    @implementer(ITrackObserver)
    class Told:
        calls = 0

        def trackAdded(self, storage, track):
            Told.calls += 1

    st = TrackingStorage()
    st.addTrackObserver(Told())
    st.saveUserTrack('t', 0, 'u', {}, timeStamp=T0, eventId='x')
    st.saveUserTrack('t', 0, 'u', {}, timeStamp=T0, eventId='x')
    assert Told.calls == 1


@pytest.mark.parametrize('change', [
    dict(taskId='other'), dict(userName='bob'), dict(data={'score': 4}),
    dict(timeStamp=T0 + 1), dict(data={'score': 3.0}),
    dict(taskId='other', runId=1),
])
def test_other_content_under_a_known_id_is_refused_naming_both(change):
    st = TrackingStorage()
    st.startRun('other')                    # run 1, for runId=1 of 'other'
    st.startRun('quiz')
    first = st.saveUserTrack('quiz', 0, 'ann', {'score': 3}, timeStamp=T0,
                             eventId='e-1')
    call = dict(taskId='quiz', runId=0, userName='ann', data={'score': 3},
                timeStamp=T0)
    call.update(change)
    before = state(st)
    with pytest.raises(EventIdConflictError) as caught:
        st.saveUserTrack(eventId='e-1', **call)
    message = str(caught.value)
    assert "'e-1'" in message and first in message
    # Each field that differs, with both values; no other field.
    stored = dict(taskId='quiz', userName='ann', data={'score': 3},
                  timeStamp=T0)
    differing = [field for field in stored if field in change]
    for field in stored:
        if field in differing:
            assert '%s %r, now %r' % (field, stored[field],
                                      call[field]) in message, message
        else:
            assert field + ' ' not in message, message
    assert [d[0] for d in caught.value.differences] == differing
    assert caught.value.trackId == first and caught.value.eventId == 'e-1'
    assert isinstance(caught.value, ValueError)
    assert state(st) == before


@pytest.mark.parametrize('bad, error', [
    ('', ValueError), (1, TypeError), (b'x', TypeError),
    ('\udcff', ValueError),
])
def test_bad_event_ids_are_refused_before_anything_is_written(bad, error):
    st = TrackingStorage()
    before = state(st)
    with pytest.raises(error) as caught:
        st.saveUserTrack('t', 0, 'u', {}, eventId=bad)
    assert isinstance(caught.value, ValidationError)
    assert 'eventId' in str(caught.value)
    assert state(st) == before


def test_an_event_id_names_a_new_track_not_an_update():
    st = TrackingStorage()
    st.saveUserTrack('t', 0, 'u', {'a': 1})
    before = state(st)
    for options in (dict(update=True), dict(replace=True)):
        with pytest.raises(ValueError, match='names a new track'):
            st.saveUserTrack('t', 0, 'u', {'a': 2}, eventId='e', **options)
    assert state(st) == before


def test_removing_a_track_forgets_its_event_id():
    st = TrackingStorage()
    first = st.saveUserTrack('t', 0, 'u', {}, timeStamp=T0, eventId='e')
    st.saveUserTrack('t', 0, 'u', {}, timeStamp=T0, eventId='f')
    st.removeTrack(first)
    assert st.getTrackByEventId('e') is None
    assert st.getTrackByEventId('f') is not None
    assert len(st._eventIds) == 1
    again = st.saveUserTrack('t', 0, 'u', {}, timeStamp=T0, eventId='e')
    assert again != first
    assert check_storage(st) == []
    assert st.getTrackByEventId('never') is None
    with pytest.raises(KeyError):
        st.getEventId(first)


def test_tracks_without_ids_behave_as_before():
    st = TrackingStorage()
    a = st.saveUserTrack('t', 0, 'u', {}, timeStamp=T0)
    b = st.saveUserTrack('t', 0, 'u', {}, timeStamp=T0)
    assert a != b and st.getEventId(a) is None and len(st._eventIds) == 0


def test_a_storage_from_before_event_ids_gets_its_index_on_first_use():
    st = TrackingStorage()
    del st._eventIds                       # as pickled before event ids
    assert st._eventIds is None
    assert st.getTrackByEventId('e') is None
    tid = st.saveUserTrack('t', 0, 'u', {}, eventId='e')
    assert st.getTrackByEventId('e') is st[tid]
    assert check_storage(st) == []


def test_check_finds_a_broken_index():
    st = TrackingStorage()
    tid = st.saveUserTrack('t', 0, 'u', {}, eventId='e')
    st._eventIds._byNum.pop(st._num(tid))
    st._eventIds._byId['ghost'] = (999, b'')
    problems = check_storage(st)
    assert any("'e' names track 1, whose event id is None" in p
               for p in problems)
    assert any("'ghost' names track 999, which is not there" in p
               for p in problems)


def test_writers_adding_different_ids_do_not_conflict(tmp_path):
    db = open_db(str(tmp_path / 'e.fs'))
    try:
        with db.transaction() as conn:
            get_storage(conn).saveUserTrack('t', 0, 'u', {}, eventId='0')
        managers = [transaction.TransactionManager() for _ in range(2)]
        conns = [db.open(transaction_manager=m) for m in managers]
        for writer, conn in enumerate(conns):
            for n in range(50):
                get_storage(conn).saveUserTrack(
                    't', 0, 'u%d' % writer, {'n': n}, timeStamp=T0 + n,
                    eventId='w%d-%d' % (writer, n))
        for manager in managers:
            manager.commit()        # no ConflictError
        # The same new id in two writers: one of them conflicts.
        for conn in conns:
            get_storage(conn).saveUserTrack('t', 0, 'u', {}, eventId='same')
        managers[0].commit()
        with pytest.raises(ConflictError):
            managers[1].commit()
        managers[1].abort()
        for conn in conns:
            conn.close()
        with db.transaction() as conn:
            storage = get_storage(conn)
            assert len(storage._eventIds) == 102
            assert check_storage(storage) == []
    finally:
        db.close()

IDS = st.one_of(st.text(max_size=6), st.sampled_from(['', '\udcff', 'x']),
                st.integers(), st.none(), st.binary(max_size=2))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(IDS, st.sampled_from(['t', 'u']),
                          st.integers(0, 2), st.booleans()), max_size=12))
def test_any_sequence_of_saves_and_removals_keeps_the_index_exact(steps):
    storage = TrackingStorage()
    expected = {}                      # eventId -> (track id, content)
    for eventId, task, value, remove in steps:
        before = state(storage)
        content = (task, {'v': value})
        try:
            tid = storage.saveUserTrack(task, 0, 'u', {'v': value},
                                        timeStamp=T0, eventId=eventId)
        except ValidationError:
            assert state(storage) == before
            known = expected.get(eventId)
            assert eventId is not None and (
                not isinstance(eventId, str) or eventId == ''
                or '\udcff' in eventId or known[1] != content)
            continue
        if eventId is not None:
            if eventId in expected:
                assert expected[eventId] == (tid, content)
                assert state(storage) == before
            expected[eventId] = (tid, content)
        if remove:
            storage.removeTrack(tid)
            expected = {e: v for e, v in expected.items() if v[0] != tid}
    assert {e: v[0] for e, v in expected.items()} == {
        e: storage.getTrackByEventId(e).__name__ for e in expected}
    assert len(storage._eventIds) == len(expected)
    assert check_storage(storage) == []

"""A track's data refuses changes in place (readonly.py), and changes
made with the storage's methods are stored, across a restart too."""

import copy
import json
import pickle

import pytest
import transaction
import ZODB
from ZODB.FileStorage import FileStorage

from cybertools_tracking.check import check_storage
from cybertools_tracking.readonly import (ReadOnlyDataError, ReadOnlyDict,
                                          ReadOnlyList, read_only)
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.track import Track
from cybertools_tracking.validation import ValidationError

T0 = 1_700_000_000
PLAIN = {'score': 7, 'answers': ['a', {'b': [1, 2]}], 'pair': (1, [2]),
         'text': 'caf\u00e9'}


def view():
    return read_only(copy.deepcopy(PLAIN))


def test_views_of_dicts_and_lists_inside_too():
    data = view()
    assert type(data) is ReadOnlyDict
    assert type(data['answers']) is ReadOnlyList
    assert type(data['answers'][1]) is ReadOnlyDict
    assert type(data['answers'][1]['b']) is ReadOnlyList
    assert type(data['pair']) is tuple
    assert type(data['pair'][1]) is ReadOnlyList
    flat = (1, 'x')
    assert read_only(flat) is flat and read_only('s') == 's'


def test_views_read_like_plain_dicts_and_lists():
    data = view()
    assert data == PLAIN and PLAIN == data
    assert repr(data) == repr(PLAIN) and str(data) == str(PLAIN)
    assert json.dumps(data) == json.dumps(PLAIN)
    assert isinstance(data, dict) and isinstance(data['answers'], list)
    assert data['answers'] + ['c'] == ['a', {'b': [1, 2]}, 'c']
    assert data | {'x': 1} == dict(PLAIN, x=1)
    assert sorted(data) == sorted(PLAIN) and data.get('nothing') is None


@pytest.mark.parametrize('copied', [
    lambda d: copy.deepcopy(d),
    lambda d: pickle.loads(pickle.dumps(d)),
    lambda d: pickle.loads(pickle.dumps(d, protocol=0)),
])
def test_deep_copies_are_plain_and_mutable(copied):
    data = copied(view())
    assert data == PLAIN
    assert type(data) is dict and type(data['answers']) is list
    assert type(data['answers'][1]) is dict
    assert type(data['pair'][1]) is list
    data['answers'][1]['b'].append(3)       # no error


def test_shallow_copies_are_plain_on_top():
    data = view()
    for shallow in (dict(data), data.copy(), copy.copy(data)):
        assert type(shallow) is dict and shallow == PLAIN
        shallow['score'] = 8                 # the copy is the caller's
    assert data['score'] == 7
    assert type(copy.copy(data['answers'])) is list
    assert type(data['answers'].copy()) is list
    assert type(data['answers'][:1]) is list
    assert type(ReadOnlyDict.fromkeys('ab')) is dict


CHANGES = [
    lambda d: d.__setitem__('score', 9),
    lambda d: d.__delitem__('score'),
    lambda d: d.update(score=9),
    lambda d: d.pop('score'),
    lambda d: d.popitem(),
    lambda d: d.setdefault('new', 1),
    lambda d: d.clear(),
    lambda d: d.__ior__({'x': 1}),
    lambda d: d['answers'].append('c'),
    lambda d: d['answers'].extend('c'),
    lambda d: d['answers'].insert(0, 'c'),
    lambda d: d['answers'].pop(),
    lambda d: d['answers'].remove('a'),
    lambda d: d['answers'].clear(),
    lambda d: d['answers'].sort(),
    lambda d: d['answers'].reverse(),
    lambda d: d['answers'].__setitem__(0, 'c'),
    lambda d: d['answers'].__setitem__(slice(0, 1), []),
    lambda d: d['answers'].__delitem__(0),
    lambda d: d['answers'].__iadd__(['c']),
    lambda d: d['answers'].__imul__(2),
    lambda d: d['answers'][1]['b'].append(3),
    lambda d: d['pair'][1].append(3),
]


@pytest.mark.parametrize('change', CHANGES)
def test_every_change_in_place_is_refused(change):
    data = view()
    with pytest.raises(ReadOnlyDataError) as info:
        change(data)
    assert isinstance(info.value, TypeError)
    for call in ('updateTrack', 'setTrackData', 'track.update'):
        assert call in str(info.value)
    assert data == PLAIN


def test_augmented_assignment_is_refused():
    data = view()
    with pytest.raises(ReadOnlyDataError):
        data['score'] += 1
    with pytest.raises(ReadOnlyDataError):
        data['answers'] += ['c']
    assert data == PLAIN


# tracks

def test_a_stored_track_refuses_changes_and_keeps_its_view(tmp_path):
    st = TrackingStorage()
    tid = st.saveUserTrack('t', 0, 'u', PLAIN, timeStamp=T0)
    track = st[tid]
    assert track.data is track.data          # made once, then kept
    with pytest.raises(ReadOnlyDataError):
        track.data['score'] = 9
    with pytest.raises(ReadOnlyDataError):
        track.data['answers'][1]['b'].append(3)
    assert track.data == PLAIN
    st.updateTrack(track, {'score': 9}, timeStamp=T0 + 1)
    assert track.data == dict(PLAIN, score=9)
    assert type(track.data) is ReadOnlyDict
    # What the track stores is plain: the views are never pickled.
    state = track.__getstate__()
    assert type(state[4]) is dict and type(state[4]['answers']) is list
    assert type(state[4]['answers'][1]['b']) is list


class Level(Track):
    index_attributes = Track.index_attributes + ('level',)


def test_assigning_data_of_a_stored_track_goes_through_the_storage():
    st = TrackingStorage(trackFactory=Level)
    tid = st.saveUserTrack('t', 0, 'u', {'level': 1}, timeStamp=T0)
    track = st[tid]
    track.data = {'level': 3}
    assert track.data == {'level': 3} and track.timeStamp == T0
    assert st.query(level=3) == [track] and st.query(level=1) == []
    with pytest.raises(ValidationError, match="index 'level' holds numbers"):
        track.data = {'level': 'three'}
    assert track.data == {'level': 3}
    assert check_storage(st) == []


def test_a_track_made_by_hand_has_read_only_data_too():
    data = {'n': [1]}
    track = Track('t', 1, 'u', data, timeStamp=T0)
    data['n'].append(2)
    assert track.data == {'n': [1]}
    with pytest.raises(ReadOnlyDataError):
        track.data['n'].append(2)
    track.update({'m': 2})
    assert track.data == {'n': [1], 'm': 2}
    track.data = {'x': 1}
    assert track.data == {'x': 1} and type(track.data) is ReadOnlyDict
    with pytest.raises(ValidationError):
        track.data = {'x': object()}
    assert track.data == {'x': 1}


def test_old_pickles_with_data_still_load():
    track = Track.__new__(Track)
    track.__setstate__({'taskId': 'a', 'runId': 1, 'userName': 'u',
                        'timeStamp': T0, 'data': {'k': [1]}})
    assert track.data == {'k': [1]} and type(track.data) is ReadOnlyDict


# across a restart

def open_storage(path):
    db = ZODB.DB(FileStorage(path))
    connection = db.open()
    root = connection.root()
    if 'tracks' not in root:
        root['tracks'] = TrackingStorage()
    return db, connection, root['tracks']


def test_refused_changes_and_stored_changes_across_a_restart(tmp_path):
    path = str(tmp_path / 'data.fs')
    db, connection, st = open_storage(path)
    one = st.saveUserTrack('t', 0, 'u', {'score': 1, 'tags': ['a']},
                           timeStamp=T0)
    two = st.saveUserTrack('t', 0, 'v', {'score': 2}, timeStamp=T0)
    transaction.commit()
    # Refused in place, so nothing is lost when the process ends.
    with pytest.raises(ReadOnlyDataError):
        st[one].data['score'] = 9
    with pytest.raises(ReadOnlyDataError):
        st[one].data['tags'].append('b')
    # The calls the error names change the data, and it is stored.
    st.updateTrack(two, {'score': 20, 'tags': ['x']}, timeStamp=T0 + 5)
    st.setTrackData(one, {'score': 10})
    transaction.commit()
    # The record holding the track's row: its combination's tree (small,
    # so one record; see store).
    key = (st[two].taskId, st[two].runId, st[two].userName)
    raw, _ = db.storage.load(st._store._combinations[key][1]._p_oid)
    assert b'score' in raw
    assert b'ReadOnly' not in raw and b'readonly' not in raw
    connection.close()
    db.close()

    db, connection, st = open_storage(path)
    try:
        assert st[one].data == {'score': 10} and st[one].timeStamp == T0
        assert st[two].data == {'score': 20, 'tags': ['x']}
        assert st[two].timeStamp == T0 + 5
        assert type(st[two].data['tags']) is ReadOnlyList
        st[two].update({'score': 21})
        with pytest.raises(ReadOnlyDataError):
            st[two].data.update(score=99)
        transaction.commit()
        assert check_storage(st) == []
    finally:
        connection.close()
        db.close()
    db, connection, st = open_storage(path)
    try:
        assert st[two].data == {'score': 21, 'tags': ['x']}
    finally:
        connection.close()
        db.close()


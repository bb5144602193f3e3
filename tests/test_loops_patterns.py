"""Calls loops makes on a storage keep working (issue 11)."""

import pytest
from zope.interface.verify import verifyObject

from cybertools.tracking.btree import TrackingStorage
from cybertools_tracking.interfaces import ITrackingStorage
from cybertools_tracking.storage import TrackingStorage as NewTrackingStorage

T0 = 1_700_000_000


def test_get_user_tracks_before_any_run():
    tracks = TrackingStorage()
    assert tracks.getUserTracks('a001', 0, 'u1') == []
    assert tracks.getLastUserTrack('a001', 0, 'u1') is None
    assert len(tracks.runs) == 0 and dict(tracks.currentRuns) == {}


def test_unknown_query_keys_are_ignored():
    tracks = TrackingStorage()
    tracks.saveUserTrack('a001', 0, 'u1', {}, timeStamp=T0)
    assert len(tracks.query(taskId='a001', sortBy='timeStamp')) == 1
    assert tracks.query(sortBy='timeStamp') == []


def test_repair_scripts_options_pass_through_query():
    # loops.repair.base.removeRecords(container, taskId=..., step=100,
    # stop=1000) hands its loop options to container.query.
    tracks = TrackingStorage()
    tracks.saveUserTrack('a001', 0, 'u1', {}, timeStamp=T0)
    tracks.saveUserTrack('a002', 0, 'u1', {}, timeStamp=T0)
    found = tracks.query(taskId='a001', step=100, stop=1000, fctparams={})
    assert [t.taskId for t in found] == ['a001']
    assert isinstance(tracks, NewTrackingStorage)
    with pytest.raises(ValueError, match="'step'"):
        NewTrackingStorage().query(taskId='a001', step=100)


def test_del_unindexes():
    tracks = TrackingStorage()
    tid = tracks.saveUserTrack('a001', 0, 'u1', {}, timeStamp=T0)
    del tracks[tid]
    assert tracks.getTaskIds() == [] and tracks.query(userName='u1') == []


def test_single_index_reindex():
    tracks = TrackingStorage()
    tid = tracks.saveUserTrack('a001', 0, 'u1', {}, timeStamp=T0)
    track = tracks[tid]
    track.userName = 'u2'
    tracks.indexTrack(0, track, 'userName')
    assert tracks.query(userName='u2') == [track]
    assert tracks.query(userName='u1') == []


def test_runs_and_finished_runs():
    tracks = TrackingStorage()
    tracks.saveUserTrack('a001', 0, 'u1', {}, timeStamp=T0)
    second = tracks.startRun('a001')
    assert list(tracks.runs) == [1, second] and len(tracks.finishedRuns) == 0
    tracks.stopRun('a001', 1)
    assert list(tracks.runs) == [second]
    assert tracks.finishedRuns[1].finished
    assert tracks.runs.get(1) is None and 1 not in tracks.runs
    assert dict(tracks.currentRuns) == {'a001': second}
    for bad in ('1', 0, True, -1):
        assert tracks.runs.get(bad) is None
    with pytest.raises(TypeError):
        tracks.runs[3] = None


def test_the_storage_provides_its_interface():
    verifyObject(ITrackingStorage, TrackingStorage())

"""The storage against a plain-Python model, on random operation sequences.

The model is a list of track records and a dict of current runs, written
as directly as possible from the ITrackingStorage contract. Any difference
between the two after any sequence of operations is a bug in one of them.
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition,
                                 rule)

from cybertools_tracking.storage import TrackingStorage

TASKS = st.sampled_from(['a', 'ab', 'b'])
USERS = st.sampled_from(['u', 'u1', 'v', 'xu'])
TIMES = st.integers(min_value=100, max_value=110)


class StorageModel(RuleBasedStateMachine):

    def __init__(self):
        super().__init__()
        self.storage = TrackingStorage()
        self.tracks = {}          # num -> dict(task, run, user, ts, data)
        self.current = {}         # task -> run id
        self.lastRun = 0
        self.lastNum = 0

    # operations

    def _run_for(self, task):
        if task not in self.current:
            self.lastRun += 1
            self.current[task] = self.lastRun
        return self.current[task]

    def _last(self, task, run, user):
        mine = [(t['ts'], num) for num, t in self.tracks.items()
                if (t['task'], t['run'], t['user']) == (task, run, user)]
        return max(mine)[1] if mine else None

    @rule(task=TASKS, user=USERS, ts=TIMES, value=st.integers(0, 9),
          update=st.booleans(), overwrite=st.booleans())
    def save(self, task, user, ts, value, update, overwrite):
        data = {'k%d' % (value % 3): value}
        result = self.storage.saveUserTrack(task, 0, user, data, update=update,
                                            timeStamp=ts, overwrite=overwrite)
        run = self.current.get(task)
        num = self._last(task, run, user) if (update and run) else None
        if num is not None:
            track = self.tracks[num]
            if data or overwrite:
                track['data'] = (dict(data) if overwrite
                                 else dict(track['data'], **data))
                track['ts'] = ts
        else:
            run = self._run_for(task)
            self.lastNum += 1
            num = self.lastNum
            self.tracks[num] = dict(task=task, run=run, user=user, ts=ts,
                                    data=dict(data))
        assert result == '%07i' % num

    @precondition(lambda self: self.tracks)
    @rule(index=st.integers(min_value=0))
    def remove(self, index):
        nums = sorted(self.tracks)
        num = nums[index % len(nums)]
        self.storage.removeTrack('%07i' % num)
        del self.tracks[num]

    @rule(task=TASKS)
    def start_run(self, task):
        self.lastRun += 1
        self.current[task] = self.lastRun
        assert self.storage.startRun(task) == self.lastRun

    @rule(task=TASKS)
    def stop_run(self, task):
        expected = self.current.pop(task, 0)
        assert self.storage.stopRun(task) == expected

    @rule()
    def reindex(self):
        self.storage.reindexTracks()

    # what must hold after every step

    def _ids(self, tracks):
        return [t.__name__ for t in tracks]

    def _expected(self, pred):
        return ['%07i' % n for n in sorted(self.tracks)
                if pred(self.tracks[n])]

    @invariant()
    def same_tracks(self):
        st_ = self.storage
        assert len(st_) == len(self.tracks)
        for num, t in self.tracks.items():
            track = st_[num]
            assert (track.taskId, track.runId, track.userName,
                    track.timeStamp, track.data) == (
                t['task'], t['run'], t['user'], t['ts'], t['data'])

    @invariant()
    def same_names(self):
        tasks = sorted({t['task'] for t in self.tracks.values()})
        assert self.storage.getTaskIds() == tasks
        for task in ['a', 'ab', 'b']:
            users = sorted({t['user'] for t in self.tracks.values()
                            if t['task'] == task})
            assert self.storage.getUserNames(task) == users

    @invariant()
    def same_user_tracks(self):
        for task in ['a', 'b']:
            run = self.current.get(task)
            for user in ['u', 'xu']:
                got = self.storage.getUserTracks(task, 0, user)
                expected = self._expected(
                    lambda t: (t['task'], t['run'], t['user'])
                    == (task, run, user))
                assert self._ids(got) == expected
                last = self.storage.getLastUserTrack(task, 0, user)
                num = self._last(task, run, user) if run else None
                assert (last.__name__ if last else None) == (
                    None if num is None else '%07i' % num)

    @invariant()
    def same_queries(self):
        q = self.storage.query
        assert self._ids(q(userName='u*')) == self._expected(
            lambda t: t['user'].startswith('u'))
        assert self._ids(q(taskId=['a', 'b'], userName='xu')) == \
            self._expected(lambda t: t['task'] in ('a', 'b')
                           and t['user'] == 'xu')
        assert self._ids(q(timeFromTo=(103, 106))) == self._expected(
            lambda t: 103 <= t['ts'] <= 106)
        assert self._ids(q(taskId='a*', timeTo=104)) == self._expected(
            lambda t: t['task'].startswith('a') and t['ts'] <= 104)
        assert self._ids(q(runId=1)) == self._expected(lambda t: t['run'] == 1)
        assert self._ids(q(runId=[1, 2], userName='u*')) == self._expected(
            lambda t: t['run'] in (1, 2) and t['user'].startswith('u'))
        assert self._ids(q(taskId='ab', runId=[2, 3, 4])) == self._expected(
            lambda t: t['task'] == 'ab' and t['run'] in (2, 3, 4))
        assert self._ids(q(taskId=['a*', 'b'], userName=['v', 'u1'])) == \
            self._expected(lambda t: t['user'] in ('v', 'u1'))
        newest = sorted(self.tracks, key=lambda n: (self.tracks[n]['ts'], n),
                        reverse=True)[:3]
        assert self._ids(q(timeFrom=0, newestFirst=True, limit=3)) == [
            '%07i' % n for n in newest]


StorageModel.TestCase.settings = settings(max_examples=150,
                                          stateful_step_count=30,
                                          deadline=None)
TestStorageModel = StorageModel.TestCase

"""Backfill in batches (``backfills.py``): resumable, each track counted
once, and the same result as a backfill in one transaction."""

import json
import random

import pytest
import transaction
from zope.interface.verify import verifyObject

from cybertools_tracking.backfills import BackfillJob
from cybertools_tracking.cli import main
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import (
    AccumulationTracker, ConflictingNameError, CountTracker, KeyValueEQ,
    KeyValueGE, KeyValueGT, KeyValueInList)
from cybertools_tracking.goals.serialize import tracker_to_json
from cybertools_tracking.interfaces import IBackfillJob

T0 = 1_700_000_000
TASKS = ['quiz-1', 'quiz-2', 'read-1']
USERS = ['ann', 'bob']


def fill(path, count=400, seed=3):
    db = open_db(path)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    tracks = get_storage(conn)
    rnd = random.Random(seed)
    for n in range(count):
        tracks.saveUserTrack(rnd.choice(TASKS), 0, rnd.choice(USERS),
                             {'score': rnd.randint(0, 9)},
                             timeStamp=T0 + rnd.randrange(10_000))
    tm.commit()
    conn.close()
    db.close()


def trackers():
    return [
        CountTracker('quizzes', [KeyValueInList('taskId',
                                                ['quiz-1', 'quiz-2'])],
                     [5, 30, 60, 10_000]),
        AccumulationTracker('points', [KeyValueGT('data.score', 4)],
                            [50, 200], key='data.score', loop_forever=True),
        CountTracker('reads', [KeyValueEQ('taskId', 'read-1'),
                               KeyValueGE('data.score', 3)], 10_000),
    ]


class Opened:
    """A FileStorage opened with a connection and manager of its own."""

    def __init__(self, path):
        self.db = open_db(path)
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(self.tm)
        self.tracks = get_storage(self.conn, create=False)

    def close(self):
        self.tm.abort()
        self.conn.close()
        self.db.close()


def outcome(tracks, user='ann'):
    found = tracks.goals.get_trackers(user, include_completed=True)
    return ([(t.name, t.progress, t.current_stage, t.laps, t.state)
             for t in found], tracks.goals.history(user))


def one_transaction(path, user='ann'):
    here = Opened(path)
    here.tracks.goals.add_trackers(user, trackers(), now_ts=T0,
                                   backfill=True)
    here.tm.commit()
    result = outcome(here.tracks, user)
    here.close()
    return result


def test_batches_give_what_one_transaction_gives(tmp_path):
    one, batched = str(tmp_path / 'one.fs'), str(tmp_path / 'batched.fs')
    fill(one)
    fill(batched)
    want = one_transaction(one)
    here = Opened(batched)
    goals = here.tracks.goals
    jobs = [goals.start_backfill('ann', tracker, now_ts=T0, batch_size=13)
            for tracker in trackers()]
    here.tm.commit()
    assert all(isinstance(job, BackfillJob) and verifyObject(IBackfillJob, job)
               for job in jobs)
    assert jobs[0].total > 13 and jobs[0].batches == -(-jobs[0].total // 13)
    # Added, and fed nothing yet.
    assert [t.progress for t in goals.get_trackers('ann')] == [0, 0, 0]
    steps = 0
    while goals.backfill_jobs():
        for job in goals.backfill_jobs():
            goals.continue_backfill(job.group_id, job.name)
            steps += 1
        here.tm.commit()
    assert steps >= jobs[0].batches
    assert outcome(here.tracks) == want
    done = goals.backfill_jobs(include_finished=True)
    assert [job.finished for job in done] == [True, True, True]
    assert done[0].done == done[0].total
    assert goals.continue_backfill('ann', 'quizzes') == 0
    here.close()


def test_an_interrupted_backfill_resumes_without_counting_twice(tmp_path):
    one, batched = str(tmp_path / 'one.fs'), str(tmp_path / 'batched.fs')
    fill(one)
    fill(batched)
    want = one_transaction(one)
    here = Opened(batched)
    for tracker in trackers():
        here.tracks.goals.start_backfill('ann', tracker, now_ts=T0,
                                         batch_size=10)
    here.tm.commit()
    for _ in range(3):
        here.tracks.goals.continue_backfill('ann', 'quizzes')
        here.tm.commit()
    # A batch that never commits: a crash in the middle of it.
    here.tracks.goals.continue_backfill('ann', 'quizzes')
    here.tracks.goals.continue_backfill('ann', 'points')
    here.tm.abort()
    here.close()
    here = Opened(batched)              # another process, later
    goals = here.tracks.goals
    job = {j.name: j for j in goals.backfill_jobs()}['quizzes']
    assert (job.next_batch, job.done) == (3, 30)
    while goals.backfill_jobs():
        for job in goals.backfill_jobs():
            goals.continue_backfill(job.group_id, job.name)
        here.tm.commit()
    got = outcome(here.tracks)
    assert got == want
    causes = [(r.tracker, r.kind, r.stage, r.track_id) for r in got[1]]
    assert len(causes) == len(set(causes))          # nothing twice
    here.close()


def test_tracks_saved_meanwhile_count_once(tmp_path):
    path = str(tmp_path / 'tracking.fs')
    fill(path)
    here = Opened(path)
    stored = len(list(here.tracks.queryRecords(userName='ann')))
    job = here.tracks.goals.start_backfill(
        'ann', CountTracker('all', [], 10 ** 6), batch_size=50)
    here.tm.commit()
    assert job.total == stored
    here.tracks.goals.continue_backfill('ann', 'all')
    here.tm.commit()
    for n in range(7):                  # counted as they are saved
        here.tracks.saveUserTrack('quiz-1', 0, 'ann', {},
                                  timeStamp=T0 + n)
    here.tm.commit()
    while here.tracks.goals.continue_backfill('ann', 'all'):
        here.tm.commit()
    here.tm.commit()
    [tracker] = here.tracks.goals.get_trackers('ann')
    assert tracker.progress == stored + 7
    here.close()


def test_start_checks_before_writing(tmp_path):
    path = str(tmp_path / 'tracking.fs')
    fill(path, count=50)
    here = Opened(path)
    goals = here.tracks.goals
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match='batch_size'):
            goals.start_backfill('ann', CountTracker('x', [], 5),
                                 batch_size=bad)
    goals.start_backfill('ann', CountTracker('x', [], 10 ** 6),
                         batch_size=5)
    here.tm.commit()
    with pytest.raises(ConflictingNameError):
        goals.start_backfill('ann', CountTracker('x', [], 5))
    goals.remove_tracker('ann', 'x')
    here.tm.commit()
    with pytest.raises(ValueError, match='unfinished backfill'):
        goals.start_backfill('ann', CountTracker('x', [], 5))
    assert here.conn._registered_objects == []      # nothing written
    with pytest.raises(KeyError):
        goals.continue_backfill('ann', 'nothing')
    # The removed tracker's job finishes at once; then the name is free.
    assert goals.continue_backfill('ann', 'x') == 0
    assert goals.backfill_jobs() == []
    goals.start_backfill('ann', CountTracker('x', [], 5), batch_size=5)
    here.close()


def test_cli_backfill_stops_and_resumes(tmp_path, capsys):
    one, batched = str(tmp_path / 'one.fs'), str(tmp_path / 'batched.fs')
    fill(one)
    fill(batched)
    want = one_transaction(one, user='bob')
    definitions = []
    for n, tracker in enumerate(trackers()):
        path = tmp_path / ('t%d.json' % n)
        path.write_text(json.dumps(tracker_to_json(tracker)))
        definitions.append(str(path))
    for path in definitions:
        assert main(['--db', batched, 'goals', 'backfill', '--group', 'bob',
                     path, '--batch', '9', '--max-batches', '2']) == 0
    out = capsys.readouterr().out
    assert 'stopped' in out and 'batches' in out
    assert main(['--db', batched, 'goals', 'backfill', '--resume',
                 '--max-batches', '3']) == 0
    assert 'stopped' in capsys.readouterr().out
    assert main(['--db', batched, 'goals', 'backfill', '--resume']) == 0
    out = capsys.readouterr().out
    assert out.count('finished') == 3
    assert main(['--db', batched, 'goals', 'backfill', '--resume']) == 0
    assert 'no unfinished backfill' in capsys.readouterr().out
    here = Opened(batched)
    assert outcome(here.tracks, 'bob') == want
    here.close()


def test_cli_backfill_refuses_bad_arguments(tmp_path, capsys):
    path = str(tmp_path / 'tracking.fs')
    fill(path, count=20)
    bad = tmp_path / 'bad.json'
    bad.write_text('{"type": "CountTracker", "name": "x", "target": 3}')
    assert main(['--db', path, 'goals', 'backfill', '--group', 'ann',
                 str(bad)]) == 2
    assert 'conditions' in capsys.readouterr().err
    assert main(['--db', path, 'goals', 'backfill', str(bad)]) == 2
    assert '--group' in capsys.readouterr().err
    assert main(['--db', path, 'goals', 'backfill']) == 2
    here = Opened(path)
    assert here.tracks.goals.get_trackers('ann') == []
    here.close()


def test_tracks_removed_or_moved_before_their_batch(tmp_path):
    path = str(tmp_path / 'tracking.fs')
    fill(path, count=200)
    here = Opened(path)
    tracks = here.tracks
    mine = list(tracks.queryRecords(userName='ann'))
    job = tracks.goals.start_backfill('ann', CountTracker('all', [], 10 ** 6),
                                      batch_size=10)
    here.tm.commit()
    last = mine[-1].trackId
    tracks.removeTrack(tracks[mine[-2].trackId])        # skipped
    tracks[last].timeStamp = T0 - 10 ** 6               # moved far away
    tracks[mine[-3].trackId].userName = 'bob'           # not ann's now
    here.tm.commit()
    while tracks.goals.continue_backfill('ann', 'all'):
        here.tm.commit()
    [tracker] = tracks.goals.get_trackers('ann')
    assert tracker.progress == len(mine) - 2
    assert job.done == job.total == len(mine)
    assert tracks.goals.history('ann') == []
    here.close()


def test_batched_backfill_keeps_the_index_of_due_times(tmp_path):
    # The stored tracks open a calendar period in the tracker a batch
    # feeds: the group becomes due at the period's end, and a tick must
    # find it there (goals/due.py), as after a backfill in one transaction.
    from cybertools_tracking.goals.conditions import KeyExists
    from cybertools_tracking.goals.due import group_due
    from cybertools_tracking.goals.periods import PeriodTracker
    from cybertools_tracking.tracked_goals import binding_of
    path = str(tmp_path / 'due.fs')
    fill(path, count=60)
    here = Opened(path)
    goals = here.tracks.goals
    goals.start_backfill('ann', PeriodTracker(
        'daily', [KeyExists('data.score')], 1), now_ts=T0, batch_size=7)
    here.tm.commit()
    registry = binding_of(here.tracks).registry
    assert registry.due.get('ann') is None        # nothing fed yet
    while goals.backfill_jobs():
        goals.continue_backfill('ann', 'daily')
        here.tm.commit()
    due = group_due(registry.groups.get('ann'))
    assert due is not None and due > T0
    assert registry.due.get('ann') == due
    here.close()


@pytest.mark.parametrize('size', [1, 4, 7, 50, 1000])
def test_rebatch_cuts_what_is_left_and_gives_the_same(tmp_path, size):
    one, batched = str(tmp_path / 'one.fs'), str(tmp_path / 'batched.fs')
    fill(one)
    fill(batched)
    want = one_transaction(one)
    here = Opened(batched)
    goals = here.tracks.goals
    for tracker in trackers():
        goals.start_backfill('ann', tracker, now_ts=T0, batch_size=10)
    here.tm.commit()
    for _ in range(2):
        goals.continue_backfill('ann', 'quizzes')
        here.tm.commit()
    jobs = {job.name: job for job in goals.backfill_jobs()}
    before = {name: [num for n in range(job.next_batch, job.batches)
                     for num in job.batch_ids(n)]
              for name, job in jobs.items()}
    for name, job in jobs.items():
        left = job.rebatch(size)
        assert left == -(-len(before[name]) // size)
        assert job.batches == job.next_batch + left
        assert job.batch_size == size
        # The same tracks, in the same order, none more, in parts of size.
        parts = [job.batch_ids(n) for n in range(job.next_batch,
                                                  job.batches)]
        assert [num for part in parts for num in part] == before[name]
        assert all(len(part) == size for part in parts[:-1])
    assert (jobs['quizzes'].next_batch, jobs['quizzes'].done) == (2, 20)
    here.tm.commit()
    while goals.backfill_jobs():
        for job in goals.backfill_jobs():
            goals.continue_backfill(job.group_id, job.name)
        here.tm.commit()
    assert outcome(here.tracks) == want
    job = goals.backfill_jobs(include_finished=True)[0]
    assert job.finished and job.done == job.total
    assert job.rebatch(5) == 0 and job.batch_size == size     # as it was
    with pytest.raises(ValueError, match='batch_size must be an int'):
        jobs['points'].rebatch(0)
    here.close()


def test_a_group_named_with_a_star_is_that_name_not_a_prefix(tmp_path):
    # A query reads 'an*' as a prefix (ann's tracks); a group of that name
    # is the name itself, and no track is saved under it.
    path = str(tmp_path / 'star.fs')
    fill(path, count=50)
    db = open_db(path)
    try:
        conn = db.open()
        storage = get_storage(conn, create=False)
        assert storage.query(userName='an*')
        goals = storage.goals
        assert goals.add_tracker('an*', CountTracker('n', [], 1000),
                                 backfill=True) == 0
        job = goals.start_backfill('an*', CountTracker('m', [], 1000),
                                   batch_size=7)
        assert job.total == 0
        assert goals.continue_backfill('an*', 'm') == 0
        # ann's own group is fed ann's tracks.
        assert goals.add_tracker('ann', CountTracker('n', [], 1000),
                                 backfill=True) \
            == len(storage.query(userName='ann'))
        transaction.abort()
        conn.close()
    finally:
        db.close()

"""A task template's backfill in batches (``backfills.TaskBackfillJob``):
one job for the task, each track fed to its user's copy; resumable, each
track counted once, the same result as ``add_task_goal(...,
backfill=True)`` in one transaction."""

import pytest
from zope.interface.verify import verifyObject

from cybertools_tracking.backfills import TaskBackfillJob
from cybertools_tracking.goals import CountTracker, KeyExists
from cybertools_tracking.interfaces import ITaskBackfillJob
from cybertools_tracking.tracked_goals import task_group

from tests.test_goal_backfill_batches import (T0, USERS, Opened, fill,
                                              trackers)

TASK = 'quiz-1'


def outcome(tracks, task=TASK):
    """Per user: their copies (name, progress, stage, laps, state) and
    the history of their task group (outcomes of one time in the order
    of their trackers: the templates' jobs take turns)."""
    result = {}
    for user in USERS:
        group = task_group(task, user)
        result[user] = (
            [(t.name, t.progress, t.current_stage, t.laps, t.state)
             for t in tracks.goals.get_trackers(group,
                                                include_completed=True)],
            sorted(tracks.goals.history(group),
                   key=lambda r: (r.time, r.tracker, r.kind, r.stage)))
    return result


def one_transaction(path):
    here = Opened(path)
    for tracker in trackers():
        here.tracks.goals.add_task_goal(TASK, tracker, backfill=True)
    here.tm.commit()
    result = outcome(here.tracks)
    here.close()
    return result


def run_out(here):
    goals = here.tracks.goals
    steps = 0
    while goals.task_backfill_jobs():
        for job in goals.task_backfill_jobs():
            goals.continue_task_backfill(job.taskId, job.name)
            steps += 1
        here.tm.commit()
    return steps


def test_batches_give_what_one_transaction_gives(tmp_path):
    one, batched = str(tmp_path / 'one.fs'), str(tmp_path / 'batched.fs')
    fill(one)
    fill(batched)
    want = one_transaction(one)
    assert any(progress for progress in
               [t[1] for copies, _ in want.values() for t in copies])
    here = Opened(batched)
    goals = here.tracks.goals
    jobs = [goals.start_task_backfill(TASK, tracker, batch_size=7)
            for tracker in trackers()]
    here.tm.commit()
    assert all(isinstance(job, TaskBackfillJob)
               and verifyObject(ITaskBackfillJob, job) for job in jobs)
    stored = len(list(here.tracks.queryRecords(taskId=TASK)))
    assert jobs[0].total == stored > 7
    assert jobs[0].batches == -(-stored // 7)
    assert sorted(jobs[0].copies) == sorted(USERS)
    # Batches go by user, then id: one batch at most holds both users'
    # tracks, so each copy is rewritten by few batches.
    users = [jobs[0].batch_users(n) for n in range(jobs[0].batches)]
    assert users[0] == ('ann',) and users[-1] == ('bob',)
    assert sum(len(names) > 1 for names in users) <= 1
    # Every user has a copy, live, fed nothing yet.
    for user in USERS:
        assert [t.progress for t in goals.user_task_goals(TASK, user)] \
            == [0, 0, 0]
    assert goals.backfill_jobs() == []           # group jobs are apart
    steps = run_out(here)
    assert steps >= jobs[0].batches
    assert outcome(here.tracks) == want
    done = goals.task_backfill_jobs(include_finished=True)
    assert [job.finished for job in done] == [True, True, True]
    assert done[0].done == done[0].total and done[0].copies is None
    assert goals.continue_task_backfill(TASK, 'quizzes') == 0
    here.close()


def test_an_interrupted_backfill_resumes_without_counting_twice(tmp_path):
    one, batched = str(tmp_path / 'one.fs'), str(tmp_path / 'batched.fs')
    fill(one)
    fill(batched)
    want = one_transaction(one)
    here = Opened(batched)
    for tracker in trackers():
        here.tracks.goals.start_task_backfill(TASK, tracker, batch_size=5)
    here.tm.commit()
    for _ in range(3):
        here.tracks.goals.continue_task_backfill(TASK, 'quizzes')
        here.tm.commit()
    # A batch that never commits: a crash in the middle of it.
    here.tracks.goals.continue_task_backfill(TASK, 'quizzes')
    here.tracks.goals.continue_task_backfill(TASK, 'points')
    here.tm.abort()
    here.close()
    here = Opened(batched)              # another process, later
    job = {j.name: j for j in here.tracks.goals.task_backfill_jobs()}[
        'quizzes']
    assert (job.next_batch, job.done) == (3, 15)
    run_out(here)
    got = outcome(here.tracks)
    assert got == want
    for copies, history in got.values():
        causes = [(r.tracker, r.kind, r.stage, r.track_id) for r in history]
        assert len(causes) == len(set(causes))      # nothing twice
    here.close()


def test_tracks_saved_meanwhile_count_once_and_new_users_live(tmp_path):
    path = str(tmp_path / 'tracking.fs')
    fill(path)
    here = Opened(path)
    tracks = here.tracks
    stored = len(list(tracks.queryRecords(taskId=TASK, userName='ann')))
    job = tracks.goals.start_task_backfill(
        TASK, CountTracker('all', [], 10 ** 6), batch_size=20)
    here.tm.commit()
    tracks.goals.continue_task_backfill(TASK, 'all')
    here.tm.commit()
    for n in range(7):                  # counted as they are saved
        tracks.saveUserTrack(TASK, 0, 'ann', {}, timeStamp=T0 + n)
    tracks.saveUserTrack(TASK, 0, 'cleo', {}, timeStamp=T0)   # new user
    here.tm.commit()
    assert 'cleo' not in job.copies
    run_out(here)
    progress = {user: tracks.goals.user_task_goals(TASK, user)[0].progress
                for user in ('ann', 'cleo')}
    assert progress == {'ann': stored + 7, 'cleo': 1}
    here.close()


def test_start_checks_before_writing(tmp_path):
    path = str(tmp_path / 'tracking.fs')
    fill(path, count=50)
    here = Opened(path)
    goals = here.tracks.goals
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match='batch_size'):
            goals.start_task_backfill(TASK, CountTracker('x', [], 5),
                                      batch_size=bad)
    with pytest.raises(TypeError, match='taskId'):
        goals.start_task_backfill(1, CountTracker('x', [], 5))
    with pytest.raises(ValueError, match="'data.page'"):
        goals.start_task_backfill(TASK, CountTracker(
            'x', [KeyExists('page')], 5))
    assert here.conn._registered_objects == []      # nothing written
    goals.start_task_backfill(TASK, CountTracker('x', [], 10 ** 6),
                              batch_size=5)
    here.tm.commit()
    with pytest.raises(ValueError, match='has a goal template'):
        goals.start_task_backfill(TASK, CountTracker('x', [], 5))
    goals.remove_task_goal(TASK, 'x')
    here.tm.commit()
    with pytest.raises(ValueError, match='unfinished backfill'):
        goals.start_task_backfill(TASK, CountTracker('x', [], 5))
    assert here.conn._registered_objects == []      # nothing written
    with pytest.raises(KeyError):
        goals.continue_task_backfill(TASK, 'nothing')
    here.close()


def test_tracks_removed_or_moved_before_their_batch(tmp_path):
    path = str(tmp_path / 'tracking.fs')
    fill(path, count=200)
    here = Opened(path)
    tracks = here.tracks
    mine = list(tracks.queryRecords(taskId=TASK, userName='ann'))
    bobs = len(list(tracks.queryRecords(taskId=TASK, userName='bob')))
    job = tracks.goals.start_task_backfill(
        TASK, CountTracker('all', [], 10 ** 6), batch_size=10)
    here.tm.commit()
    tracks.removeTrack(tracks[mine[-2].trackId])        # skipped
    tracks[mine[-1].trackId].timeStamp = T0 - 10 ** 6   # moved far away
    tracks[mine[-3].trackId].userName = 'bob'           # bob's now
    here.tm.commit()
    run_out(here)
    # A track is read as it is when its batch runs: fed to the copy of
    # the user it has then.
    progress = {user: tracks.goals.user_task_goals(TASK, user)[0].progress
                for user in USERS}
    assert progress == {'ann': len(mine) - 2, 'bob': bobs + 1}
    assert job.done == job.total
    here.close()


@pytest.mark.parametrize('size', [1, 9, 1000])
def test_rebatch_keeps_each_batch_with_its_users(tmp_path, size):
    one, batched = str(tmp_path / 'one.fs'), str(tmp_path / 'batched.fs')
    fill(one)
    fill(batched)
    want = one_transaction(one)
    here = Opened(batched)
    goals = here.tracks.goals
    for tracker in trackers():
        goals.start_task_backfill(TASK, tracker, batch_size=20)
    here.tm.commit()
    job = goals.task_backfill_jobs()[0]
    goals.continue_task_backfill(TASK, job.name)
    here.tm.commit()
    before = [num for n in range(job.next_batch, job.batches)
              for num in job.batch_ids(n)]
    users = set(user for n in range(job.next_batch, job.batches)
                for user in job.batch_users(n))
    job.rebatch(size)
    assert [num for n in range(job.next_batch, job.batches)
            for num in job.batch_ids(n)] == before
    assert users == set(user for n in range(job.next_batch, job.batches)
                        for user in job.batch_users(n))
    for n in range(job.next_batch, job.batches):     # where a batch reads
        assert {here.tracks.get('%07i' % num).userName
                for num in job.batch_ids(n)} <= set(job.batch_users(n))
    here.tm.commit()
    run_out(here)
    assert outcome(here.tracks) == want
    here.close()

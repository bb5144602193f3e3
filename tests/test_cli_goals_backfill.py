"""``goals backfill`` on the command line: a second run with the tracker
already there, composites, and its summary's wording; library errors come
out as one line with an exit code, never as a traceback."""

import json

import pytest

from tests.test_cli import jsonl, write
from tests.test_cli_import import cli

TRACKER = {'type': 'CountTracker', 'name': 'intro-pages', 'target': 500,
           'conditions': [{'type': 'KeyExists', 'key': 'data.page'}]}


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / 'tracking.fs')
    records = [{'taskId': 'python/intro', 'userName': 'alice',
                'data': {'page': n}, 'timeStamp': 1_705_400_000 + n}
               for n in range(50)]
    assert cli('--db', path, 'import',
               write(tmp_path, jsonl(*records)))[0] == 0
    return path


def backfill(db, tmp_path, tracker=TRACKER, *options):
    return cli('--db', db, 'goals', 'backfill', '--group', 'alice',
               *options, write(tmp_path, json.dumps(tracker), 'points.json'))


def test_a_second_backfill_of_an_unfinished_one_says_resume(db, tmp_path):
    code, out, err = backfill(db, tmp_path, TRACKER, '--batch', '20',
                              '--max-batches', '1')
    assert code == 0
    assert 'stopped' in out and '20 of 50 tracks read' in out
    code, out, err = backfill(db, tmp_path, TRACKER, '--batch', '20',
                              '--max-batches', '1')
    assert code == 2 and out == ''
    assert err.count('\n') == 1 and 'Traceback' not in err
    assert "group 'alice' already has a tracker named 'intro-pages'" in err
    assert '"goals backfill --resume --group alice"' in err
    # Nothing was changed: the resumed job goes on from 20.
    code, out, err = cli('--db', db, 'goals', 'backfill', '--resume')
    assert code == 0 and 'finished' in out
    assert '50 of 50 tracks read' in out
    assert 'progress=50)' in out     # data.page: every track counted


def test_a_second_backfill_of_a_finished_one_says_another_name(db,
                                                               tmp_path):
    assert backfill(db, tmp_path)[0] == 0
    code, out, err = backfill(db, tmp_path)
    assert code == 2 and 'Traceback' not in err
    assert "already has a tracker named 'intro-pages'" in err
    assert 'another "name"' in err and '--resume' not in err


def test_one_batch_is_singular(db, tmp_path):
    code, out, err = backfill(db, tmp_path)
    assert code == 0
    assert out.splitlines()[0] == ("added 'intro-pages' to 'alice': 50 "
                                   "stored tracks to feed it in 1 batch")
    code, out, err = cli('--db', db, 'goals', 'backfill', '--group', 'alice',
                         '--batch', '20', write(tmp_path, json.dumps(
                             dict(TRACKER, name='other')), 'o.json'))
    assert out.splitlines()[0].endswith('in 3 batches')


@pytest.mark.parametrize('target', [{}, {'target': None}, {'target': 1}])
def test_a_composite_is_refused_with_the_reason(db, tmp_path, target):
    assert backfill(db, tmp_path)[0] == 0
    composite = dict({'type': 'CompositeTracker', 'name': 'all',
                      'components': [{'group_id': 'alice',
                                      'name': 'intro-pages'}]}, **target)
    code, out, err = backfill(db, tmp_path, composite)
    assert code == 2 and 'Traceback' not in err
    assert 'a CompositeTracker is not backfilled' in err
    assert 'backfill each component' in err
    assert 'missing field' not in err and 'resolve(' not in err


def test_a_bad_group_is_one_line(db, tmp_path):
    code, out, err = cli('--db', db, 'goals', 'backfill', '--group', '',
                         write(tmp_path, json.dumps(TRACKER), 'p.json'))
    assert code == 2 and 'Traceback' not in err and err.count('\n') == 1


# An unknown group is said, not refused, as by "goals tick --group"
# (groups_without_trackers): named, with the close names.

def test_a_group_with_no_goals_and_no_tracks_is_said_with_close_names(
        db, tmp_path):
    code, out, err = cli('--db', db, 'goals', 'backfill', '--group', 'alise',
                         write(tmp_path, json.dumps(TRACKER), 'p.json'))
    assert code == 0
    assert err.splitlines() == [
        "cybertools-tracking: goals backfill: group 'alise' has no goals "
        "and no stored tracks (the tracker was added all the same, for "
        "tracks to come: misspelt?); did you mean 'alice'?; to take it "
        "back: \"goals remove --group alise intro-pages\""]
    assert out.splitlines()[0] == ("added 'intro-pages' to 'alise': 0 "
                                   "stored tracks to feed it in 0 batches")
    # What the warning says takes it back; the group is empty again.
    code, out, err = cli('--db', db, 'goals', 'remove', '--group', 'alise',
                         'intro-pages')
    assert (code, out, err) == (0, "removed 'intro-pages' from 'alise'\n",
                                '')
    code, out, err = cli('--db', db, 'goals', 'remove', '--group', 'alise',
                         'intro-pages')
    assert code == 2 and out == '' and err == (
        "cybertools-tracking: group 'alise' has no tracker named "
        "'intro-pages'; did you mean 'alice'?\n")
    code, out, err = cli('--db', db, 'goals', 'backfill', '--group', 'alise',
                         write(tmp_path, json.dumps(TRACKER), 'p.json'))
    assert code == 0 and "group 'alise' has no goals" in err
    # Now it has a goal: a second tracker there is not said again.
    code, out, err = cli('--db', db, 'goals', 'backfill', '--group', 'alise',
                         write(tmp_path, json.dumps(dict(TRACKER, name='b')),
                               'b.json'))
    assert code == 0 and err == ''


def test_a_user_with_tracks_and_no_goals_yet_is_not_said(db, tmp_path):
    code, out, err = backfill(db, tmp_path)
    assert code == 0 and 'finished' in out
    assert 'no goals' not in err and 'did you mean' not in err


def test_a_far_name_gets_no_guess(db, tmp_path):
    code, out, err = cli('--db', db, 'goals', 'backfill', '--group', 'zq',
                         write(tmp_path, json.dumps(TRACKER), 'p.json'))
    assert code == 0 and "group 'zq' has no goals" in err
    assert 'did you mean' not in err


def test_resume_of_an_unknown_group_is_said(db, tmp_path):
    assert backfill(db, tmp_path, TRACKER, '--batch', '20',
                    '--max-batches', '1')[0] == 0
    code, out, err = cli('--db', db, 'goals', 'backfill', '--resume',
                         '--group', 'Alice')
    assert (code, out) == (2, '')      # not "nothing left": a typo
    assert err.splitlines() == [
        "cybertools-tracking: goals backfill --resume: group 'Alice' has no "
        "goals, so no backfill to resume (misspelt?); did you mean "
        "'alice'?"]
    # alice's job was left alone, and goes on when named right.
    code, out, err = cli('--db', db, 'goals', 'backfill', '--resume',
                         '--group', 'alice')
    assert code == 0 and '50 of 50 tracks read' in out
    assert 'no goals' not in err     # only the progress is on stderr
    # A group with goals and nothing to resume: no warning.
    code, out, err = cli('--db', db, 'goals', 'backfill', '--resume',
                         '--group', 'alice')
    assert (code, out, err) == (0, "no unfinished backfill of group "
                                   "'alice'\n", '')


def test_goals_tick_suggests_close_names_too(db, tmp_path):
    assert backfill(db, tmp_path)[0] == 0
    code, out, err = cli('--db', db, 'goals', 'tick', '--group', 'alicee')
    assert code == 0
    assert err.splitlines() == [
        "cybertools-tracking: goals tick: group 'alicee' has no goals "
        "(passed over: misspelt, or its last goal went); did you mean "
        "'alice'?"]


# A task's template, in batches (TaskBackfillJob).

@pytest.fixture
def task_db(tmp_path):
    path = str(tmp_path / 'tasks.fs')
    records = [{'taskId': 'python/intro', 'userName': user,
                'data': {'page': n}, 'timeStamp': 1_705_400_000 + n}
               for n in range(30) for user in ('alice', 'bob')]
    assert cli('--db', path, 'import',
               write(tmp_path, jsonl(*records)))[0] == 0
    return path


def task_backfill(db, tmp_path, task, *options):
    return cli('--db', db, 'goals', 'backfill', '--task', task, *options,
               write(tmp_path, json.dumps(TRACKER), 'points.json'))


def test_a_task_template_backfills_in_batches_and_resumes(task_db, tmp_path):
    code, out, err = task_backfill(task_db, tmp_path, 'python/intro',
                                   '--batch', '25', '--max-batches', '1')
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ("added template 'intro-pages' to task "
                        "'python/intro' (2 copies): 60 stored tracks to "
                        "feed them in 3 batches")
    assert lines[1] == ("stopped template 'intro-pages' of task "
                        "'python/intro': 25 of 60 tracks read, 25 "
                        "evaluated by the copies of 2 users")
    # Only the group's jobs: the task's is not among them.
    code, out, err = cli('--db', task_db, 'goals', 'backfill', '--resume',
                         '--group', 'alice')
    assert code == 0 and out == "no unfinished backfill of group 'alice'\n"
    code, out, err = cli('--db', task_db, 'goals', 'backfill', '--resume')
    assert code == 0
    assert out == ("finished template 'intro-pages' of task "
                   "'python/intro': 60 of 60 tracks read, 60 evaluated by "
                   "the copies of 2 users\n")
    from cybertools_tracking.db import get_storage, open_db
    from cybertools_tracking.tracked_goals import task_group
    db = open_db(task_db)
    try:
        conn = db.open()
        goals = get_storage(conn, create=False).goals
        assert [t.progress for user in ('alice', 'bob') for t in
                goals.get_trackers(task_group('python/intro', user))] \
            == [30, 30]
        conn.close()
    finally:
        db.close()


def test_task_and_group_are_one_or_the_other(task_db, tmp_path):
    code, out, err = cli('--db', task_db, 'goals', 'backfill', '--task',
                         'python/intro', '--group', 'alice',
                         write(tmp_path, json.dumps(TRACKER), 'p.json'))
    assert code == 2 and 'one of them' in err and out == ''


def test_an_unknown_task_is_said_with_close_names(task_db, tmp_path):
    code, out, err = task_backfill(task_db, tmp_path, 'python/intr')
    assert code == 0
    assert err.splitlines()[0] == (
        "cybertools-tracking: goals backfill: task 'python/intr' has no "
        "stored tracks (the template was added all the same, for tracks to "
        "come: misspelt?); did you mean 'python/intro'?")
    assert out.splitlines()[0].startswith(
        "added template 'intro-pages' to task 'python/intr' (0 copies): "
        "0 stored tracks")


# A tracker the group completed: a second backfill of that name would read
# the same tracks and complete it again (history, listeners: twice).

def test_a_completed_tracker_is_not_backfilled_again_by_mistake(db,
                                                                tmp_path):
    done = dict(TRACKER, target=10)
    code, out, err = backfill(db, tmp_path, done)
    assert code == 0 and 'finished' in out and 'completed' in out
    code, out, err = backfill(db, tmp_path, done)
    assert code == 2 and out == '' and err.count('\n') == 1
    assert "group 'alice' completed 'intro-pages' at " in err
    assert 'with track 0000010' in err
    assert '(goals history --group alice --tracker intro-pages)' in err
    assert 'another "name"' in err and '--again' in err
    completions = ('--db', db, 'goals', 'history', '--group', 'alice',
                   '--kind', 'completed', '--format', 'json')
    assert len(json.loads(cli(*completions)[1])) == 1     # nothing written
    # Another name, or --again: on purpose.
    assert backfill(db, tmp_path, dict(done, name='again'))[0] == 0
    code, out, err = backfill(db, tmp_path, done, '--again')
    assert code == 0 and 'finished' in out
    history = json.loads(cli(*completions)[1])
    assert sorted(r['tracker'] for r in history) == [
        'again', 'intro-pages', 'intro-pages']
    # --again means nothing elsewhere: said, not ignored.
    code, out, err = cli('--db', db, 'goals', 'backfill', '--resume',
                         '--again')
    assert code == 2 and out == '' and '--again goes with --group' in err


def test_remove_names_the_close_trackers(db, tmp_path):
    assert backfill(db, tmp_path)[0] == 0
    code, out, err = cli('--db', db, 'goals', 'remove', '--group', 'alice',
                         'intro-page')
    assert code == 2 and out == ''
    assert err.endswith("has no tracker named 'intro-page'; did you mean "
                        "'intro-pages'?\n")
    # A misspelt group (no trackers at all): the close groups.
    code, out, err = cli('--db', db, 'goals', 'remove', '--group', 'alcie',
                         'intro-pages')
    assert code == 2 and err.endswith(
        "group 'alcie' has no tracker named 'intro-pages'; did you mean "
        "'alice'?\n")
    code, out, err = cli('--db', db, 'goals', 'remove', '--group', 'alice',
                         'intro-pages')
    assert code == 0 and out == "removed 'intro-pages' from 'alice'\n"


def test_a_template_with_an_unfinished_backfill_says_resume(task_db,
                                                            tmp_path):
    code, out, err = task_backfill(task_db, tmp_path, 'python/intro',
                                   '--batch', '25', '--max-batches', '1')
    assert code == 0 and 'stopped' in out
    code, out, err = task_backfill(task_db, tmp_path, 'python/intro')
    assert code == 2 and out == '' and err.count('\n') == 1
    assert err == ("cybertools-tracking: task 'python/intro' has a goal "
                   "template 'intro-pages' already; its backfill is "
                   "unfinished: \"goals backfill --resume --task "
                   "python/intro\" goes on with it\n")
    # Finished: the refusal gives no such advice.
    assert cli('--db', task_db, 'goals', 'backfill', '--resume')[0] == 0
    code, out, err = task_backfill(task_db, tmp_path, 'python/intro')
    assert code == 2 and 'already' in err and '--resume' not in err


def test_resume_with_batch_cuts_the_batches_left_again(db, tmp_path):
    code, out, err = backfill(db, tmp_path, TRACKER, '--batch', '20',
                              '--max-batches', '1')
    assert code == 0 and '20 of 50 tracks read' in out
    code, out, err = cli('--db', db, 'goals', 'backfill', '--resume',
                         '--batch', '7', '--max-batches', '1')
    assert code == 0
    assert out.splitlines() == [
        "'intro-pages' of 'alice': 5 batches left, of at most 7 "
        "tracks (were 20)",
        "stopped 'intro-pages' of 'alice': 27 of 50 tracks read, 27 "
        "evaluated; tracker <CountTracker 'intro-pages' (target=500 "
        "progress=27)>"]
    # Without --batch, as they are now; the same size again says nothing.
    code, out, err = cli('--db', db, 'goals', 'backfill', '--resume',
                         '--max-batches', '1')
    assert code == 0 and out.startswith("stopped") and '34 of 50' in out
    code, out, err = cli('--db', db, 'goals', 'backfill', '--resume',
                         '--batch', '7')
    assert code == 0 and out.startswith('finished')
    assert '50 of 50 tracks read' in out and 'progress=50)' in out


def test_resume_with_batch_cuts_a_template_job_too(task_db, tmp_path):
    assert task_backfill(task_db, tmp_path, 'python/intro', '--batch', '25',
                         '--max-batches', '1')[0] == 0
    code, out, err = cli('--db', task_db, 'goals', 'backfill', '--resume',
                         '--task', 'python/intro', '--batch', '100')
    assert code == 0
    assert out.splitlines() == [
        "template 'intro-pages' of task 'python/intro': 1 batch left, of at most "
        "100 tracks (were 25)",
        "finished template 'intro-pages' of task 'python/intro': 60 of 60 "
        "tracks read, 60 evaluated by the copies of 2 users"]

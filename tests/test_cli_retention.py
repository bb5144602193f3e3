"""prune, forget-user and pack: what goes, what stays, and the sizes."""

import os
import re
from unittest import mock

import pytest

from cybertools_tracking import storage as storage_module
from cybertools_tracking.validation import check_name

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import CountTracker
from cybertools_tracking.tracked_goals import task_group

from tests.test_cli_import import cli

T0 = 1_700_000_000          # 2023-11-14T22:13:20Z


@pytest.fixture
def run():
    return cli


def fill(path):
    """Tracks of three users in two tasks over 10 days, goals of a user
    group and a task template."""
    database = open_db(path)
    with database.transaction() as connection:
        storage = get_storage(connection)
        storage.goals.add_tracker('ann', CountTracker(name='all',
                                                      conditions=[],
                                                      target=1000))
        storage.goals.add_task_goal('b', CountTracker(name='b',
                                                      conditions=[],
                                                      target=1000))
        # 'x*' is a name stored before names with * were refused
        # (validation.check_new_name), as a database of an earlier
        # version holds it: forget-user takes it as a name, not a prefix.
        with mock.patch.object(storage_module, 'check_new_name',
                               check_name):
            for day in range(10):
                for user in ('ann', 'x*', 'xy'):
                    for task in ('a', 'b'):
                        storage.saveUserTrack(task, 0, user, {'day': day},
                                              timeStamp=T0 + day * 86400)
    database.close()


def look(path):
    database = open_db(path)
    try:
        with database.transaction() as connection:
            storage = get_storage(connection, create=False)
            assert check_storage(storage) == []
            goals = storage.goals
            return {
                'tracks': sorted((t.taskId, t.userName, t.data['day'])
                                 for t in storage.values()),
                'runs': [(r.id, r.taskId, r.start, r.end)
                         for r in storage.getRuns()],
                'current': storage.getCurrentRuns(),
                'goals': {group: [(t.name, t.progress) for t in
                                  goals.get_trackers(group,
                                                     include_completed=True)]
                          for group in ('ann', 'xy', task_group('b', 'ann'),
                                        task_group('b', 'xy'),
                                        task_group('b', 'x*'))},
            }
    finally:
        database.close()


def test_prune_removes_old_tracks_only_and_keeps_goals_and_runs(run,
                                                                 tmp_path):
    db = str(tmp_path / 'p.fs')
    fill(db)
    before = look(db)
    assert before['goals']['ann'] == [('all', 20)]
    code, out, err = run('--db', db, 'prune', '--before', T0 + 3 * 86400,
                         '--task', 'b', '--dry-run')
    assert code == 0 and out.startswith('would remove 9 of 60 tracks')
    assert look(db) == before
    code, out, err = run('--db', db, 'prune', '--before', T0 + 3 * 86400,
                         '--task', 'b', '--batch', '4')
    assert (code, err) == (0, '')
    assert out.startswith('removed 9 tracks before %d of b, 51 tracks left;'
                          % (T0 + 3 * 86400))
    assert 'goal progress is not changed' in out
    after = look(db)
    assert after['tracks'] == [t for t in before['tracks']
                               if not (t[0] == 'b' and t[2] < 3)]
    assert (after['runs'], after['current'], after['goals']) == (
        before['runs'], before['current'], before['goals'])
    # All tasks; a date.
    code, out, err = run('--db', db, 'prune', '--before', '2100-01-01')
    assert code == 0 and out.startswith('removed 51 tracks before 2100-01-01')
    assert look(db)['runs'] == before['runs']


def test_forget_user_removes_tracks_and_goals_of_that_user_only(run,
                                                                 tmp_path):
    db = str(tmp_path / 'f.fs')
    fill(db)
    before = look(db)
    code, out, err = run('--db', db, 'forget-user', 'x*', '--dry-run')
    assert out == ("would remove 20 tracks of 'x*', 1 goal group with 1 "
                   "tracker (progress), 0 history records, 0 "
                   "leaderboard entries and 1 outbox event\n")
    assert look(db) == before
    code, out, err = run('--db', db, 'forget-user', 'x*')
    assert (code, err) == (0, '')
    assert out.startswith("removed 20 tracks of 'x*' and 1 goal group with "
                          "1 tracker ")
    after = look(db)
    assert after['tracks'] == [t for t in before['tracks'] if t[1] != 'x*']
    assert after['goals'] == dict(before['goals'],
                                  **{task_group('b', 'x*'): []})
    assert after['goals'][task_group('b', 'xy')] == [('b', 10)]
    code, out, err = run('--db', db, 'forget-user', 'ann')
    assert "removed 20 tracks of 'ann' and 2 goal groups with 2" in out
    assert look(db)['goals']['ann'] == []


def test_pack_makes_the_file_smaller_and_says_by_how_much(run, tmp_path):
    db = str(tmp_path / 'k.fs')
    fill(db)
    assert run('--db', db, 'prune', '--before', '2100-01-01')[0] == 0
    grown = os.path.getsize(db)
    code, out, err = run('--db', db, 'pack')
    assert (code, err) == (0, '')
    found = re.search(r'\((\d+) and (\d+) bytes\)', out)
    assert int(found.group(1)) == grown
    # What stays is mostly fixed (a goal registry's empty shards, the
    # storage's sharded maps): smaller, not by a set share.
    assert int(found.group(2)) == os.path.getsize(db) < grown
    assert os.path.exists(db + '.old')
    assert ('the file as it was is kept as %s.old (%s' % (db, '')) in out
    code, out, err = run('--db', 'memory://', 'pack')
    assert code == 1 and 'nothing to pack' in err


def test_pack_names_only_the_files_there_are(run, tmp_path):
    """A pack that drops nothing writes no .old file and keeps the one of
    the pack before (FileStorage would delete it): the message says what
    is on disk."""
    db = str(tmp_path / 'k.fs')
    fill(db)
    assert run('--db', db, 'prune', '--before', '2100-01-01')[0] == 0
    code, out, err = run('--db', db, 'pack')
    assert os.path.exists(db + '.old') and '%s.old' % db in out
    backup = open(db + '.old', 'rb').read()
    code, out, err = run('--db', db, 'pack')
    assert code == 0 and open(db + '.old', 'rb').read() == backup
    assert out.endswith('; nothing to drop, the file was left as it was; '
                        'the backup of an earlier pack is still kept as '
                        '%s.old\n' % db)
    assert not os.path.exists(db + '.old.aside')
    os.remove(db + '.old')
    code, out, err = run('--db', db, 'pack', '--days', '3')
    assert not os.path.exists(db + '.old')
    assert out.endswith('; nothing to drop older than 3 days, the file was '
                        'left as it was\n')


def test_forget_user_of_an_unknown_name_suggests_close_ones(run, tmp_path):
    db = str(tmp_path / 'f.fs')
    fill(db)
    before, size = look(db), os.path.getsize(db)
    code, out, err = run('--db', db, 'forget-user', 'Ann')
    assert (code, out) == (1, '')
    assert err == ("cybertools-tracking: no user 'Ann' in the storage: no "
                   "tracks and no goals of that name (3 user names stored); "
                   "nothing was changed; did you mean 'ann'?\n")
    code, out, err = run('--db', db, 'forget-user', 'xyz', '--dry-run')
    assert code == 1 and "did you mean 'xy'?" in err
    code, out, err = run('--db', db, 'forget-user', 'zzzzzz')
    assert code == 1 and err.endswith("nothing was changed; names are "
                                      "matched exactly, as stored\n")
    assert look(db) == before and os.path.getsize(db) == size
    # A user with goals and no tracks is known.
    database = open_db(db)
    with database.transaction() as connection:
        get_storage(connection).goals.add_tracker(
            'goals-only', CountTracker(name='g', conditions=[], target=3))
    database.close()
    code, out, err = run('--db', db, 'forget-user', 'goals-only')
    assert code == 0 and 'removed 0 tracks' in out


def test_forget_user_suggests_goal_groups_too(run, tmp_path):
    db = str(tmp_path / 'g.fs')
    database = open_db(db)
    with database.transaction() as connection:
        storage = get_storage(connection)
        storage.goals.add_tracker('ann', CountTracker(name='g', conditions=[],
                                                      target=3))
        storage.goals.add_task_goal('t', CountTracker(name='t', conditions=[],
                                                      target=3))
        storage.saveUserTrack('t', 0, 'hannah', {})
        storage.saveUserTrack('t', 0, 'bert', {})
    database.close()
    code, out, err = run('--db', db, 'forget-user', 'annn')
    assert code == 1 and "did you mean 'ann' or 'hannah'?" in err
    # a task group counts as its user's name, not as '["t", "bert"]'
    code, out, err = run('--db', db, 'forget-user', 'berta')
    assert code == 1 and "did you mean 'bert'?" in err
    assert '(3 user names stored)' in err


def test_bad_dates_are_usage_errors(run, tmp_path):
    db = str(tmp_path / 'b.fs')
    fill(db)
    code, out, err = run('--db', db, 'prune', '--before', 'soon')
    assert code == 2 and '--before' in err
    code, out, err = run('--db', db, 'prune')
    assert code == 2

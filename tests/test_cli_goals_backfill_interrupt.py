"""``goals backfill`` stopped by Ctrl-C (a real SIGINT to a real
process): the one line of how far it got and how to go on, exit code 130,
whether the signal came during a batch or during a commit's fsync; the
resumed job then counts every track exactly once.  Group and template
backfills, started and resumed."""

import json
import re
import signal
import subprocess
import sys

import pytest

from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.tracked_goals import task_group
from tests.test_cli import jsonl, write
from tests.test_cli_import import cli

TRACKS = 5_000
TRACKER = {'type': 'CountTracker', 'name': 'pages', 'target': 10 ** 9,
           'conditions': [{'type': 'KeyExists', 'key': 'data.page'}]}


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / 'big.fs')
    records = [{'taskId': 'quiz', 'userName': 'alice', 'data': {'page': n},
                'timeStamp': 1_705_400_000 + n} for n in range(TRACKS)]
    assert cli('--db', path, 'import',
               write(tmp_path, jsonl(*records)))[0] == 0
    return path


def interrupted(db, *argv):
    """Run ``goals backfill *argv`` (one track a batch: mostly commits),
    send SIGINT once a batch was committed; (exit code, stdout, stderr)."""
    process = subprocess.Popen(
        [sys.executable, '-m', 'cybertools_tracking', '--db', db, 'goals',
         'backfill', '--batch', '1', *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()    # the first progress line
        assert 'tracks' in line, line
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, out, line + err


def progress(db, group):
    database = open_db(db)
    try:
        with database.transaction() as connection:
            goals = get_storage(connection, create=False).goals
            return [t.progress for t in
                    goals.get_trackers(group, include_completed=True)]
    finally:
        database.close()


STOPPED = (r'cybertools-tracking: interrupted after (\d+) of %d tracks; '
           r'"(goals backfill --resume[^"]*)" goes on from there\n' % TRACKS)


@pytest.mark.parametrize('kind, key, group', [
    ('group', 'alice', 'alice'),
    ('task', 'quiz', task_group('quiz', 'alice'))])
def test_ctrl_c_says_how_far_and_resumes_exactly(db, tmp_path, kind, key,
                                                 group):
    tracker = write(tmp_path, json.dumps(TRACKER), 'pages.json')
    code, out, err = interrupted(db, '--' + kind, key, tracker)
    assert code == 130, err
    assert 'Traceback' not in err and 'closed' not in err, err
    stopped = re.search(STOPPED, err)
    assert stopped and err.endswith(stopped.group(0)), err
    done, resume = int(stopped.group(1)), stopped.group(2)
    assert resume == 'goals backfill --resume --%s %s' % (kind, key)
    assert 0 < done < TRACKS
    # What it said is what was committed: the tracker counted as many.
    assert progress(db, group) == [done]
    # Stopped again, resumed (--resume names its own choice of jobs).
    code, out, err = interrupted(db, '--resume')
    assert code == 130, err
    again = re.search(STOPPED, err)
    assert again and again.group(2) == 'goals backfill --resume', err
    assert done < int(again.group(1)) < TRACKS
    assert progress(db, group) == [int(again.group(1))]
    # And to the end: every track counted once.
    # (in batches of 1000 from here on: --resume --batch cuts them again)
    code, out, err = cli('--db', db, 'goals', 'backfill',
                         *resume.split()[2:], '--batch', '1000')
    assert code == 0, err
    assert 'left, of at most 1000 tracks (were 1)' in out
    assert progress(db, group) == [TRACKS]

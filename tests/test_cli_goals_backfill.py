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

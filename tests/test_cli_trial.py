"""What a new user's first hour with the command line ran into: a failed
import that blocked its retry, query output that could not be imported,
hand-written CSV, the stored --track-events setting, pack's backup,
prune's and a resumed import's summaries, query and runs criteria."""

import json
import os

import pytest

from cybertools_tracking.db import get_storage, open_db

from tests.test_cli import jsonl, tracks_in, write
from tests.test_cli_import import cli, progress_of


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / 'tracking.fs')


def tracks(count, runId=None, task='python/intro'):
    return jsonl(*(dict({'taskId': task, 'userName': 'u%d' % (n % 3),
                         'data': {'n': n}, 'timeStamp': 1_705_400_000 + n},
                        **({} if runId is None else {'runId': runId}))
                   for n in range(count)))


# 1. a failed import does not block the corrected retry

def test_a_failed_import_repeats_an_error_a_few_times_only(db, tmp_path):
    path = write(tmp_path, tracks(50, runId=7))
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1
    assert 'imported 0 tracks, skipped 50 lines' in out
    lines = err.splitlines()
    assert len(lines) == 4, err
    assert all('runId 7: there is no such run' in line for line in lines)
    assert 'line 1:' in lines[0] and 'line 3:' in lines[2]
    assert '... and 47 more lines with the same error' in lines[3]


def test_errors_that_differ_only_in_numbers_are_one_kind(db, tmp_path):
    path = write(tmp_path, ''.join(tracks(2, runId=run) for run in
                                   (1, 2, 3, 4)))
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and 'skipped 8 lines' in out
    lines = err.splitlines()
    assert len(lines) == 4, err
    assert lines[3].endswith('... and 5 more lines with the same error (but '
                             'for its numbers): runId 1: there is no such '
                             'run' + lines[3].split('no such run', 1)[1])


def test_an_import_that_stored_nothing_can_be_retried(db, tmp_path):
    path = write(tmp_path, tracks(5, runId=1))
    assert cli('--db', db, 'import', path)[0] == 1
    assert tracks_in(db) == []
    assert progress_of(db, path)[2] == 0           # 0 tracks recorded
    # The runs come in, then the same file is imported: not refused.
    database = open_db(db)
    with database.transaction() as connection:
        assert get_storage(connection, 'tracking').startRun('python/intro') \
            == 1
    database.close()
    code, out, err = cli('--db', db, 'import', path)
    assert (code, err) == (0, '')
    assert out.startswith('imported 5 tracks, skipped 0 lines')
    assert len(tracks_in(db)) == 5
    # Now it stored tracks: a third import is refused.
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and 'already, completely' in err
    assert len(tracks_in(db)) == 5


def test_an_import_that_made_runs_only_is_still_refused(db, tmp_path):
    run = {'kind': 'run', 'id': 1, 'taskId': 't', 'start': 1_705_400_000,
           'end': 1_705_400_000, 'finished': False, 'current': True}
    path = write(tmp_path, jsonl(run))
    assert cli('--db', db, 'import', path)[0] == 0
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and 'already, completely' in err


# 2. query output into another database

def test_query_jsonl_into_a_new_database_says_to_use_export(db, tmp_path):
    path = write(tmp_path, tracks(3))
    assert cli('--db', db, 'import', path)[0] == 0
    code, out, err = cli('--db', db, 'query', '--format', 'jsonl')
    q = write(tmp_path, out, 'q.jsonl')
    other = str(tmp_path / 'other.fs')
    code, out, err = cli('--db', other, 'import', q)
    assert code == 1
    assert 'there is no such run' in err
    assert '"export"' in err and 'runId' in err
    # Without runId the tracks go into the task's current run.
    plain = [{k: v for k, v in json.loads(line).items() if k != 'runId'}
             for line in open(q)]
    code, out, err = cli('--db', other, 'import',
                         write(tmp_path, jsonl(*plain), 'plain.jsonl'))
    assert (code, err) == (0, '')
    assert len(tracks_in(other)) == 3


def test_query_json_output_is_read_back(db, tmp_path):
    path = write(tmp_path, tracks(3))
    assert cli('--db', db, 'import', path)[0] == 0
    code, out, err = cli('--db', db, 'query', '--format', 'json')
    assert out.startswith('[\n  {')
    array = write(tmp_path, out, 'q.json')
    other = str(tmp_path / 'other.fs')
    # Read as an array; its tracks name run 1, which other.fs lacks.
    code, out, err = cli('--db', other, 'import', array)
    assert code == 1 and out.startswith('imported 0 tracks, skipped 3')
    assert 'q.json line 2: runId 1: there is no such run' in err
    assert '"export"' in err
    # In the layout query writes, without runId: imported.
    lines = ['  ' + json.dumps({k: v for k, v in record.items()
                                if k != 'runId'})
             for record in json.loads(open(array).read())]
    array = write(tmp_path, '[\n' + ',\n'.join(lines) + '\n]\n', 'p.json')
    code, out, err = cli('--db', other, 'import', array)
    assert (code, err) == (0, '')
    assert out.startswith('imported 3 tracks')
    assert sorted(data['n'] for *_, data in tracks_in(other)) == [0, 1, 2]


def test_a_json_array_of_another_layout_is_refused_clearly(db, tmp_path):
    path = write(tmp_path, '[1, 2]\n', 'q.json')
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1
    assert 'q.json line 1: a JSON array is read with one element a line' \
        in err and 'jq -c' in err
    records = [json.loads(line) for line in tracks(2).splitlines()]
    path = write(tmp_path, json.dumps(records, indent=1), 'pretty.json')
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1
    assert 'pretty.json line 2: invalid JSON' in err and 'jq -c' in err
    assert tracks_in(db) == []


# 3. hand-written CSV

@pytest.mark.parametrize('sep', [',', ';', '\t'])
def test_a_hand_written_csv_table_is_read(db, tmp_path, sep):
    rows = ['userName%sdata%staskId' % (sep, sep),
            'ann%s"{""score"": 3}"%squiz' % (sep, sep),
            'bob%s{}%squiz' % (sep, sep)]
    path = write(tmp_path, '\n'.join(rows) + '\n', 'min.csv')
    code, out, err = cli('--db', db, 'import', path)
    assert (code, err) == (0, '')
    assert out.startswith('imported 2 tracks')
    assert [(t[0], t[2], t[4]) for t in tracks_in(db)] == [
        ('quiz', 'ann', {'score': 3}), ('quiz', 'bob', {})]


def test_a_csv_table_with_optional_columns(db, tmp_path):
    path = write(tmp_path, 'taskId,userName,timeStamp,eventId,data\n'
                 'quiz,ann,2024-01-16T10:00:00Z,e1,"{""a"": [1,2]}"\n', 'opt.txt')
    code, out, err = cli('--db', db, 'import', path)
    assert (code, err) == (0, '')
    assert tracks_in(db)[0][3] == 1705399200


def test_a_csv_file_with_a_wrong_header_is_refused(db, tmp_path):
    path = write(tmp_path, 'task,user,data\nquiz,ann,1\n', 'bad.csv')
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1
    assert "bad.csv line 1: a CSV header" in err
    assert "unknown fields 'task', 'user'; no fields 'taskId', " \
        "'userName'" in err
    assert 'optionally runId, timeStamp, eventId' in err
    path = write(tmp_path, 'taskId,userName,data\nquiz,ann,hello\n',
                 'words.csv')
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and 'line 2: data: invalid JSON' in err
    assert tracks_in(db) == []


def test_import_help_names_csv():
    code, out, err = cli('import', '--help')
    assert code == 0
    text = ' '.join(out.split())
    assert 'CSV' in text and 'taskId,userName,data' in text


# 4. --track-events can be turned off

def track_events_on(db):
    database = open_db(db)
    try:
        with database.transaction() as connection:
            storage = get_storage(connection, 'tracking')
            return storage.events in storage.trackObservers()
    finally:
        database.close()


def test_track_events_is_a_stored_setting_turned_on_and_off(db, tmp_path):
    assert cli('--db', db, 'events', '--track-events', 'on') == (
        0, 'track events: on (new tracks of every writer become events)\n',
        '')
    assert track_events_on(db)
    path = write(tmp_path, tracks(2))
    assert cli('--db', db, 'import', path)[0] == 0
    code, out, err = cli('--db', db, 'events')
    assert len(out.splitlines()) == 2
    code, out, err = cli('--db', db, 'events', '--track-events', 'off')
    assert code == 0 and 'off' in out
    assert not track_events_on(db)
    assert cli('--db', db, 'import', write(tmp_path, tracks(2), 'b.jsonl')
               )[0] == 0
    assert len(cli('--db', db, 'events')[1].splitlines()) == 2
    assert cli('--db', db, 'events', '--track-events', 'off')[0] == 0
    assert 'track events: off' in cli('--db', db, 'stats')[1]


def test_serve_no_track_events_turns_it_off(db, monkeypatch):
    pytest.importorskip('fastapi')
    from cybertools_tracking.web import server
    cli('--db', db, 'events', '--track-events', 'on')
    called = {}
    monkeypatch.setattr(server, 'serve',
                        lambda uri, **kw: called.update(kw))
    assert cli('--db', db, 'serve', '--no-track-events')[0] == 0
    assert called['track_events'] is False
    assert not track_events_on(db)


# 5. pack keeps the backup it talks about

def test_a_pack_with_nothing_to_drop_keeps_the_backup(db, tmp_path):
    cli('--db', db, 'import', write(tmp_path, tracks(20)))
    code, out, err = cli('--db', db, 'pack')
    assert code == 0 and 'kept as %s.old' % db in out
    backup = open(db + '.old', 'rb').read()
    code, out, err = cli('--db', db, 'pack')
    assert code == 0 and 'nothing to drop' in out
    assert open(db + '.old', 'rb').read() == backup
    assert 'still kept' in out


# 6. summaries that say what happened

def test_prune_suggests_pack_only_after_removing(db, tmp_path):
    cli('--db', db, 'import', write(tmp_path, tracks(3)))
    code, out, err = cli('--db', db, 'prune', '--before', '1970-01-02')
    assert code == 0 and out.startswith('removed 0 tracks')
    assert 'pack' not in out
    code, out, err = cli('--db', db, 'prune', '--before', '2030-01-01')
    assert 'removed 3 tracks' in out and 'Run "pack"' in out


def test_a_resumed_import_says_this_runs_count_and_the_total(
        db, tmp_path, monkeypatch):
    from tests.test_cli_import import ctrl_c_at
    path = write(tmp_path, tracks(10))
    with monkeypatch.context() as patch:
        ctrl_c_at(patch, 7)
        code, out, err = cli('--db', db, 'import', path, '--batch', '3')
    assert out.startswith('imported 6 tracks')
    code, out, err = cli('--db', db, 'import', '--resume', path)
    assert code == 0
    assert out.startswith('imported 4 tracks (10 in all), skipped 0 lines'), \
        out


# 7. criteria

@pytest.fixture
def filled(db, tmp_path):
    cli('--db', db, 'import', write(tmp_path, tracks(3) + tracks(
        2, task='stats/means')))
    return db


def test_a_reversed_time_range_is_refused(filled):
    code, out, err = cli('--db', filled, 'query', '--from', '2024-01-17',
                         '--to', '2024-01-16')
    assert code == 2 and out == ''
    assert '--from 2024-01-17' in err and 'after --to' in err
    assert cli('--db', filled, 'query', '--from', '2024-01-16',
               '--to', '2024-01-16', '--count')[1] == '5\n'


@pytest.mark.parametrize('pattern', ['*a', 'a*b', '**'])
def test_only_a_trailing_star_is_a_prefix(filled, pattern):
    code, out, err = cli('--db', filled, 'query', '--user', pattern)
    assert code == 2
    assert repr(pattern) in err and 'trailing *' in err
    code, out, err = cli('--db', filled, 'runs', '--task', pattern)
    assert code == 2 and 'trailing *' in err
    code, out, err = cli('--db', filled, 'prune', '--before', '2030-01-01',
                         '--task', pattern)
    assert code == 2 and 'trailing *' in err
    assert len(tracks_in(filled)) == 5


def test_runs_takes_a_task_prefix(filled):
    code, out, err = cli('--db', filled, 'runs', '--task', 'python/*',
                         '--format', 'json')
    assert code == 0
    assert [run['taskId'] for run in json.loads(out)] == ['python/intro']
    code, out, err = cli('--db', filled, 'runs', '--task', '*',
                         '--format', 'json')
    assert len(json.loads(out)) == 2


def test_export_refuses_bad_criteria_rather_than_export_everything(
        filled, tmp_path):
    out = str(tmp_path / 'x.jsonl')
    code, _, err = cli('--db', filled, 'export', '--user', '*0', '-o', out)
    assert code == 2 and 'trailing *' in err
    assert not os.path.exists(out)
    code, _, err = cli('--db', filled, 'export', '--from', '2024-01-17',
                       '--to', '2024-01-16', '-o', out)
    assert code == 2 and not os.path.exists(out)


# 5. a table of runs, and a partly failed import fixed under its name

RUNS_CSV = ('id,taskId,start,end,finished,current\n'
            '1,quiz,1705400000,1705400100,true,false\n'
            '2,intro,1705400000,1705400200,false,true\n')


def runs_in(db):
    database = open_db(db)
    try:
        with database.transaction() as connection:
            return len(get_storage(connection, 'tracking').getRuns())
    finally:
        database.close()


def test_a_table_of_runs_says_it_imported_runs(db, tmp_path):
    path = write(tmp_path, RUNS_CSV, 'r.csv')
    code, out, err = cli('--db', db, 'import', path)
    assert (code, out, err) == (
        0, 'imported 0 tracks and 2 runs, skipped 0 lines\n', '')
    assert runs_in(db) == 2
    # Runs are made anew, not matched by id: a second import is refused,
    # speaking of runs, not of tracks.
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and runs_in(db) == 2
    assert '(3 lines: 0 tracks, 2 runs, 0 lines skipped)' in err
    assert 'stores its 2 runs twice (runs are made anew, not matched by ' \
        'id)' in err
    assert 'track' not in err.split('skipped)')[1]
    assert cli('--db', db, 'import', path, '--again')[0] == 0
    assert runs_in(db) == 4


def test_a_partly_failed_import_fixed_under_its_name(db, tmp_path):
    good = {'taskId': 't', 'userName': 'u', 'data': {'a': 1}}
    path = write(tmp_path, jsonl(good, dict(good, data={'a': 2}, runId=9)),
                 'part.jsonl')
    assert cli('--db', db, 'import', path)[0] == 1
    assert len(tracks_in(db)) == 1
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and 'changed since' not in err
    assert 'stores its 1 track twice' in err
    assert 'To finish it, fix the 1 line it skipped and import it alone' \
        in err and '--rejects FILE' in err
    # The file fixed in place: said to have changed.
    write(tmp_path, jsonl(good, dict(good, data={'a': 2})), 'part.jsonl')
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and len(tracks_in(db)) == 1
    assert 'It changed since (it had ' in err
    # Same size, other bytes.
    write(tmp_path, jsonl(good, dict(good, data={'a': 2}, runId=8)),
          'part.jsonl')
    code, out, err = cli('--db', db, 'import', path)
    assert 'It changed since (its first' in err


def test_again_stores_lines_with_event_ids_once(db, tmp_path):
    line = {'taskId': 't', 'userName': 'u', 'data': {}, 'eventId': 'e1'}
    path = write(tmp_path, jsonl(line, dict(line, eventId=None)))
    assert cli('--db', db, 'import', path)[0] == 0
    code, out, err = cli('--db', db, 'import', path)
    assert 'stores its 2 tracks twice (but a line with an eventId is ' \
        'stored once)' in err
    assert cli('--db', db, 'import', path, '--again')[0] == 0
    assert len(tracks_in(db)) == 3


# 6. a * inside a value: the prefix suggested is the part before it

@pytest.mark.parametrize('value, suggested', [
    ('l*s', "('l*')"), ('python/in*ro*', "('python/in*')"), ('*a', None)])
def test_a_star_inside_suggests_the_part_before_it(db, tmp_path, value,
                                                   suggested):
    assert cli('--db', db, 'import', write(tmp_path, tracks(1)))[0] == 0
    code, out, err = cli('--db', db, 'query', '--task', value)
    assert code == 2
    assert 'only a trailing * makes a prefix' in err
    if suggested is None:
        assert 'prefix;' in err and '(' not in err
    else:
        assert 'prefix %s;' % suggested in err

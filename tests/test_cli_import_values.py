"""import: values a line may not have (validate, then write), runs tables
with bad rows, and an event id's conflict shown as JSON.

A refused line stores nothing and is named with its reason; the lines
around it are imported. The summary line and exit codes are tested in
test_cli_import.py.
"""

import json

import pytest

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db

from tests.test_cli import jsonl, tracks_in, write
from tests.test_cli_import import cli


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / 'tracking.fs')


def reasons(err):
    """{line number: reason} of the refusals in ``err``."""
    found = {}
    for text in err.splitlines():
        where, reason = text.split(': ', 2)[1:]
        found[int(where.rsplit(' ', 1)[1])] = reason
    return found


def stored_runs(db):
    """[(id, taskId, start, end, finished)] and the current runs."""
    database = open_db(db)
    try:
        with database.transaction() as connection:
            storage = get_storage(connection)
            assert check_storage(storage) == []
            return ([(r.id, r.taskId, r.start, r.end, r.finished)
                     for r in storage.getRuns()], storage.getCurrentRuns())
    finally:
        database.close()


def test_a_runs_table_refuses_bad_rows_and_keeps_the_good_ones(db,
                                                                 tmp_path):
    table = write(tmp_path, 'id,taskId,start,end,finished,current\n'
                  '1,a,100,200,false,true\n'
                  '2,b,300,100,false,true\n'        # ends before it starts
                  '3,,1,2,false,true\n'             # current of no task
                  '1,c,5,6,false,false\n'           # id 1 again
                  '4,,7,8,true,false\n',            # of no task: fine
                  'runs.csv')
    code, out, err = cli('--db', db, 'import', table)
    found = reasons(err)
    assert sorted(found) == [3, 4, 5]
    assert found[3] == ('end 100 is before start 300 (seconds): a run ends '
                        'at or after its start')
    assert found[4].startswith('a run of no task (taskId null, or an empty '
                               'cell in CSV) cannot be current')
    assert found[5].startswith('run id 1 is the id of an earlier run of '
                               'this file (line 2, stored as run 1)')
    assert stored_runs(db) == ([(1, 'a', 100, 200, False),
                                (2, None, 7, 8, True)], {'a': 1})
    # The numbering note names the runs stored, not the refused ones.
    assert '4 is now 2' in out and '1 is now' not in out


def test_a_json_export_with_bad_runs_refuses_them_and_their_tracks(
        db, tmp_path):
    def run(id, task, start, end, current=False):
        return {'kind': 'run', 'id': id, 'taskId': task, 'start': start,
                'end': end, 'finished': False, 'current': current}

    def track(runId, n):
        return {'taskId': 'b' if runId == 2 else 'a', 'userName': 'u',
                'data': {'n': n}, 'runId': runId, 'timeStamp': 150}
    path = write(tmp_path, jsonl(
        run(1, 'a', 100, 200, True), run(2, 'b', 300, 100, True),
        run(3, '', 1, 2), run(4, 'a', 1.5, 2), run(1, 'a', 5, 6),
        track(1, 1), track(2, 2), track(3, 3), track(4, 4),
        run(2, 'b', 100, 300), track(2, 5), run(0, 'a', 1, 2)))
    code, out, err = cli('--db', db, 'import', path)
    found = reasons(err)
    assert found[2].startswith('end 100 is before start 300')
    assert found[3].startswith('taskId: "" names no task; a run of no task '
                               'has taskId null')
    assert found[4].startswith('start: expected whole seconds, got 1.5')
    assert found[5].startswith('run id 1 is the id of an earlier run')
    # A track of a refused run is refused, not put into whatever run of
    # the storage has that number; a later good run of that id is used.
    for line, run_line in ((7, 2), (8, 3), (9, 4)):
        assert found[line] == (
            'runId %d names the run of line %d of this file, which was '
            'refused; fix that line and import both again'
            % (line - 5, run_line))
    assert found[12] == ("id 0 names no run (a track's runId 0 means its "
                         "task's current run): run ids start at 1")
    assert sorted(found) == [2, 3, 4, 5, 7, 8, 9, 12]
    assert [data['n'] for *_, data in tracks_in(db)] == [1, 5]
    runs, current = stored_runs(db)
    assert [(r[1], r[2], r[3]) for r in runs] == [('a', 100, 200),
                                                   ('b', 100, 300)]


@pytest.mark.parametrize('record, words', [
    ({'taskId': 't*'}, "taskId must not contain *, got 't*': a query reads "
                       "a trailing * as a prefix ('t*' finds every task "
                       "starting with 't')"),
    ({'taskId': ''}, "taskId must not be empty"),
    ({'userName': 'a\x00b'}, 'userName must not contain control characters '
                             'or line breaks (U+0000 to U+001F, U+007F to '
                             "U+009F, U+2028, U+2029), got 'a\\x00b' "
                             '(U+0000 at position 1)'),
    ({'userName': ''}, 'userName must not be empty'),
    ({'timeStamp': 1.5}, 'timeStamp: expected whole seconds, got 1.5; the '
                         'storage keeps whole seconds (round it yourself: '
                         '1 or 2)'),
    ({'timeStamp': '2024-01-01T00:00:00.250Z'},
     "timeStamp: '2024-01-01T00:00:00.250Z' has a fraction of a second"),
    ({'data': {'x': 1e400}}, 'invalid JSON: the number 1e400 is too large '
                             'for a float (at most about 1.8e308; write '
                             '{"$float": "inf"} for an infinity)'),
    ({'data': {'x': [-1e400]}}, 'write {"$float": "-inf"}'),
])
def test_values_import_refuses(db, tmp_path, record, words):
    line = dict({'taskId': 't', 'userName': 'u', 'data': {}}, **record)
    text = json.dumps(line)
    if 'x' in line['data']:        # json.dumps writes inf as Infinity
        text = text.replace('Infinity', '1e400')
    good = {'taskId': 't', 'userName': 'u', 'data': {'ok': 1}}
    code, out, err = cli('--db', db, 'import',
                         write(tmp_path, jsonl(text, good)))
    assert list(reasons(err)) == [1]
    assert words in reasons(err)[1]
    assert [data for *_, data in tracks_in(db)] == [{'ok': 1}]


def test_whole_values_in_other_spellings_are_taken(db, tmp_path):
    path = write(tmp_path, jsonl(
        {'taskId': 't', 'userName': 'u', 'data': {'x': 1e300, 'y': 2.5},
         'timeStamp': 1_700_000_000.0},
        {'taskId': 't', 'userName': 'u', 'data': {'z': {'$float': 'inf'}},
         'timeStamp': '2024-01-01T00:00:00.000Z'}))
    code, out, err = cli('--db', db, 'import', path)
    assert err == ''
    stored = tracks_in(db)
    assert [t[3] for t in stored] == [1_700_000_000, 1704067200]
    assert type(stored[0][3]) is int
    assert stored[0][4] == {'x': 1e300, 'y': 2.5}
    assert stored[1][4] == {'z': float('inf')}


def test_a_csv_table_refuses_empty_names_as_json_refuses_missing_ones(
        db, tmp_path):
    table = write(tmp_path, 'taskId,userName,data\n'
                  't,,{}\n,u,{}\nt,u,"{""a"": 1e999}"\nt,u,{}\n',
                  'tracks.csv')
    code, out, err = cli('--db', db, 'import', table)
    found = reasons(err)
    assert found[2].startswith('userName must not be empty')
    assert found[3].startswith('taskId must not be empty')
    assert found[4].startswith('data: invalid JSON: the number 1e999 is too '
                               'large for a float')
    assert len(tracks_in(db)) == 1


def test_an_event_id_conflict_shows_json_as_http_does(db, tmp_path):
    from cybertools_tracking.eventids import EventIdConflictError
    from cybertools_tracking.web.units import conflict_message
    path = write(tmp_path, jsonl(
        {'taskId': 't', 'userName': 'u', 'data': {'x': 1, 'ok': True},
         'eventId': 'e"1', 'timeStamp': 5},
        {'taskId': 't', 'userName': 'u', 'data': {'x': 2, 'ok': None,
                                                   'b': {'$bytes': 'AA=='}},
         'eventId': 'e"1', 'timeStamp': 7}))
    code, out, err = cli('--db', db, 'import', path)
    reason = reasons(err)[2]
    assert reason == (
        'eventId "e\\"1" names track 0000001 already, with other content: '
        'data {"x": 1, "ok": true}, now {"x": 2, "ok": null, "b": '
        '{"$bytes": "AA=="}}; timeStamp 5, now 7; an event id stands for '
        'one content (xAPI)')
    # The wording HTTP gives the same conflict (its values as JSON too).
    database = open_db(db)
    with database.transaction() as connection:
        storage = get_storage(connection)
        with pytest.raises(EventIdConflictError) as info:
            storage.saveUserTrack('t', 0, 'u', {'x': 2, 'ok': None},
                                  timeStamp=7, eventId='e"1')
    database.close()
    assert conflict_message(info.value) == (
        'eventId "e\\"1" names track 0000001 already, with other content: '
        'data {"x": 1, "ok": true}, now {"x": 2, "ok": null}; timeStamp 5, '
        'now 7; an event id stands for one content (xAPI)')

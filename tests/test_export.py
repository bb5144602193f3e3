"""export -> import on an empty database gives the same tracks, runs, id
order, users, tasks, extra index values and query answers: on the demo's
data and on hostile data. And the output is strict JSON."""

import datetime
import decimal
import fractions
import json
import math
import subprocess
import sys

import pytest

from cybertools_tracking.check import check_storage
from cybertools_tracking.cli import main
from cybertools_tracking.jsoncodec import dumps, loads
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.eventids import _canonical
from cybertools_tracking.storage import TrackingStorage
from cybertools_tracking.track import Track
from cybertools_tracking.validation import TIMESTAMP_MAX, TIMESTAMP_MIN


class Visit(Track):
    """Two extra indexes, one of numbers, one of strings."""
    index_attributes = Track.index_attributes + ('level', 'page')
    typeName = 'Visit'


UTC = datetime.timezone.utc
HOSTILE_DATA = [
    {'nan': float('nan'), 'inf': float('inf'), 'ninf': float('-inf'),
     'zero': -0.0, 'big': 2 ** 100, 'small': -2 ** 70, 'tiny': 5e-324},
    {'dec': decimal.Decimal('1.10'), 'decnan': decimal.Decimal('NaN'),
     'decinf': decimal.Decimal('-Infinity'), 'frac': fractions.Fraction(1, 3)},
    {'bytes': b'\x00\xff"\\', 'empty': b'',
     'aware': datetime.datetime(2024, 1, 1, 12, tzinfo=UTC),
     'naive': datetime.datetime(1, 1, 1), 'date': datetime.date(9999, 12, 31),
     'time': datetime.time(1, 2, 3, 4), 'td': datetime.timedelta(-1, 5, 7)},
    {'tuple': (1, (2, [3]), ()), 'list': [[], {}, [{}]],
     'keys': {1: 'int', 1.5: 'float', None: 'none', 'x': 'str'},
     '$float': 'not a tag', 'a$': {'$bytes': 'AA=='}},
    {'text': 'é\u2028\x00\n"\t\\ \U0001f600', '': '', ' ': None,
     'deep': [[[[[[[[[[{'d': 1}]]]]]]]]]]},
    {'level': 2 ** 63 - 1, 'page': '\u2028*'},
    {'level': -0.5, 'page': ''},
    {'level': 1e308, 'page': 'x*', 'nan': float('nan')},
    {},
]
# Names a save refuses ('', ' ', '*', 'x*', control characters and line
# breaks: see validation.check_new_name) are left out; they stay in data
# and queries.
HOSTILE_NAMES = [' a', '%', 'x?', 'a b', 'b\u00a0', '"quoted"', 'ä' * 300,
                 '\\', '{"taskId": 1}', '$map']


def fill_hostile(storage):
    """Tracks of hostile names, times and data; runs stopped, finished,
    without task, and empty."""
    storage.startRun(None)                       # a run of no task
    for n, data in enumerate(HOSTILE_DATA * 3):
        task = HOSTILE_NAMES[n % len(HOSTILE_NAMES)]
        user = HOSTILE_NAMES[(n * 3 + 1) % len(HOSTILE_NAMES)]
        ts = [TIMESTAMP_MIN, TIMESTAMP_MAX, 0, -1, 1_700_000_000][n % 5]
        eventId = None if n % 4 else 'ev\u2028%d"' % n
        storage.saveUserTrack(task, 0, user, data, timeStamp=ts,
                              eventId=eventId)
        if n % 7 == 3:
            storage.stopRun(task, finish=n % 2 == 0)
    storage.startRun('empty')                    # a run without tracks


def contents(storage):
    """What must survive the round trip, as comparable values."""
    tracks = list(storage.values())
    nums = [int(t.__name__) for t in tracks]
    return {
        'order': sorted(nums) == nums,
        'tracks': [_canonical((t.taskId, t.runId, t.userName, t.timeStamp,
                               dict(t.data), storage.getEventId(t)))
                   for t in tracks],
        'runs': [(r.id, r.taskId, r.start, r.end, r.finished)
                 for r in storage.getRuns()],
        'current': storage.getCurrentRuns(),
        'tasks': storage.getTaskIds(),
        'users': {task: storage.getUserNames(task)
                  for task in storage.getTaskIds()},
        'extras': {name: _canonical(sorted(
            (tracks.index(storage[storage.idFromNum(num)]), value)
            for num, value in field._rev.items()))
            for name, field in storage._fields.items()},
    }


def answers(storage, queries):
    # Criteria on extra indexes the storage has not are refused, not
    # answered (query.plan): such a query answers () here.
    position = {t.__name__: n for n, t in enumerate(storage.values())}
    known = set(storage.indexAttributes) | {'timeFrom', 'timeTo',
                                            'newestFirst', 'limit'}
    return [[position[t.__name__] for t in storage.query(**criteria)]
            if known.issuperset(criteria) else ()
            for criteria in queries]


QUERIES = [
    dict(taskId='*'), dict(userName='s*'), dict(taskId='python/*', runId=6),
    dict(timeFrom=1705395600, timeTo=1705396200),
    dict(taskId='stats/means', newestFirst=True, limit=5),
    dict(taskId=['x*', '']), dict(userName='\u2028'),
    dict(timeFrom=TIMESTAMP_MAX), dict(timeTo=-1), dict(level=2 ** 63 - 1),
    dict(page=['x*', '']), dict(level=-0.5, taskId='*'),
]


def round_trip(tmp_path, name, prepare=None, format='jsonl'):
    """Export the storage ``name`` of source.fs and import it into
    target.fs: as JSON Lines, or as two CSV tables (runs, then tracks)."""
    source = str(tmp_path / 'source.fs')
    exported = str(tmp_path / ('export.' + format))
    target = str(tmp_path / 'target.fs')
    files = [exported]
    if format == 'csv':
        files.insert(0, str(tmp_path / 'runs.csv'))
        assert main(['--db', source, '--storage', name, 'export', '-o',
                     files[0], '--format', 'csv', '--runs']) == 0
    assert main(['--db', source, '--storage', name, 'export', '-o',
                 exported, '--format', format]) == 0
    if prepare is not None:       # a track class is code: made up front
        database = open_db(target)
        with database.transaction() as connection:
            connection.root()[name] = prepare()
        database.close()
    for path in files:
        assert main(['--db', target, '--storage', name, 'import', path,
                     '--batch', '7']) == 0
    found = []
    for path in (source, target):
        database = open_db(path)
        try:
            with database.transaction() as connection:
                storage = get_storage(connection, name, create=False)
                assert check_storage(storage) == []
                found.append((contents(storage), answers(storage, QUERIES)))
        finally:
            database.close()
    return exported, found


def test_the_demo_round_trips(tmp_path, capsys):
    assert main(['--db', str(tmp_path / 'source.fs'), 'demo']) == 0
    exported, (before, after) = round_trip(tmp_path, 'tracking')
    assert before == after
    assert len(before[0]['tracks']) == 2843 and len(before[0]['runs']) == 6
    assert sum(map(len, before[1])) > 2843
    lines = open(exported, encoding='utf-8').read().splitlines()
    assert [json.loads(line).get('kind') for line in lines[:7]] == \
        ['run'] * 6 + [None]


def test_the_demo_round_trips_as_csv_tables(tmp_path, capsys):
    assert main(['--db', str(tmp_path / 'source.fs'), 'demo']) == 0
    exported, (before, after) = round_trip(tmp_path, 'tracking',
                                           format='csv')
    assert before == after
    assert len(before[0]['tracks']) == 2843 and len(before[0]['runs']) == 6


@pytest.mark.parametrize('format', ['jsonl', 'csv'])
def test_hostile_data_round_trips(tmp_path, capsys, monkeypatch, format):
    if format == 'csv':
        # A table of runs writes no task and the task '' alike, as an
        # empty cell (read as no task): names here are not empty.
        monkeypatch.setattr(sys.modules[__name__], 'HOSTILE_NAMES',
                            [name for name in HOSTILE_NAMES if name])
    database = open_db(str(tmp_path / 'source.fs'))
    with database.transaction() as connection:
        connection.root()['visits'] = storage = TrackingStorage(Visit)
        fill_hostile(storage)
    database.close()
    exported, (before, after) = round_trip(
        tmp_path, 'visits', prepare=lambda: TrackingStorage(Visit),
        format=format)
    assert before == after
    assert len(before[0]['tracks']) == 3 * len(HOSTILE_DATA)
    assert before[0]['extras']['level'] != _canonical([])
    if format == 'jsonl':
        # Strict JSON: a parser that knows no NaN reads every line.
        for line in open(exported, encoding='utf-8'):
            json.loads(line, parse_constant=pytest.fail)


def test_the_encoding_of_unusual_values():
    value = {'n': float('nan'), 'i': float('-inf'), 1: (b'\x01',),
             'd': decimal.Decimal('-0.00'), 'when': datetime.date(2024, 1, 2)}
    text = dumps(value)
    assert 'NaN' not in text and 'Infinity' not in text
    assert json.loads(text) == {'$map': [
        ['n', {'$float': 'nan'}], ['i', {'$float': '-inf'}],
        [1, {'$tuple': [{'$bytes': 'AQ=='}]}],
        ['d', {'$decimal': '-0.00'}], ['when', {'$date': '2024-01-02'}]]}
    back = loads(text)
    assert math.isnan(back['n']) and back['i'] == float('-inf')
    assert back[1] == (b'\x01',) and str(back['d']) == '-0.00'
    assert back['when'] == datetime.date(2024, 1, 2)
    with pytest.raises(ValueError, match='NaN is not JSON'):
        loads('{"x": NaN}')
    # The refusal names where the literal stands, and what to write.
    with pytest.raises(ValueError, match=r'^data\.xs\[1\]: -Infinity is '
                       r'not JSON \(write \{"\$float": "-inf"\}\)$'):
        loads('{"data": {"xs": [1, -Infinity]}}')
    with pytest.raises(ValueError, match='^a\\[0\\]: NaN is not JSON'):
        loads('{"a": {"$tuple": [NaN]}}')
    with pytest.raises(ValueError, match='cannot read \\$bytes'):
        loads('{"$bytes": "***"}')
    # A number too large for a float would be read as an infinity.
    for text in ('{"x": 1e400}', '{"$tuple": [-2E+999]}',
                 '[%s.5]' % ('9' * 400)):
        with pytest.raises(ValueError, match='too large for a float'):
            loads(text)
    assert loads('{"x": 1.5e308, "y": 1e-400, "z": "1e400"}') == {
        'x': 1.5e308, 'y': 0.0, 'z': '1e400'}
    assert loads('[%s]' % ('9' * 400)) == [10 ** 400 - 1]


def test_export_with_criteria_csv_and_query_count(tmp_path, capsys):
    db = str(tmp_path / 'demo.fs')
    assert main(['--db', db, 'demo']) == 0
    capsys.readouterr()
    assert main(['--db', db, 'query', '--task', 'python/intro', '--count']) \
        == 0
    assert capsys.readouterr().out == '445\n'
    assert main(['--db', db, 'export', '--task', 'python/intro', '--run',
                 '0']) == 0
    lines = [json.loads(line) for line in
             capsys.readouterr().out.splitlines()]
    runs = [line for line in lines if line.get('kind') == 'run']
    assert [(r['id'], r['current']) for r in runs] == [(6, True)]
    assert len(lines) == 1 + len([1 for line in lines if 'userName' in line])
    assert main(['--db', db, 'query', '--user', 'sam', '--limit', '2',
                 '--format', 'csv']) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == 'id,taskId,runId,userName,timeStamp,eventId,data'
    assert len(rows) == 3 and ',sam,' in rows[1]
    assert rows[1].endswith('"{""page"":4,""score"":75,""duration"":152}"') \
        or '""page""' in rows[1]
    # CSV: one table a file, the tracks, or the runs.
    assert main(['--db', db, 'export', '--format', 'csv', '--user',
                 'sam']) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == 'id,taskId,runId,userName,timeStamp,eventId,data'
    assert len(rows) > 100 and all(',sam,' in row for row in rows[1:])
    assert main(['--db', db, 'export', '--format', 'csv', '--user', 'sam',
                 '--runs']) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == 'id,taskId,start,end,finished,current'
    assert rows[1].startswith('1,stats/regression,') and len(rows) == 7


def test_a_reader_that_goes_away_is_no_error(tmp_path):
    db = str(tmp_path / 'demo.fs')
    assert main(['--db', db, 'demo']) == 0
    for command in ("query --task '*' --format jsonl", 'export'):
        done = subprocess.run(
            '"%s" -m cybertools_tracking --db "%s" %s | head -n 2'
            % (sys.executable, db, command), shell=True,
            capture_output=True, text=True, timeout=60)
        assert len(done.stdout.splitlines()) == 2
        assert done.stderr == '', done.stderr


def test_an_export_with_event_ids_imported_twice_stores_each_track_once(
        tmp_path, capsys):
    source, target = str(tmp_path / 's.fs'), str(tmp_path / 't.fs')
    database = open_db(source)
    with database.transaction() as connection:
        storage = get_storage(connection)
        for n in range(5):
            storage.saveUserTrack('t', 0, 'u', {'n': n}, timeStamp=n,
                                  eventId='e%d' % n)
    database.close()
    exported = str(tmp_path / 'e.jsonl')
    assert main(['--db', source, 'export', '-o', exported]) == 0
    assert main(['--db', target, 'import', exported]) == 0
    assert main(['--db', target, 'import', exported, '--again']) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        'imported 0 tracks and 1 run, skipped 0 lines, 5 lines with event '
        'ids stored before; 1 run marked current did not become current, '
        'as its task has a current run already (t): --replace-current '
        'makes it current')
    database = open_db(target)
    with database.transaction() as connection:
        storage = get_storage(connection)
        assert [t.data['n'] for t in storage.values()] == list(range(5))
        # Its run was made again, without tracks (see cli.txt), and the
        # first stays current.
        assert len(storage.getRuns()) == 2
        assert storage.getCurrentRuns() == {'t': 1}
    database.close()
